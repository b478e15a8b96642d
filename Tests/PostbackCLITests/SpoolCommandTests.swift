import Foundation
import PostbackSpool
import PostbackTestSupport
import Testing

@Suite("postbackctl spool: queue counts, oldest ages, accounting from the ledgers on disk")
struct SpoolCommandTests {
    let t0: Int64 = 1_764_000_000_000

    /// A spool built through the spool's own API: one finished file (kept in done/) whose lines
    /// succeeded, were deferred and dead-lettered, matched nothing and were rejected; one
    /// quarantined file; two files waiting. Every file's mtime is pinned so ages are exact.
    func makeSpool(_ f: OperatorFixture) throws {
        var configuration = SpoolConfiguration()
        configuration.doneRetention = .seconds(3600)
        let spool = try Spool(root: f.spool, configuration: configuration)
        let lines = [conversion("a"), conversion("b"), conversion("n", partner: 99), "not json"]
        try spool.ingest(Array((lines.joined(separator: "\n") + "\n").utf8), name: "first.jsonl")
        guard case .active(let file)? = try spool.claimNext() else { Issue.record("no claim"); return }
        let sent = t0 * 1000
        try file.succeeded(line: 1, postbackID: 1, attempt: FireAttempt(time: sent, url: "http://p.example/1", httpStatus: 204, latencyMicros: 900))
        try file.deferred(line: 2, postbackID: 1, record: Array(lines[1].utf8),
                          attempt: FireAttempt(time: sent, url: "http://p.example/2", httpStatus: 503, error: "HTTP 503", latencyMicros: 800),
                          nextDue: t0 + 1000, error: "HTTP 503")
        try file.failed(line: 2, postbackID: 2, record: Array(lines[1].utf8),
                        attempt: FireAttempt(time: sent, url: "http://p.example/3", httpStatus: 404, error: "HTTP 404", latencyMicros: 700),
                        error: "HTTP 404")
        try file.noMatch(line: 3)
        try file.rejected(line: 4, reason: "not a JSON object; each line must be one record {...}", raw: Array(lines[3].utf8))
        try file.finish()
        try spool.ingest([0x00, 0x01], name: "binary.dat")
        guard case .quarantined? = try spool.claimNext() else { Issue.record("not quarantined"); return }
        try spool.ingest(Array((conversion("w1") + "\n").utf8), name: "waiting-1.jsonl")
        try spool.ingest(Array((conversion("w2") + "\n").utf8), name: "waiting-2.jsonl")
        for queue in ["deferred", "failed", "bad", "done"] {
            for name in f.files(in: queue) { try setModificationTime(f.spool + "/\(queue)/" + name, millis: t0 + 10_000) }
        }
        try setModificationTime(f.spool + "/incoming/waiting-1.jsonl", millis: t0)
        try setModificationTime(f.spool + "/incoming/waiting-2.jsonl", millis: t0 + 30_000)
    }

    @Test func tableFromTheConfigsSpool() throws {
        let f = try OperatorFixture(catalog: catalogText([]))
        try makeSpool(f)
        let r = try f.ctl(["spool", "--config", f.configPath, "--now", String(t0 + 65_000)])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "")
        #expect(r.stdout == """
            QUEUE     COUNT  OLDEST
            incoming  2      1m05s
            active    0      -
            deferred  1      55s     1 due
            failed    1      55s     dead letters: postbackctl dead-letters list
            bad       1      55s
            done      1      55s
            accounting: 4 records (2 fired, 1 no_match, 1 rejected), 3 fires (1 succeeded, 1 deferred, 1 failed) in 1 ledger of active/ and done/

            """)
    }

    @Test func jsonWithSpoolFlag() throws {
        let f = try OperatorFixture(catalog: catalogText([]))
        try makeSpool(f)
        let r = try f.ctl(["spool", "--spool", f.spool, "--json", "--now", String(t0 + 65_500)])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "{\"spool\":\"\(f.spool)\",\"queues\":{\"incoming\":{\"count\":2,\"oldest_age_seconds\":65.500},"
            + "\"active\":{\"count\":0,\"oldest_age_seconds\":0,\"deferred_fires\":0},"
            + "\"deferred\":{\"count\":1,\"oldest_age_seconds\":55.500,\"due\":1},\"failed\":{\"count\":1,\"oldest_age_seconds\":55.500},"
            + "\"bad\":{\"count\":1,\"oldest_age_seconds\":55.500},\"done\":{\"count\":1,\"oldest_age_seconds\":55.500}},"
            + "\"accounting\":{\"ledgers\":1,\"records\":4,\"records_fired\":2,\"no_match\":1,\"rejected\":1,\"fires\":3,"
            + "\"succeeded\":1,\"deferred\":1,\"failed\":1,\"unreadable_lines\":0}}\n")
    }

    @Test func emptySpoolWithoutRetentionSaysWhereTheHistoryIs() throws {
        let f = try OperatorFixture(catalog: catalogText([]), settings: ["done_retention": "0"])
        _ = try Spool(root: f.spool)
        let r = try f.ctl(["spool", "--config", f.configPath])
        #expect(r.status == 0)
        #expect(r.stdout.hasSuffix("""
            done      0      -
            accounting: no ledgers in active/ or done/ (finished files are not kept: done_retention = 0; the journal has the history)

            """))
    }

    @Test func aMissingSpoolIsAnErrorNotAnEmptySpool() throws {
        let f = try OperatorFixture(catalog: catalogText([]))
        let r = try f.ctl(["spool", "--spool", f.root + "/nope"])
        #expect(r.status == 1)
        #expect(r.stderr == "spool \(f.root)/nope: no such directory\n")
        #expect(!FileManager.default.fileExists(atPath: f.root + "/nope"))
    }

    @Test func aBrokenConfigNamesTheKey() throws {
        let f = try OperatorFixture(catalog: catalogText([]), settings: ["max_attempts": "lots"])
        let r = try f.ctl(["spool", "--config", f.configPath])
        #expect(r.status == 1)
        #expect(r.stderr == "config: \(f.configPath):5: max_attempts: expected a whole number from 1 to 1000, got \"lots\"\n")
    }
}
