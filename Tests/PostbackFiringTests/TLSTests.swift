import Dispatch
import Foundation
import PostbackTestSupport
import Testing

@testable import PostbackFiring

/// Issue 12: partners as they really are, HTTPS and HTTP/2, against nginx on loopback with a
/// throw-away CA (TLSSink): what succeeds, how many connections a burst takes, what each
/// broken TLS setup is called, redirects that would downgrade, the probe's report, resumption.
@Suite("PostbackFiringTests: HTTPS and HTTP/2 against a real TLS server")
struct TLSTests {
    static let enabled = ConditionTrait.enabled(if: TLSSink.testsRun, "needs nginx and openssl (scripts/setup.sh); CI runs it always")

    @Test(enabled) func http2AndHTTP1FiresSucceed() async throws {
        let sink = try TLSSink()
        defer { sink.stop() }
        let engine = FiringEngine(configuration: testConfiguration(caFile: sink.caFile))
        defer { engine.shutdown() }
        for (server, wire) in [(TLSSink.Server.http2, "HTTP/2.0"), (.http1, "HTTP/1.1")] {
            let result = await engine.fire(url: sink.base(server) + "/one?click=1")
            #expect(result.verdict == FireVerdict(.success, "HTTP 204"), "\(server): \(result.errorText)")
            let seen = sink.requests(at: server, atLeast: 1)
            #expect(seen.map(\.uri) == ["/one?click=1"], "\(server)")
            #expect(seen.first?.serverProtocol == wire, "\(server): \(seen)")
            #expect(seen.first?.tlsProtocol.hasPrefix("TLSv1.") == true, "\(server): \(seen)")
        }
    }

    /// perHost 8 is the most connections one host gets: over HTTP/1.1 because eight fires at
    /// once each hold one, over HTTP/2 because they multiplex (PIPEWAIT) instead of opening more.
    @Test(enabled, arguments: [TLSSink.Server.http2, .http1])
    func aBurstToOneHostUsesAtMostPerHostConnections(server: TLSSink.Server) async throws {
        let sink = try TLSSink()
        defer { sink.stop() }
        let engine = FiringEngine(configuration: testConfiguration(maxConcurrent: 16, perHost: 8, caFile: sink.caFile))
        defer { engine.shutdown() }
        let total = 1000
        let started = ContinuousClock.now
        let results = await Self.burst(total, to: sink.base(server) + "/burst", through: engine)
        let elapsed = ContinuousClock.now - started
        let failures = results.filter { $0.verdict.kind != .success }
        #expect(failures.isEmpty, "\(failures.count) failed, e.g. \(failures.first.map { "\($0.verdict)" } ?? "")")

        let seen = sink.requests(at: server, atLeast: total)
        #expect(seen.count == total)
        let connections = Set(seen.map(\.connection))
        #expect(connections.count >= 1 && connections.count <= 8, "\(connections.count) connections for \(total) fires")
        let protocols = Set(seen.map(\.serverProtocol))
        #expect(protocols == [server == .http2 ? "HTTP/2.0" : "HTTP/1.1"], "\(protocols)")
        print("TLS burst \(server): \(total) fires in \(elapsed), \(connections.count) connections, \(protocols.sorted())")
    }

    struct BrokenSetup: Sendable, CustomStringConvertible {
        var what: String
        var server: TLSSink.Server
        enum Trust: Sendable { case systemStore, sinkCA, otherCA }
        /// What the engine trusts: the system store, or a ca_file of one of the sink's CAs.
        var trust: Trust
        var reason: String
        var description: String { what }
    }

    static let notTrusted = "TLS: certificate not trusted (unknown certificate authority) ["
    static let brokenSetups: [BrokenSetup] = [
        BrokenSetup(what: "our CA, unknown to the system store", server: .http2, trust: .systemStore, reason: notTrusted),
        BrokenSetup(what: "a ca_file of another CA", server: .http2, trust: .otherCA, reason: notTrusted),
        BrokenSetup(what: "a certificate from a CA not in ca_file", server: .untrusted, trust: .sinkCA, reason: notTrusted),
        BrokenSetup(what: "a certificate for another name", server: .wrongName, trust: .sinkCA,
                    reason: "TLS: certificate does not match the host name ["),
        BrokenSetup(what: "an expired certificate", server: .expired, trust: .sinkCA,
                    reason: "TLS: certificate has expired ["),
        BrokenSetup(what: "plain HTTP on an https URL", server: .plain, trust: .sinkCA,
                    reason: "TLS: handshake failed: the server did not answer in TLS (plain HTTP on a TLS port?) ["),
    ]

    /// Each broken setup is named in words and is transient (the partner fixes its server),
    /// and no request reached the server's HTTP layer.
    @Test(enabled) func brokenTLSSetupsAreNamedAndTransient() async throws {
        let sink = try TLSSink()
        defer { sink.stop() }
        for setup in Self.brokenSetups {
            let caFile = switch setup.trust {
            case .systemStore: nil as String?
            case .sinkCA: sink.caFile
            case .otherCA: sink.otherCAFile
            }
            let engine = FiringEngine(configuration: testConfiguration(caFile: caFile))
            let result = await engine.fire(url: sink.base(setup.server) + "/broken?case=\(setup.server)")
            engine.shutdown()
            #expect(result.verdict.kind == .transient, "\(setup): \(result.verdict)")
            #expect(result.verdict.reason.hasPrefix(setup.reason), "\(setup): \(result.verdict.reason)")
            #expect(result.verdict.reason.hasSuffix("]"), "\(setup): OpenSSL's own words in brackets: \(result.verdict.reason)")
            #expect(result.status == nil && !result.wasSent, "\(setup): a request went out")
        }
        let served = sink.requests().filter { $0.uri.hasPrefix("/broken") }
        #expect(served.isEmpty, "requests answered despite a failed handshake: \(served)")
    }

    @Test(enabled) func aRedirectFromHTTPSToHTTPIsRefusedButHTTPToHTTPIsFollowed() async throws {
        let sink = try TLSSink()
        defer { sink.stop() }
        let engine = FiringEngine(configuration: testConfiguration(caFile: sink.caFile))
        defer { engine.shutdown() }

        let downgraded = await engine.fire(url: sink.base(.downgrade) + "/secret?click=1")
        #expect(downgraded.verdict == FireVerdict(.permanent, "refused: redirect from https to http (the catalog URL is https)"))
        #expect(sink.requests(at: .downgrade, atLeast: 1).map(\.status) == [302], "the https partner was asked once")

        let plain = sink.base(.plain, scheme: "http")
        let followed = await engine.fire(url: plain + "/redirect")
        #expect(followed.verdict == FireVerdict(.success, "HTTP 204"), "\(followed.errorText)")
        #expect(followed.redirects.map(\.status) == [302])
        #expect(followed.effectiveURL == plain + "/after-redirect")
        let seen = sink.requests(at: .plain, atLeast: 2).map(\.uri)
        #expect(seen == ["/redirect", "/after-redirect"], "the record's values went over http: \(seen)")
    }

    @Test(enabled, arguments: [(TLSSink.Server.http2, "HTTP/2"), (.http1, "HTTP/1.1")])
    func theProbeReportsProtocolCertificateAndHandshake(server: TLSSink.Server, version: String) async throws {
        let sink = try TLSSink()
        defer { sink.stop() }
        let report = await FireProbe.run(url: sink.base(server) + "/probe", configuration: testConfiguration(caFile: sink.caFile))
        #expect(report.verdict == FireVerdict(.success, "HTTP 204"))
        let c = try #require(report.requests.first?.connection, "\(report)")
        #expect(c.httpVersion == version)
        #expect(c.tlsVersion?.hasPrefix("TLSv1.") == true, "\(String(describing: c.tlsVersion))")
        #expect(c.certificateSubject == "CN = localhost")
        #expect(c.certificateIssuer == "CN = postbackd test CA")
        #expect(c.certificateExpiry == sink.certificateExpiry, "openssl x509 -enddate says \(sink.certificateExpiry)")
        let handshake = try #require(c.tlsHandshakeTime)
        #expect(handshake > .zero && handshake < .seconds(5))
        let text = report.description
        for line in ["  connection: \(version) over TLSv1.", ", TLS handshake ", "  certificate: CN = localhost\n",
                     "  issuer: CN = postbackd test CA\n", "  expires: \(sink.certificateExpiry)\n"] {
            #expect(text.contains(line), "no \"\(line)\" in\n\(text)")
        }
    }

    /// A server that closes connections every 5 requests makes the engine reconnect about 40
    /// times for 200 fires; a handle reconnecting to the same host resumes its TLS session.
    @Test(enabled) func reconnectionsResumeTheTLSSession() async throws {
        let sink = try TLSSink()
        defer { sink.stop() }
        let engine = FiringEngine(configuration: testConfiguration(maxConcurrent: 4, perHost: 4, caFile: sink.caFile))
        defer { engine.shutdown() }
        let total = 200
        let results = await Self.burst(total, to: sink.base(.resumption) + "/again", through: engine)
        #expect(results.allSatisfy { $0.verdict.kind == .success })

        let seen = sink.requests(at: .resumption, atLeast: total)
        let firstOfEach = Dictionary(grouping: seen, by: \.connection).values.compactMap(\.first)
        #expect(firstOfEach.count >= total / 5, "keepalive_requests 5: \(firstOfEach.count) connections")
        let resumed = firstOfEach.filter { $0.sessionReused == "r" }.count
        #expect(resumed >= 1, "no connection resumed its TLS session: \(Set(firstOfEach.map(\.sessionReused)))")
        print("TLS resumption: \(resumed) of \(firstOfEach.count) connections resumed their session")
    }

    /// `count` fires submitted as the daemon does (a producer thread that blocks at the caps);
    /// returns the results once all are in, or what came within 60 s (the test then fails).
    private static func burst(_ count: Int, to url: String, through engine: FiringEngine) async -> [FireResult] {
        let results = ResultBox()
        DispatchQueue.global().async {
            for _ in 0..<count { engine.submit(FireRequest(url: url)) { results.append($0) } }
        }
        #expect(await waitUntil(timeout: .seconds(60)) { results.count == count })
        return results.all
    }
}
