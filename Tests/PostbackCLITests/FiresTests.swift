import Foundation
import PostbackTestSupport
import Testing

@Suite("postbackctl fires --transaction: a transaction's history from ledgers, dead letters and the journal", .serialized)
struct FiresTests {
    /// `850us`, `12.3ms`, `1.25s`, as the table prints latencies.
    func latency(_ micros: Int64) -> String {
        if micros < 1000 { return "\(micros)us" }
        if micros < 1_000_000 { return String(format: "%.1fms", Double(micros) / 1000) }
        return String(format: "%.2fs", Double(micros) / 1_000_000)
    }

    @Test func fromTheLedgerAndTheDeadLetterExactly() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let f = try OperatorFixture(catalog: catalogText([
            entry(1, url: "\(sink.base)/status/204?click={sub1}&t={transaction_id}"),
            entry(2, url: "\(sink.base)/status/404?click={sub1}&t={transaction_id}"),
        ]))
        try f.drop("f.jsonl", conversion("other") + "\n" + conversion("fx-1") + "\n")
        try f.runOnce()

        let dead = try #require(f.files(in: "failed").first { f.read(f.spool + "/failed/" + $0).contains("fx-1") })
        let deadJSON = try #require(try JSONSerialization.jsonObject(with: Data(f.read(f.spool + "/failed/" + dead).utf8)) as? [String: Any])
        var rows: [(t: Int64, cells: [String])] = []
        for (pb, outcome, seen) in [(1, "succeeded", "done/f.jsonl:2"), (2, "failed", "done/f.jsonl:2,failed/\(dead)")] {
            // Each ledger holds one entry per fire per line; this file has two lines, take line 2's.
            let lines = f.read(f.spool + "/done/f.jsonl.ledger").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            let e = try #require(lines.first { $0["pb"] as? Int == pb && $0["line"] as? Int == 2 })
            let t = try #require(e["t"] as? Int64 ?? (e["t"] as? Int).map(Int64.init))
            let us = try #require((e["latency_us"] as? Int).map(Int64.init))
            rows.append((t, [isoTime(millis: t / 1000), String(pb), "1", outcome, "HTTP \(pb == 1 ? 204 : 404)", latency(us), seen,
                             "\(sink.base)/status/\(pb == 1 ? 204 : 404)?click=c1&t=fx-1", "-"]))
        }
        rows.sort { ($0.t, $0.cells[1]) < ($1.t, $1.cells[1]) }
        let failedAt = try #require((deadJSON["failed_at_ms"] as? Int).map(Int64.init))
        let expected = "transaction fx-1: 2 fires, 2 attempts\n"
            + aligned([["TIME", "POSTBACK", "ATTEMPT", "OUTCOME", "RESULT", "LATENCY", "SEEN IN", "URL", "ANSWER"]] + rows.map(\.cells))
            + "dead letter: postback 2, 1 attempts, failed at \(isoTime(millis: failedAt)), last error HTTP 404 "
            + "(requeue: postbackctl dead-letters requeue \(dead))\n"
            + "note: journal not searched (--no-journal)\n"
        let r = try f.ctl(["fires", "--transaction", "fx-1", "--config", f.configPath, "--no-journal"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == expected)

        let json = try f.ctl(["fires", "--transaction", "fx-1", "--config", f.configPath, "--no-journal", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["transaction_id"] as? String == "fx-1")
        let attempts = try #require(object["attempts"] as? [[String: Any]])
        #expect(attempts.map { $0["postback"] as? Int } == rows.map { Int($0.cells[1]) })
        let failed = try #require(attempts.first { $0["postback"] as? Int == 2 })
        #expect(failed["status"] as? Int == 404 && failed["outcome"] as? String == "failed" && failed["attempt"] as? Int == 1)
        #expect(failed["seen_in"] as? [String] == ["done/f.jsonl:2", "failed/\(dead)"])
        let letters = try #require(object["dead_letters"] as? [[String: Any]])
        #expect(letters.count == 1 && letters[0]["id"] as? String == dead && letters[0]["last_error"] as? String == "HTTP 404")
        #expect(object["notes"] as? [String] == ["journal not searched (--no-journal)"])
    }

    @Test func nothingFoundExits1() throws {
        let f = try OperatorFixture(catalog: catalogText([]))
        try FileManager.default.createDirectory(atPath: f.spool, withIntermediateDirectories: true)
        let r = try f.ctl(["fires", "--transaction", "nope", "--config", f.configPath, "--no-journal"])
        #expect(r.status == 1)
        #expect(r.stdout == "no fires found for transaction nope\nnote: journal not searched (--no-journal)\n")
    }

    @Test func withoutRetentionTheLedgersAreGoneAndItSaysSo() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let f = try OperatorFixture(catalog: catalogText([entry(1, url: "\(sink.base)/status/204?click={sub1}")]),
                                    settings: ["done_retention": "0"])
        try f.drop("f.jsonl", conversion("gone-1") + "\n")
        try f.runOnce()
        let r = try f.ctl(["fires", "--transaction", "gone-1", "--config", f.configPath, "--no-journal"])
        #expect(r.status == 1)
        #expect(r.stdout == """
            no fires found for transaction gone-1
            note: journal not searched (--no-journal)
            note: finished files are not kept (done_retention = 0); the journal has the history

            """)
    }

    /// The journal knows what the spool forgot: a retry that succeeded leaves no file behind.
    @Test func theJournalFillsInRetriesAndConfirmsTheLedger() async throws {
        guard FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") else {
            print("skipped: no journald running; scripts/setup.sh starts one")
            return
        }
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let f = try OperatorFixture(catalog: catalogText([entry(1, url: "\(sink.base)/status/503?click={sub1}&t={transaction_id}")]),
                                    settings: ["max_attempts": "3", "log_target": "journal"])
        let transaction = "fires-\(UUID().uuidString)"
        try f.drop("f.jsonl", conversion(transaction) + "\n")
        try f.runOnce()  // attempt 1: 503, deferred
        // The partner recovers; the retry succeeds and leaves nothing in the spool but the ledger of attempt 1.
        try Data(catalogText([entry(1, url: "\(sink.base)/status/200?click={sub1}&t={transaction_id}")]).utf8)
            .write(to: URL(fileURLWithPath: f.catalogPath))
        try await Task.sleep(for: .milliseconds(300))
        try f.runOnce()
        #expect(f.files(in: "deferred").isEmpty)

        var r = try f.ctl(["fires", "--transaction", transaction, "--config", f.configPath])
        _ = eventually(10) {
            r = (try? f.ctl(["fires", "--transaction", transaction, "--config", f.configPath])) ?? r
            return r.stdout.contains("succeeded") && r.stdout.contains("done/f.jsonl:1,journal")
        }
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "transaction \(transaction): 1 fire, 2 attempts")
        let deferred = try #require(lines.first { $0.contains("HTTP 503") })
        #expect(deferred.contains("  1         1        deferred   HTTP 503") && deferred.contains("done/f.jsonl:1,journal"))
        let succeeded = try #require(lines.first { $0.contains("HTTP 200") })
        #expect(succeeded.contains("  1         2        succeeded  HTTP 200") && succeeded.contains("  journal  ")
                && succeeded.hasSuffix("  \(sink.base)/status/200?click=c1&t=\(transaction)  -"))
        #expect(!r.stdout.contains("note:"))
    }
}
