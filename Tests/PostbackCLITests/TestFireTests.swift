import Foundation
import Glibc
import PostbackTestSupport
import Testing

@Suite("postbackctl test-fire: the exact request, the answer, the verdict")
struct TestFireTests {
    static let record = #"{"kind":"conversion","transaction_id":"t-77","partner_id":7,"offer_id":3,"sub1":"click 1"}"#

    static func catalog(url: String) throws -> String {
        try ProcessRunner.temporaryFile("""
            {"postbacks": [{"id": 17, "type": "conversion", "level": "specific", "partner_id": 7, "offer_id": 3,
              "delivery": "postback", "url": "\(url)"}]}
            """, name: "catalog.json")
    }

    @Test func firesOnceAndShowsEverything() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let path = try Self.catalog(url: "\(sink.base)/status/204?click={sub1}&t={transaction_id}")
        let r = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "17",
                                                      "--record", Self.record, "--allow-address", "127.0.0.1/32"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("request 1: GET \(sink.base)/status/204?click=click%201&t=t-77\n"))
        #expect(r.stdout.contains("  answer: HTTP 204 in "))
        #expect(r.stdout.hasSuffix("verdict: success: HTTP 204\n"), "\(r.stdout)")
        #expect(sink.stats.requests == 1)
    }

    @Test func followsRedirectsHopByHopAndExits1OnAFailure() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let target = "\(sink.base)/status/503".percentEncoded
        let path = try Self.catalog(url: "\(sink.base)/redirect?to=\(target)&c={sub1}")
        let r = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "17",
                                                      "--record", Self.record, "--allow-address", "127.0.0.0/8"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("request 1: GET \(sink.base)/redirect?to="))
        #expect(r.stdout.contains("redirect to \(sink.base)/status/503"))
        #expect(r.stdout.contains("request 2: GET \(sink.base)/status/503"))
        #expect(r.stdout.hasSuffix("verdict: transient: HTTP 503\n"), "\(r.stdout)")
    }

    @Test func loopbackWithoutTheAllowListIsRefusedBeforeConnecting() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let path = try Self.catalog(url: "\(sink.base)/status/204?click={sub1}")
        let r = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "17", "--record", Self.record])
        #expect(r.status == 1)
        #expect(r.stdout.contains("verdict: permanent: refused: 127.0.0.1 is loopback"), "\(r.stdout)")
        #expect(sink.stats.accepted == 0)
    }

    @Test(.enabled(if: TLSSink.testsRun, "needs nginx and openssl (scripts/setup.sh); CI runs it always"))
    func showsTheTLSConnectionAndNeedsTheCAFile() throws {
        let sink = try TLSSink()
        defer { sink.stop() }
        let path = try Self.catalog(url: "\(sink.base(.http2, host: "localhost"))/pb?click={sub1}")
        let arguments = ["test-fire", "--catalog", path, "--postback", "17", "--record", Self.record,
                         "--allow-address", "127.0.0.0/8", "--allow-address", "::1/128"]
        let trusted = try ProcessRunner.run("postbackctl", arguments + ["--ca-file", sink.caFile], environment: [:])
        #expect(trusted.status == 0, "\(trusted.stdout) \(trusted.stderr)")
        for text in ["  connection: HTTP/2 over TLSv1.", ", TLS handshake ", "  certificate: CN = localhost\n",
                     "  issuer: CN = postbackd test CA\n", "  expires: ", "verdict: success: HTTP 204\n"] {
            #expect(trusted.stdout.contains(text), "no \"\(text)\" in\n\(trusted.stdout)")
        }
        // environment [:]: no POSTBACKD_CA_FILE from the test's own, so the system store.
        let untrusted = try ProcessRunner.run("postbackctl", arguments, environment: [:])
        #expect(untrusted.status == 1)
        #expect(untrusted.stdout.contains("verdict: transient: TLS: certificate not trusted (unknown certificate authority) ["),
                "\(untrusted.stdout) \(untrusted.stderr)")
        #expect(sink.requests(at: .http2, atLeast: 1).count == 1, "only the trusted fire reached the server")
    }

    @Test func pixelsAndUnknownIDsAreRefusedWithAReason() throws {
        let path = try ProcessRunner.temporaryFile("""
            {"postbacks": [{"id": 5, "type": "conversion", "level": "global", "partner_id": 7,
              "delivery": "image_pixel", "url": "https://px.example/p.gif?c={sub1}"}]}
            """)
        let pixel = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "5", "--record", Self.record])
        #expect(pixel.status == 1)
        #expect(pixel.stderr.contains("postback 5: delivery is image_pixel; pixels are rendered in a page, never fired"))
        let missing = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "6", "--record", Self.record])
        #expect(missing.status == 1)
        #expect(missing.stderr == "postback 6: not in \(path)\n")
    }
}

/// Tests about non-loopback addresses run inside a network namespace they create, with a
/// listener on the forbidden address to prove that nothing connected: no packet leaves the machine.
/// The daemon's full table of hostile URLs is PostbackDaemonTests/HostileURLTests.swift.
@Suite("test-fire against cloud metadata, inside a private network namespace", .serialized)
struct MetadataNamespaceTests {
    static let record = TestFireTests.record

    @Test(.enabled(if: NetworkNamespace.testsRun, "needs root and iproute2 (ip netns); CI runs it always"))
    func metadataAddressAndANameResolvingToItAreRefused() throws {
        let namespace = try NetworkNamespace(
            hosts: "127.0.0.1 localhost\n169.254.169.254 metadata.partner.example\n", addresses: ["169.254.169.254/32"])
        defer { namespace.remove() }
        let metadata = NamespaceListener.Endpoint("169.254.169.254")
        let listener = try namespace.startListener([metadata])
        defer { listener.stop() }

        let postbackctl = ProcessRunner.productsDirectory.appendingPathComponent("postbackctl").path
        for (url, reason) in [
            ("http://169.254.169.254/latest/meta-data/?c={sub1}", "refused: 169.254.169.254 is link-local"),
            ("http://metadata.partner.example/latest/meta-data/?c={sub1}", "refused: 169.254.169.254 is link-local"),
            ("http://[::ffff:169.254.169.254]/?c={sub1}", "refused: ::ffff:169.254.169.254 is link-local"),
        ] {
            let catalog = try TestFireTests.catalog(url: url)
            let r = try namespace.run([postbackctl, "test-fire", "--catalog", catalog, "--postback", "17", "--record", Self.record])
            #expect(r.stdout.contains("verdict: permanent: \(reason)"), "\(url): \(r.stdout) \(r.stderr)")
        }
        try listener.settle()
        #expect(listener.accepted.isEmpty, "a refused address received a connection: \(listener.accepted)")
    }
}
