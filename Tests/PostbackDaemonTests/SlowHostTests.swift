import Foundation
import PostbackTestSupport
import Testing

@Suite("One slow partner does not hold up the others", .serialized)
struct SlowHostTests {
    /// A partner answering in 3 s fills its share of the pool (per_host 2: 4 admitted); its
    /// further fires are deferred unsent instead of waited for, so the fast partner's fires all
    /// go out in the same `--once` run. Waiting for the slow host instead would send all 40 of
    /// its fires, 4 every 3 s (30 s), with the fast ones trickling out between them.
    @Test func slowHostFiresAreDeferredAndTheRestGoOut() async throws {
        let slow = try await TestServer()
        let fast = try await TestServer(host: "127.0.0.2")
        defer { Task { await slow.stop(); await fast.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(slow.base)/delay/3000?t={transaction_id}"),
            (2, 8, 3, "specific", "\(fast.base)/status/204?t={transaction_id}"),
        ]), settings: ["per_host": "2", "max_concurrent": "16"])
        var lines: [String] = []
        for i in 0..<440 {
            lines.append(i % 11 == 0 ? conversion("slow-\(i)", partner: 7, offer: 3) : conversion("fast-\(i)", partner: 8, offer: 3))
        }
        for f in 0..<22 {
            try fixture.drop(String(format: "mix-%02d.jsonl", f), lines[(f * 20)..<(f * 20 + 20)].joined(separator: "\n") + "\n")
        }

        let (summary, result) = try fixture.runOnce()
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(fast.stats.requests == 400, "the fast partner got \(fast.stats.requests) of 400")
        // The slow host's share (4) and the fires that were already waiting for a slot when it
        // turned out to be slow; the rest wait in deferred/.
        let sentSlow = slow.stats.requests
        #expect(sentSlow >= 4 && sentSlow <= 8, "slow partner got \(sentSlow) fires; the others should wait in deferred/")
        let deferred = fixture.files(in: "deferred")
        #expect(deferred.count == 40 - sentSlow)
        #expect(summary["deferred"] == Double(40 - sentSlow) && summary["succeeded"] == Double(400 + sentSlow),
                "summary: \(summary)")
        let reasons = deferred.map { fixture.read("deferred", $0) }
        #expect(reasons.allSatisfy { $0.contains("is slow: all its connections are busy") }, "\(reasons.first ?? "")")
        #expect(fixture.files(in: "incoming").isEmpty && fixture.files(in: "active").isEmpty)
    }
}
