import PostbackTestSupport
import Testing

@testable import PostbackFiring

@Suite("PostbackFiringTests: outcomes against a live server")
struct OutcomeTests {
    @Test(arguments: [
        ("/status/200", FireVerdict.Kind.success, 200),
        ("/status/204", .success, 204),
        ("/status/299", .success, 299),
        ("/status/400", .permanent, 400),
        ("/status/404", .permanent, 404),
        ("/status/410", .permanent, 410),
        ("/status/408", .transient, 408),
        ("/status/425", .transient, 425),
        ("/status/429", .transient, 429),
        ("/status/500", .transient, 500),
        ("/status/503", .transient, 503),
        ("/status/599", .transient, 599),
        ("/status/301", .permanent, 301),  // no Location: a 3xx left over
        ("/status/304", .permanent, 304),
    ])
    func statusClassification(path: String, kind: FireVerdict.Kind, status: Int) async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(url: server.base + path)
        #expect(result.status == status)
        #expect(result.verdict.kind == kind, "\(result.verdict)")
        #expect(result.curlCode == 0)
        #expect(result.latency > .zero)
        engine.shutdown()
        await server.stop()
    }

    @Test func resetConnectionIsTransient() async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(url: server.base + "/reset")
        #expect(result.status == nil)
        #expect(result.verdict.kind == .transient)
        #expect(result.verdict.reason.hasPrefix("connection error"), "\(result.verdict)")
        #expect(!result.errorText.isEmpty)
        engine.shutdown()
        await server.stop()
    }

    @Test(arguments: ["/hang", "/delay/3000"])
    func totalTimeoutIsTransient(path: String) async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration(totalTimeout: .milliseconds(300)))
        let result = await engine.fire(url: server.base + path)
        #expect(result.curlCode == 28)  // CURLE_OPERATION_TIMEDOUT
        #expect(result.verdict.kind == .transient)
        #expect(result.verdict.reason.hasPrefix("timeout"), "\(result.verdict)")
        #expect(result.latency >= .milliseconds(250))
        // curl's own clock, not the test's: a busy test pool can delay when the test wakes up.
        #expect(result.latency < .milliseconds(2500), "the timeout, not the server, ended the fire")
        engine.shutdown()
        await server.stop()
    }

    @Test func connectionRefusedIsTransient() async throws {
        // A port nobody listens on: bind a server, note its port, stop it.
        let server = try await TestServer()
        let url = server.base + "/"
        await server.stop()
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(url: url)
        #expect(result.curlCode == 7)  // CURLE_COULDNT_CONNECT, but not our refusal
        #expect(result.refusal == nil)
        #expect(result.verdict.kind == .transient)
        engine.shutdown()
    }

    @Test(arguments: [
        ("503", "120", 120 as Int64),
        ("429", "0", 0),
        ("503", "Wed, 21 Oct 2099 07:28:00 GMT", nil),
        ("503", "soon", -1),
    ] as [(String, String, Int64?)])
    func retryAfterIsReported(status: String, value: String, seconds: Int64?) async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(url: server.base + "/retry-after/\(status)/\(value.percentEncoded)")
        #expect(result.verdict.kind == .transient)
        switch seconds {
        case .some(-1): #expect(result.retryAfter == nil, "unreadable values are ignored")
        case .some(let s): #expect(result.retryAfter == .seconds(s))
        case .none: #expect(result.retryAfter! > .seconds(365 * 86_400))
        }
        engine.shutdown()
        await server.stop()
    }

    @Test func bodyIsCappedAndHugeBodiesAreCutShort() async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration())
        let small = await engine.fire(url: server.base + "/body/100")
        #expect(small.bodyPrefix.count == 100)
        #expect(!small.bodyTruncated)
        let medium = await engine.fire(url: server.base + "/body/5000")
        #expect(medium.bodyPrefix.count == 1024)
        #expect(medium.bodyTruncated)
        #expect(medium.verdict.kind == .success)
        let huge = await engine.fire(url: server.base + "/body/200000000")
        #expect(huge.status == 200)
        #expect(huge.verdict.kind == .success, "the partner answered 200; we stopped reading")
        #expect(huge.bodyPrefix.count == 1024)
        #expect(huge.bodyText.allSatisfy { $0 == "x" })
        #expect(huge.bodyTruncated)
        #expect(huge.latency < .seconds(4), "reading stopped well before the total timeout")
        engine.shutdown()
        await server.stop()
    }

    @Test func redirectsAreFollowedAndReported() async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration())
        let target = server.base + "/status/204"
        let result = await engine.fire(url: server.base + "/redirect?to=" + target.percentEncoded)
        #expect(result.verdict.kind == .success)
        #expect(result.status == 204)
        #expect(result.redirects == [RedirectHop(status: 302, location: target)])
        #expect(result.effectiveURL == target)
        engine.shutdown()
        await server.stop()
    }

    @Test func redirectLoopStopsAfterThreeHops() async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(url: server.base + "/loop")
        #expect(result.curlCode == 47)  // CURLE_TOO_MANY_REDIRECTS
        #expect(result.verdict.kind == .permanent)
        #expect(result.verdict.reason.hasPrefix("too many redirects"), "\(result.verdict)")
        #expect(server.stats.requests == 4, "the first request and three hops")
        engine.shutdown()
        await server.stop()
    }

    @Test(arguments: ["file:///etc/passwd", "gopher://127.0.0.1/", "ftp://127.0.0.1/"])
    func redirectToAnotherSchemeIsPermanent(target: String) async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(url: server.base + "/redirect?to=" + target.percentEncoded)
        #expect(result.verdict.kind == .permanent)
        #expect(result.verdict.reason.hasPrefix("scheme not allowed"), "\(result.verdict)")
        engine.shutdown()
        await server.stop()
    }

    @Test(arguments: ["file:///etc/passwd", "ftp://127.0.0.1/", "dict://127.0.0.1/", "not a url"])
    func otherSchemesAreNeverFired(url: String) async {
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(url: url)
        #expect(result.verdict.kind == .permanent, "\(result.verdict)")
        #expect(result.status == nil)
        engine.shutdown()
    }

    @Test func afterShutdownFiresFailTransiently() async {
        let engine = FiringEngine(configuration: testConfiguration())
        engine.shutdown()
        let result = await engine.fire(url: "http://127.0.0.1:1/")
        #expect(result.verdict == FireVerdict(.transient, "engine is shut down"))
        #expect(engine.inFlight == 0)
    }
}
