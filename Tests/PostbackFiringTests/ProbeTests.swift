import PostbackTestSupport
import Testing

@testable import PostbackFiring

@Suite("PostbackFiringTests: test-fire probe")
struct ProbeTests {
    @Test func reportsEveryHop() async throws {
        let server = try await TestServer()
        let last = server.base + "/status/204"
        let middle = server.base + "/redirect?to=" + last.percentEncoded
        let first = server.base + "/redirect?to=" + middle.percentEncoded
        let report = await FireProbe.run(url: first, configuration: testConfiguration())
        #expect(report.requests.map(\.url) == [first, middle, last])
        #expect(report.requests.map(\.status) == [302, 302, 204])
        #expect(report.requests.map(\.redirectURL) == [middle, last, nil])
        #expect(report.verdict == FireVerdict(.success, "HTTP 204"))
        let text = report.description
        #expect(text.contains("request 1: GET \(first)"))
        #expect(text.contains("answer: HTTP 302 in "))
        #expect(text.hasSuffix("verdict: success: HTTP 204"))
        await server.stop()
    }

    @Test func stopsAfterThreeRedirects() async throws {
        let server = try await TestServer()
        let report = await FireProbe.run(url: server.base + "/loop", configuration: testConfiguration())
        #expect(report.requests.count == 4)
        #expect(report.verdict == FireVerdict(.permanent, "too many redirects: more than 3"))
        await server.stop()
    }

    @Test func refusesAHopToAForbiddenAddress() async throws {
        let server = try await TestServer()
        let refused = try await TestServer(host: "127.0.0.2")
        let target = "http://127.0.0.2:\(refused.port)/"
        let report = await FireProbe.run(
            url: server.base + "/redirect?to=" + target.percentEncoded, configuration: testConfiguration())
        #expect(report.requests.count == 2)
        #expect(report.verdict == FireVerdict(.permanent, "refused: 127.0.0.2 is loopback"))
        #expect(refused.stats.accepted == 0)
        await server.stop()
        await refused.stop()
    }

    @Test func showsTheAnswerBody() async throws {
        let server = try await TestServer()
        let report = await FireProbe.run(url: server.base + "/body/2000", configuration: testConfiguration())
        #expect(report.verdict.kind == .success)
        #expect(report.description.contains("body: \"xxxx"))
        #expect(report.description.contains("(truncated)"))
        await server.stop()
    }
}
