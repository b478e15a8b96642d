import Foundation
import Glibc
import PostbackCore
import Testing
@testable import PostbackSpool

@Suite struct AccountingTests {
    /// The daemon's loop in miniature, driven by the real record parser: every record line
    /// ends as exactly one of rejected / no match / fired, and every fire as one outcome.
    @Test func countersBalanceThroughAMixedFile() throws {
        let temp = TempDir()
        let spool = try temp.spool { $0.ledgerBatchEntries = 3 }
        let body = [
            record("t1", partner: 7),  // 2 postbacks: succeeded + deferred
            "{not json",  // rejected
            record("t2", partner: 8),  // no match
            "",
            record("t3", partner: 7),  // 2 postbacks: failed + succeeded
            "{\"kind\":\"event\",\"transaction_id\":\"t4\",\"partner_id\":7,\"offer_id\":3}",  // rejected: no event_id
        ].joined(separator: "\n") + "\n"
        try spool.ingest(Array(body.utf8), name: "mixed")
        let file = try #require(try spool.claimNext()?.activeFile)
        var outcomes = 0
        let rawLines = file.contents.split(separator: 0x0A, omittingEmptySubsequences: false)
        try RecordParser.parseLines(file.contents) { line, result in
            let raw = rawLines[line - 1]
            switch result {
            case .failure(let rejection):
                try file.rejected(line: line, reason: rejection.reason, raw: raw)
            case .success(let record) where record.partnerID != 7:
                try file.noMatch(line: line)
            case .success(let record):
                for postbackID: Int64 in [17, 18] {
                    switch (record.transactionID, postbackID) {
                    case ("t1", 18):
                        try file.deferred(line: line, postbackID: postbackID, record: raw, attempt: attempt(status: 503),
                                          nextDue: 1, error: "HTTP 503")
                    case ("t3", 17):
                        try file.failed(line: line, postbackID: postbackID, record: raw, attempt: attempt(status: 410), error: "HTTP 410")
                    default:
                        try file.succeeded(line: line, postbackID: postbackID, attempt: attempt())
                    }
                }
            }
            outcomes += 1
        }
        #expect(outcomes == 5)
        try file.finish()

        var expected = SpoolTally()
        (expected.records, expected.recordsFired, expected.noMatch, expected.rejected) = (5, 2, 1, 2)
        (expected.fires, expected.succeeded, expected.deferred, expected.failed) = (4, 2, 1, 1)
        #expect(spool.counters.snapshot == expected)
        #expect(expected.isBalanced)
        #expect(spool.counters.snapshot.summaryJSON(seconds: 0.5)
                == #"{"records":5,"fires":4,"succeeded":2,"deferred":1,"failed":1,"no_match":1,"rejected":2,"seconds":0.5}"#)

        // The deferred fire, retried and succeeding, counts as a fire again, not a record.
        let taken = try takeFirstDue(spool, now: 1)
        try taken.succeeded(attempt: attempt())
        let after = spool.counters.snapshot
        #expect(after.records == 5 && after.fires == 5 && after.succeeded == 3 && after.isBalanced)

        let status = try spool.status()
        #expect(status.failed.count == 1)
        #expect(status.deferred.count == 0)
        #expect(status.incoming.count == 0 && status.active.count == 0)
        #expect(names(in: spool, .bad) == ["mixed.rejected"])
        #expect(try jsonLines(spool.path(of: .bad) + "/mixed.rejected").map { $0["line"] as? Int } == [2, 6])
    }

    @Test func aRecordResumedAfterACrashIsNotCountedTwice() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest(Array((record("a") + "\n").utf8), name: "f")
        let file = try #require(try spool.claimNext()?.activeFile)
        try file.succeeded(line: 1, postbackID: 17, attempt: attempt())
        try file.release()
        let resumed = try #require(try spool.recover().first?.activeFile)
        try resumed.succeeded(line: 1, postbackID: 18, attempt: attempt())
        try resumed.finish()
        let tally = spool.counters.snapshot
        #expect(tally.records == 1 && tally.fires == 2 && tally.isBalanced)
    }

    @Test func statusCountsEachQueueAndItsOldestAge() throws {
        let temp = TempDir()
        let spool = try temp.spool { $0.maxFileBytes = 4 }
        try spool.ingest([], name: "old")
        try spool.ingest([], name: "new")
        setMTime(spool.path(of: .incoming) + "/old", secondsAgo: 120)
        try spool.ingest(Array("too large".utf8), name: "big")
        setMTime(spool.path(of: .incoming) + "/big", secondsAgo: 600)
        _ = try spool.claim("big")  // quarantined
        let held = try spool.claim("new")?.activeFile
        #expect(held != nil)
        let status = try spool.status()
        #expect(status.incoming.count == 1)
        #expect(status.incoming.oldestAgeSeconds >= 119 && status.incoming.oldestAgeSeconds < 200)
        #expect(status.active.count == 1)
        #expect(status.bad.count == 1)
        #expect(status.deferred.count == 0 && status.failed.count == 0)
        let json = String(decoding: try JSONEncoder().encode(status), as: UTF8.self)
        #expect(json.contains("\"oldest_age_seconds\""))
    }
}
