import Foundation
import PostbackSpool
import PostbackTestSupport
import Testing

@Suite("postbackctl dead-letters list and requeue, on dead letters the real daemon made", .serialized)
struct DeadLettersTests {
    @Test func listRequeueAndTheNextRunFiresThem() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let f = try OperatorFixture(catalog: catalogText([
            entry(1, url: "\(sink.base)/status/404?click={sub1}&t={transaction_id}"),
            entry(2, url: "\(sink.base)/status/204?click={sub1}&t={transaction_id}"),
        ]))
        try f.drop("f.jsonl", conversion("t-1") + "\n" + conversion("t-2") + "\n")
        #expect(try f.runOnce().hasPrefix("{\"records\":2,\"fires\":4,\"succeeded\":2,\"deferred\":0,\"failed\":2,"))

        let letters = try Spool(root: f.spool).deadLetters()
        try #require(letters.count == 2)
        let byTransaction = Dictionary(uniqueKeysWithValues: letters.map { (String(decoding: $0.fire.record, as: UTF8.self).contains("t-1") ? "t-1" : "t-2", $0) })
        let rows = [["ID", "POSTBACK", "TRANSACTION", "ATTEMPTS", "FAILED AT", "LAST ERROR"]] + letters.map { l in
            [l.id, "1", byTransaction["t-1"]?.id == l.id ? "t-1" : "t-2", "1", isoTime(millis: l.fire.failedAt ?? 0), "HTTP 404"]
        }
        let list = try f.ctl(["dead-letters", "list", "--config", f.configPath])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout == aligned(rows))

        // JSON: the record and the attempt as the partner saw it.
        let json = try f.ctl(["dead-letters", "list", "--spool", f.spool, "--json"])
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let first = try #require(array.first { $0["transaction_id"] as? String == "t-1" })
        #expect(first["postback"] as? Int == 1 && first["attempts"] as? Int == 1 && first["last_error"] as? String == "HTTP 404")
        #expect(first["record"] as? String == conversion("t-1") && first["source"] as? String == "f.jsonl" && first["line"] as? Int == 1)
        let history = try #require(first["history"] as? [[String: Any]])
        #expect(history.count == 1 && history[0]["status"] as? Int == 404)
        #expect(history[0]["url"] as? String == "\(sink.base)/status/404?click=c1&t=t-1")

        // The partner fixed their endpoint: point the postback there, requeue, run again.
        let edit = try f.ctl(["edit", "1", "--config", f.configPath, "--url", "\(sink.base)/status/200?fixed={sub1}&t={transaction_id}", "--no-reload"])
        #expect(edit.status == 0, "\(edit.stderr)")
        let one = try #require(byTransaction["t-1"])
        let requeue = try f.ctl(["dead-letters", "requeue", one.id, "--config", f.configPath])
        #expect(requeue.status == 0)
        #expect(requeue.stdout == "requeued \(one.id): postback 1, transaction t-1\n")
        let rest = try f.ctl(["dead-letters", "requeue", "--all", "--config", f.configPath])
        #expect(rest.stdout == "requeued \(try #require(byTransaction["t-2"]).id): postback 1, transaction t-2\n")
        #expect(f.files(in: "failed").isEmpty)
        #expect(f.files(in: "deferred").count == 2)

        #expect(try f.runOnce().hasPrefix("{\"records\":0,\"fires\":2,\"succeeded\":2,\"deferred\":0,\"failed\":0,"))
        #expect(f.files(in: "deferred").isEmpty)
        #expect(Set(sink.stats.uris.suffix(2)) == ["/status/200?fixed=c1&t=t-1", "/status/200?fixed=c1&t=t-2"])
        #expect(try f.ctl(["dead-letters", "list", "--config", f.configPath]).stdout == "no dead letters\n")
        #expect(try f.ctl(["dead-letters", "requeue", "--all", "--config", f.configPath]).stdout == "no dead letters\n")
    }

    @Test func unknownIdsExit1AndTheOthersStillGo() throws {
        let f = try OperatorFixture(catalog: catalogText([]))
        _ = try Spool(root: f.spool)
        let r = try f.ctl(["dead-letters", "requeue", "--spool", f.spool, "nope.json"])
        #expect(r.status == 1)
        #expect(r.stdout == "")
        #expect(r.stderr == "nope.json: no such dead letter in \(f.spool)/failed\n")
        let usage = try f.ctl(["dead-letters", "requeue", "--spool", f.spool])
        #expect(usage.status == 64)
        #expect(usage.stderr.contains("name the dead letters to requeue, or --all (not both)"))
    }
}
