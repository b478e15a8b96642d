import PostbackTestSupport
import PostbackCore
import Testing

@testable import PostbackFiring

/// The connect-time address check: a refused address never receives a connection.
@Suite("PostbackFiringTests: address rules at connect time")
struct SafetyTests {
    @Test(arguments: [
        ("http://127.0.0.2:PORT/status/204", "refused: 127.0.0.2 is loopback"),
        ("http://0x7f000002:PORT/status/204", "refused: 127.0.0.2 is loopback"),
        ("http://2130706434:PORT/status/204", "refused: 127.0.0.2 is loopback"),
        ("http://0177.0.0.2:PORT/status/204", "refused: 127.0.0.2 is loopback"),
        ("http://127.2:PORT/status/204", "refused: 127.0.0.2 is loopback"),
    ])
    func refusedAddressIsPermanentAndNeverContacted(template: String, reason: String) async throws {
        let refused = try await TestServer(host: "127.0.0.2")
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(url: template.replacingPort(refused.port))
        #expect(result.verdict == FireVerdict(.permanent, reason))
        #expect(result.refusal == "127.0.0.2 is loopback")
        #expect(result.errorText == reason)
        #expect(refused.stats.accepted == 0)
        engine.shutdown()
        await refused.stop()
    }

    @Test(arguments: [
        ("http://[::1]:9/", "refused: ::1 is loopback"),
        ("http://[::ffff:127.0.0.2]:9/", "refused: ::ffff:127.0.0.2 is loopback (IPv4-mapped 127.0.0.2)"),
        ("http://0.0.0.0:9/", "refused: 0.0.0.0 is unspecified"),
        ("http://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is link-local"),
        ("http://10.0.0.1:9/", "refused: 10.0.0.1 is private (RFC 1918)"),
        ("http://100.64.0.1:9/", "refused: 100.64.0.1 is shared address space (CGNAT 100.64/10)"),
    ])
    func nonGlobalDestinationsAreRefusedBeforeConnecting(url: String, reason: String) async {
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(url: url)
        #expect(result.verdict == FireVerdict(.permanent, reason))
        engine.shutdown()
    }

    @Test func redirectToARefusedAddressIsRefused() async throws {
        let server = try await TestServer()
        let refused = try await TestServer(host: "127.0.0.2")
        let engine = FiringEngine(configuration: testConfiguration())
        let target = "http://127.0.0.2:\(refused.port)/status/204"
        let result = await engine.fire(url: server.base + "/redirect?to=" + target.percentEncoded)
        #expect(result.verdict == FireVerdict(.permanent, "refused: 127.0.0.2 is loopback"))
        #expect(result.redirects.count == 1)
        #expect(server.stats.requests == 1)
        #expect(refused.stats.accepted == 0)
        engine.shutdown()
        await server.stop()
        await refused.stop()
    }

    @Test func allowListLetsAnAddressThrough() async throws {
        let other = try await TestServer(host: "127.0.0.2")
        var configuration = testConfiguration()
        configuration.addressRules.allowList.append(CIDR("127.0.0.0/8")!)
        let engine = FiringEngine(configuration: configuration)
        let result = await engine.fire(url: "http://127.0.0.2:\(other.port)/status/204")
        #expect(result.verdict.kind == .success)
        #expect(other.stats.accepted == 1)
        engine.shutdown()
        await other.stop()
    }

    @Test func defaultRulesRefuseEvenTheTestServer() async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: FiringConfiguration())
        let result = await engine.fire(url: server.base + "/status/204")
        #expect(result.verdict == FireVerdict(.permanent, "refused: 127.0.0.1 is loopback"))
        #expect(server.stats.accepted == 0)
        engine.shutdown()
        await server.stop()
    }
}

extension String {
    func replacingPort(_ port: Int) -> String {
        split(separator: "PORT", omittingEmptySubsequences: false).joined(separator: String(port))
    }
}
