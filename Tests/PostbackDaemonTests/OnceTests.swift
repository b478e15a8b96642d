import Foundation
import PostbackTestSupport
import Testing

@Suite("postbackd run --once against a loopback sink", .serialized)
struct OnceTests {
    @Test func firesEveryRecordAndTheSummaryBalances() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?click={sub1}&t={transaction_id}&pb={postback_id}"),
            (2, 7, 3, "specific", "\(sink.base)/status/200?click={sub1}&t={transaction_id}&pb={postback_id}"),
            (3, 8, nil, "global", "\(sink.base)/status/204?click={sub1}&t={transaction_id}&pb={postback_id}"),
        ]))
        var lines: [String] = []
        for i in 0..<300 { lines.append(conversion("a\(i)", partner: 7, offer: 3, sub1: "c \(i)&x")) }  // 2 fires each
        for i in 0..<100 { lines.append(conversion("b\(i)", partner: 8, offer: 9)) }  // 1 fire each
        for i in 0..<50 { lines.append(conversion("n\(i)", partner: 99, offer: 9)) }  // no match
        lines.append("{\"kind\":\"conversion\"}")  // rejected
        lines.append("not json at all")  // rejected
        try fixture.drop("batch-1.jsonl", lines.joined(separator: "\n") + "\n")
        try fixture.drop("batch-2.jsonl", conversion("c1", partner: 8, offer: 1) + "\n")

        let (summary, result) = try fixture.runOnce()
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(summary["records"] == 453)
        #expect(summary["fires"] == 701)
        #expect(summary["succeeded"] == 701)
        #expect(summary["deferred"] == 0)
        #expect(summary["failed"] == 0)
        #expect(summary["no_match"] == 50)
        #expect(summary["rejected"] == 2)
        #expect(sink.stats.requests == 701)
        let uris = Set(sink.stats.uris)
        #expect(uris.contains("/status/204?click=c%200%26x&t=a0&pb=1"))
        #expect(uris.contains("/status/200?click=c%20299%26x&t=a299&pb=2"))
        #expect(uris.contains("/status/204?click=c&t=c1&pb=3"))
        #expect(fixture.files(in: "incoming").isEmpty)
        #expect(fixture.files(in: "active").isEmpty)
        #expect(fixture.files(in: "bad") == ["batch-1.jsonl.rejected"])
        let rejected = fixture.read("bad", "batch-1.jsonl.rejected")
        #expect(rejected.contains("\"line\":451") && rejected.contains("\"line\":452") && rejected.contains("not json at all"))
    }

    @Test func transientFailuresAreDeferredThenDeadLettered() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/503?click={sub1}&t={transaction_id}"),
            (2, 7, 3, "specific", "\(sink.base)/status/404?click={sub1}&t={transaction_id}"),
        ]), settings: ["max_attempts": "2"])
        try fixture.drop("f.jsonl", conversion("t1", partner: 7, offer: 3) + "\n")

        let first = try fixture.runOnce()
        #expect(first.result.status == 0, "stderr: \(first.result.stderr)")
        #expect(first.summary["fires"] == 2 && first.summary["deferred"] == 1 && first.summary["failed"] == 1)
        #expect(fixture.files(in: "deferred").count == 1)
        #expect(fixture.files(in: "failed").count == 1)
        #expect(fixture.read("failed", fixture.files(in: "failed")[0]).contains("HTTP 404"))

        // The retry is due after at most retry_cap (200 ms); the second attempt is the last.
        try await Task.sleep(for: .milliseconds(300))
        let second = try fixture.runOnce()
        #expect(second.summary["fires"] == 1 && second.summary["failed"] == 1 && second.summary["records"] == 0)
        #expect(fixture.files(in: "deferred").isEmpty)
        #expect(fixture.files(in: "failed").count == 2)
        #expect(sink.stats.requests == 3)
    }

    @Test func refusedDestinationsNeverConnect() async throws {
        // A listener on another loopback address that the allow-list does not cover.
        let guarded = try await TestServer(host: "127.0.0.2")
        defer { Task { await guarded.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(guarded.base)/status/204?click={sub1}"),
        ]), settings: ["allow_address": "127.0.0.1/32"])
        try fixture.drop("f.jsonl", conversion("t1", partner: 7, offer: 3) + "\n")
        let (summary, result) = try fixture.runOnce()
        #expect(result.status == 0)
        #expect(summary["failed"] == 1)
        #expect(guarded.stats.accepted == 0)
        let dead = fixture.read("failed", fixture.files(in: "failed").first ?? "")
        #expect(dead.contains("127.0.0.2 is loopback"), "dead letter: \(dead)")
    }

    @Test func badStartIsAClearErrorAndExits1() throws {
        let fixture = try SpoolFixture(catalog: "{\"postbacks\": [{\"id\": 1}]}")
        let (_, result) = try fixture.runOnce()
        #expect(result.status == 1)
        #expect(result.stderr.contains("postback 1: type: missing"))
        let badConfig = try ProcessRunner.run("postbackd", ["run", "--config", fixture.configPath, "--once", "--max-concurrent", "0"])
        #expect(badConfig.status == 1)
        #expect(badConfig.stderr.contains("--max-concurrent: max_concurrent: expected a whole number from 1 to 10000, got \"0\""))
    }
}

@Suite("postbackd run --once at volume")
struct VolumeTests {
    /// DESIGN's promise at the scale of a real backlog: 100k records, every one fired, the
    /// summary balanced. `POSTBACKD_VOLUME_RECORDS` changes the count.
    @Test func hundredThousandRecordsAllFireAndBalance() async throws {
        let total = Int(ProcessInfo.processInfo.environment["POSTBACKD_VOLUME_RECORDS"] ?? "") ?? 100_000
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?click={sub1}&t={transaction_id}"),
        ]))
        let perFile = 1000
        for f in 0..<(total / perFile) {
            let lines = (0..<perFile).map { conversion("v\(f * perFile + $0)", partner: 7, offer: 3) }
            try fixture.drop("volume-\(f).jsonl", lines.joined(separator: "\n") + "\n")
        }
        let (summary, result) = try fixture.runOnce()
        #expect(result.status == 0, "stderr: \(result.stderr.suffix(2000))")
        #expect(summary["records"] == Double(total) && summary["fires"] == Double(total))
        #expect(summary["succeeded"] == Double(total) && summary["failed"] == 0 && summary["deferred"] == 0)
        #expect(sink.stats.requests == total)
        #expect(fixture.files(in: "incoming").isEmpty && fixture.files(in: "active").isEmpty)
        print("volume: \(total) records in \(summary["seconds"] ?? -1) s")
    }
}

@Suite("Auto-pause after repeated permanent failures")
struct AutoPauseDaemonTests {
    @Test func tenPermanentFailuresPauseNineDoNot() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/404?click={sub1}&t={transaction_id}"),
            (2, 8, 3, "specific", "\(sink.base)/status/404?click={sub1}&t={transaction_id}"),
        ]))
        let nine = (0..<9).map { conversion("p\($0)", partner: 8, offer: 3) }
        let ten = (0..<10).map { conversion("q\($0)", partner: 7, offer: 3) }
        try fixture.drop("fail.jsonl", (nine + ten).joined(separator: "\n") + "\n")
        let first = try fixture.runOnce()
        #expect(first.summary["failed"] == 19)
        let paused = try String(contentsOfFile: fixture.root.path + "/state/paused.json", encoding: .utf8)
        #expect(paused.contains("\"id\":1,") && !paused.contains("\"id\":2,"), "\(paused)")
        #expect(paused.contains("10 permanent failures in a row, the last: HTTP 404"))

        // Paused: the next record for postback 1 fires nothing; postback 2 still fires.
        try fixture.drop("after.jsonl", conversion("r1", partner: 7, offer: 3) + "\n" + conversion("r2", partner: 8, offer: 3) + "\n")
        let second = try fixture.runOnce()
        #expect(second.summary["fires"] == 1 && second.summary["no_match"] == 1)
        #expect(sink.stats.requests == 20)
    }
}

@Suite("Circuit breaker per host in the daemon")
struct BreakerDaemonTests {
    @Test func aDeadHostIsHeldBackWhileAHealthyOneFires() async throws {
        let dead = try await TestServer()
        let healthy = try await TestServer()
        defer { Task { await dead.stop(); await healthy.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(dead.base)/status/503?click={sub1}&t={transaction_id}"),
            (2, 8, 3, "specific", "\(healthy.base)/status/204?click={sub1}&t={transaction_id}"),
        ]), settings: ["max_concurrent": "1", "breaker_failures": "3", "breaker_cooldown": "1h"])
        var lines: [String] = []
        for i in 0..<10 {
            lines.append(conversion("d\(i)", partner: 7, offer: 3))
            lines.append(conversion("h\(i)", partner: 8, offer: 3))
        }
        try fixture.drop("mixed.jsonl", lines.joined(separator: "\n") + "\n")
        let (summary, result) = try fixture.runOnce()
        #expect(result.status == 0, "stderr: \(result.stderr)")
        // Three failures open the breaker; the rest are deferred without a request. One more
        // may slip out while the third failure is being recorded (the pool holds one fire).
        let sent = dead.stats.requests
        #expect(sent == 3 || sent == 4, "\(sent) requests reached the dead host")
        #expect(healthy.stats.requests == 10)
        #expect(summary["succeeded"] == 10 && summary["deferred"] == 10 && summary["failed"] == 0)
        #expect(fixture.files(in: "deferred").count == 10)
        let heldBack = fixture.files(in: "deferred").map { fixture.read("deferred", $0) }
            .filter { $0.contains("circuit breaker open for 127.0.0.1:\(dead.port)") }
        #expect(heldBack.count == 10 - sent)
    }
}
