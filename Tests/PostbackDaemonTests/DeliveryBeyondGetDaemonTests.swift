import Foundation
import PostbackTestSupport
import Testing

/// Issue 15 through the real daemon: a signed POST postback, its `{fire_id}` and `webhook-id`
/// across a retry and across a kill -9, `delay_ms` held in `deferred/`, and `410 Gone`.
@Suite("PostbackDaemonTests: delivery beyond GET")
struct DeliveryBeyondGetDaemonTests {
    static let secret = "whsec_" + Data(Array("0123456789abcdefghijklmnopqrstuv".utf8)).base64EncodedString()

    /// One specific postback (partner 7, offer 3) with `extra` catalog fields.
    static func catalog(url: String, _ extra: String) -> String {
        """
        {"postbacks": [{"id": 1, "type": "conversion", "level": "specific", "partner_id": 7, "offer_id": 3,
         "url": "\(url)", \(extra)}]}
        """
    }

    static let signedPOST = """
        "method": "POST", "signing_secret": "\(secret)", "body": "{\\"fire\\": \\"{fire_id}\\", \\"click\\": \\"{sub1}\\"}"
        """

    /// The fire id three ways: the query's `f`, the body's `fire`, and `webhook-id`.
    static func ids(_ r: ReceivedRequest) -> [String] {
        let query = URLComponents(string: r.uri)?.queryItems?.first { $0.name == "f" }?.value ?? "?"
        let body = (try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])?["fire"] as? String ?? "?"
        return [query, body, r.header("webhook-id") ?? "?"]
    }

    @Test func fireIDAndWebhookIDStayTheSameOnARetry() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: Self.catalog(url: "\(sink.base)/sequence/503,204?f={fire_id}&c={sub1}", Self.signedPOST))
        try fixture.drop("retry.jsonl", conversion("t1", partner: 7, offer: 3) + "\n" + conversion("t2", partner: 7, offer: 3) + "\n")
        let first = try fixture.runOnce()
        #expect(first.summary["deferred"] == 2, "\(first.result.stderr)")
        usleep(400_000)  // retry_base 100ms, retry_cap 200ms
        let second = try fixture.runOnce()
        #expect(second.summary["succeeded"] == 2, "\(second.result.stderr)")

        let received = sink.stats.received
        #expect(received.count == 4 && received.allSatisfy { $0.method == "POST" })
        let all = received.map(Self.ids)
        for ids in all {
            #expect(Set(ids).count == 1 && ids[0].hasPrefix("fire_") && ids[0].count == 37, "one id in URL, body and header: \(ids)")
        }
        // Two fires, two ids, each sent twice (the 503, then the 204).
        let counts = Dictionary(all.map { ($0[0], 1) }, uniquingKeysWith: +)
        #expect(counts.count == 2 && counts.values.allSatisfy { $0 == 2 }, "\(counts)")
    }

    @Test func fireIDStaysTheSameAfterAKillAndRestart() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        // The first attempt hangs for 3 s: the daemon is killed with it in flight, so the
        // ledger has no outcome and the restart sends it again.
        let fixture = try SpoolFixture(catalog: Self.catalog(url: "\(sink.base)/delay/3000?f={fire_id}&c={sub1}", Self.signedPOST))
        let daemon = try ProcessRunner.start("postbackd", ["run", "--config", fixture.configPath],
                                             environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        #expect(eventually(10) { daemon.stderr.contains("postbackd ready") })
        try fixture.drop("crash.jsonl", conversion("t1", partner: 7, offer: 3) + "\n")
        #expect(eventually(10) { sink.stats.received.count == 1 })
        daemon.kill()
        _ = daemon.wait(timeoutSeconds: 10)
        #expect(daemon.terminatingSignal == SIGKILL)
        let again = try fixture.runOnce()
        #expect(again.summary["succeeded"] == 1, "\(again.result.stderr)")
        let received = sink.stats.received
        #expect(received.count == 2)
        let ids = received.map(Self.ids)
        #expect(ids.count == 2 && ids[0] == ids[1] && Set(ids[0]).count == 1, "\(ids)")
    }

    @Test func delayHoldsTheFirstAttemptInDeferred() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: Self.catalog(url: "\(sink.base)/status/204?c={sub1}", #""delay_ms": 1500"#))
        // --once: nothing is sent before the delay; the fire waits in deferred/.
        try fixture.drop("once.jsonl", conversion("t0", partner: 7, offer: 3) + "\n")
        let once = try fixture.runOnce()
        #expect(once.summary["deferred"] == 1 && sink.stats.requests == 0, "\(once.result.stdout)")
        #expect(fixture.files(in: "deferred").count == 1)
        #expect(fixture.read("deferred", fixture.files(in: "deferred")[0]).contains("delay_ms: first attempt 1500 ms after arrival"))
        try FileManager.default.removeItem(atPath: fixture.spool + "/deferred/" + fixture.files(in: "deferred")[0])

        // Service mode: sent at arrival + 1.5 s, no later than a rescan interval (1 s) over.
        let daemon = try ProcessRunner.start("postbackd", ["run", "--config", fixture.configPath],
                                             environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        defer { daemon.kill() }
        #expect(eventually(10) { daemon.stderr.contains("postbackd ready") })
        let dropped = Date()
        try fixture.drop("late.jsonl", conversion("t1", partner: 7, offer: 3) + "\n")
        #expect(eventually(10) { sink.stats.requests == 1 })
        let waited = Date().timeIntervalSince(dropped)
        #expect(waited >= 1.5, "sent after \(waited) s")
        #expect(waited <= 1.5 + 1.0 + 0.3, "sent after \(waited) s")
    }

    @Test func goneAnswerPausesThePostbackAtOnce() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: Self.catalog(url: "\(sink.base)/status/410?c={sub1}", #""method": "POST""#))
        try fixture.drop("gone.jsonl", conversion("t1", partner: 7, offer: 3) + "\n")
        let first = try fixture.runOnce()
        #expect(first.summary["failed"] == 1)
        let paused = try String(contentsOfFile: fixture.root.path + "/state/paused.json", encoding: .utf8)
        #expect(paused.contains("\"id\":1,") && paused.contains("HTTP 410 Gone"), "\(paused)")
        try fixture.drop("after.jsonl", conversion("t2", partner: 7, offer: 3) + "\n")
        let second = try fixture.runOnce()
        #expect(second.summary["no_match"] == 1 && sink.stats.requests == 1)
    }

    @Test func aHeaderThatWouldCarryALineBreakFailsThatFireUnsent() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: Self.catalog(url: "\(sink.base)/status/204?c={sub1}", #""headers": {"X-Click": "{sub1}"}"#))
        let bad = #"{"kind":"conversion","transaction_id":"t1","partner_id":7,"offer_id":3,"sub1":"a\r\nX-Injected: 1"}"#
        try fixture.drop("crlf.jsonl", bad + "\n" + conversion("t2", partner: 7, offer: 3, sub1: "fine") + "\n")
        let once = try fixture.runOnce()
        #expect(once.summary["failed"] == 1 && once.summary["succeeded"] == 1, "\(once.result.stdout)")
        #expect(sink.stats.received.count == 1 && sink.stats.received.first?.header("X-Click") == "fine")
        let letters = fixture.files(in: "failed")
        #expect(letters.count == 1)
        #expect(letters.first.map { fixture.read("failed", $0) }?.contains("header X-Click: the value would hold a carriage return (CR) once its macros are filled; not sent") == true)
    }
}
