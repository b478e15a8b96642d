import Foundation
import Glibc
import Testing
@testable import PostbackSpool

@Suite struct LedgerTests {
    private func claimed(_ spool: Spool, lines: Int, name: String = "batch") throws -> ActiveFile {
        let body = (1...lines).map { record("t\($0)") }.joined(separator: "\n") + "\n"
        try spool.ingest(Array(body.utf8), name: name)
        return try #require(try spool.claimNext()?.activeFile)
    }

    private func ledgerLines(_ spool: Spool, _ name: String = "batch") -> [Substring] {
        text(spool.path(of: .active) + "/" + name + ".ledger").split(separator: "\n")
    }

    @Test func appendsAreGroupCommittedByCount() throws {
        let temp = TempDir()
        let spool = try temp.spool { $0.ledgerBatchEntries = 4; $0.ledgerBatchInterval = .seconds(3600) }
        let file = try claimed(spool, lines: 10)
        for line in 1...3 { try file.succeeded(line: line, postbackID: 17, attempt: attempt()) }
        #expect(ledgerLines(spool).isEmpty, "nothing written before the batch fills")
        try file.succeeded(line: 4, postbackID: 17, attempt: attempt())
        #expect(ledgerLines(spool).count == 4)
        try file.noMatch(line: 5)
        #expect(ledgerLines(spool).count == 4)
        try file.flush()
        #expect(ledgerLines(spool).count == 5)
    }

    @Test func appendsAreGroupCommittedByTime() throws {
        let temp = TempDir()
        let spool = try temp.spool { $0.ledgerBatchEntries = 1000; $0.ledgerBatchInterval = .milliseconds(20) }
        let file = try claimed(spool, lines: 3)
        try file.succeeded(line: 1, postbackID: 17, attempt: attempt())
        try file.flushIfDue()
        #expect(ledgerLines(spool).isEmpty)
        usleep(30_000)
        try file.flushIfDue()
        #expect(ledgerLines(spool).count == 1)
        // An append after the interval flushes inline, without waiting for a tick.
        try file.succeeded(line: 2, postbackID: 17, attempt: attempt())
        usleep(30_000)
        try file.succeeded(line: 3, postbackID: 17, attempt: attempt())
        #expect(ledgerLines(spool).count == 3)
    }

    @Test func entriesAreValidJSONWithTheAttemptHistory() throws {
        let temp = TempDir()
        let spool = try temp.spool { $0.answerPrefixBytes = 8 }
        let file = try claimed(spool, lines: 2)
        let sent = FireAttempt(time: 1_712_345_678_123_456, url: "https://p.example/pb?c=a%20b&t=\"x\"",
                               httpStatus: 503, error: "", latencyMicros: 98_765,
                               answerPrefix: Array("busy\n\t\u{1}é, try later".utf8))
        try file.attempted(line: 1, postbackID: 17, attempt: sent)
        try file.succeeded(line: 1, postbackID: 17, attempt: attempt(status: 204, answer: ""))
        try file.noMatch(line: 2)
        try file.flush()
        let entries = try jsonLines(spool.path(of: .active) + "/batch.ledger")
        #expect(entries.count == 3)
        #expect(entries[0]["outcome"] as? String == "attempt")
        #expect(entries[0]["url"] as? String == sent.url)
        #expect(entries[0]["status"] as? Int == 503)
        #expect(entries[0]["latency_us"] as? Int == 98_765)
        #expect(entries[0]["t"] as? Int == 1_712_345_678_123_456)
        // Bounded to 8 bytes; control and non-ASCII bytes escaped one by one.
        #expect(entries[0]["answer"] as? String == "busy\n\t\u{1}\u{C3}")
        #expect(entries[1]["outcome"] as? String == "succeeded")
        #expect(entries[1]["pb"] as? Int == 17)
        #expect(entries[2]["outcome"] as? String == "no_match")
        #expect(entries[2]["pb"] as? Int == 0)
    }

    @Test func replayReturnsFinalOutcomesOnly() throws {
        let ledger = """
        {"line":1,"pb":17,"outcome":"succeeded","t":1}
        {"line":1,"pb":18,"outcome":"attempt","t":1}
        {"line":2,"pb":0,"outcome":"no_match"}
        {"line":3,"pb":0,"outcome":"rejected","reason":"x"}
        {"line":4,"pb":17,"outcome":"deferred","next_due_ms":5}
        {"line":4,"pb":18,"outcome":"failed"}
        garbage
        {"line":5,"pb":17,"outcome":"succ
        """
        let replay = LedgerReplay(bytes: Array(ledger.utf8))
        #expect(replay.finished == [
            FireKey(line: 1, postbackID: 17), FireKey(line: 2, postbackID: 0), FireKey(line: 3, postbackID: 0),
            FireKey(line: 4, postbackID: 17), FireKey(line: 4, postbackID: 18),
        ])
        #expect(replay.hasOutcome(line: 1, postbackID: 17))
        #expect(!replay.hasOutcome(line: 1, postbackID: 18), "an attempt is history, not an outcome")
        #expect(replay.hasOutcome(line: 2, postbackID: 99), "a record-level outcome covers every postback")
        #expect(!replay.hasOutcome(line: 5, postbackID: 17), "the torn line is ignored")
        #expect(replay.tornBytes == "{\"line\":5,\"pb\":17,\"outcome\":\"succ".utf8.count)
        #expect(replay.unreadableLines == 1)
        #expect(replay.lines == [1, 2, 3, 4])
    }

    /// A crash mid-write: the restarted daemon fires only what has no outcome, and the torn
    /// tail is cut so the next entry starts on a line of its own.
    @Test func recoveryAfterATornWriteResumesAndRepairsTheLedger() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let file = try claimed(spool, lines: 3)
        try file.succeeded(line: 1, postbackID: 17, attempt: attempt())
        try file.release()
        let ledgerPath = spool.path(of: .active) + "/batch.ledger"
        let handle = try #require(FileHandle(forWritingAtPath: ledgerPath))
        handle.seekToEndOfFile()
        handle.write(Data("{\"line\":2,\"pb\":17,\"outco".utf8))
        handle.closeFile()

        let resumed = try #require(try Spool(root: spool.root).recover().first?.activeFile)
        #expect(resumed.replay.finished == [FireKey(line: 1, postbackID: 17)])
        #expect(resumed.replay.tornBytes > 0)
        #expect(resumed.linesWithoutOutcome() == [2, 3])
        try resumed.succeeded(line: 2, postbackID: 17, attempt: attempt())
        try resumed.release()
        let replay = LedgerReplay(bytes: contents(ledgerPath))
        #expect(replay.tornBytes == 0 && replay.unreadableLines == 0)
        #expect(replay.finished == [FireKey(line: 1, postbackID: 17), FireKey(line: 2, postbackID: 17)])
    }

    @Test func finishRefusesWhileARecordHasNoOutcome() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest(Array((record("a") + "\n\n  \r\n" + record("b") + "\r\n").utf8), name: "batch")
        let file = try #require(try spool.claimNext()?.activeFile)
        #expect(file.linesWithoutOutcome() == [1, 4], "blank lines are not records")
        try file.succeeded(line: 1, postbackID: 17, attempt: attempt())
        let error = try #require(throws: SpoolError.self) { try file.finish() }
        #expect(error.code == .unfinished)
        #expect(error.description.contains("4"))
        try file.noMatch(line: 4)
        try file.finish()
        #expect(names(in: spool, .active).isEmpty)
        #expect(throws: SpoolError.self) { try file.noMatch(line: 4) }
    }

    @Test func retentionKeepsFinishedFilesInDoneUntilPruned() throws {
        let temp = TempDir()
        let spool = try temp.spool { $0.doneRetention = .seconds(3600) }
        let file = try claimed(spool, lines: 1)
        try file.succeeded(line: 1, postbackID: 17, attempt: attempt())
        try file.finish()
        #expect(names(in: spool, .active).isEmpty)
        #expect(names(in: spool, .done) == ["batch", "batch.ledger"])
        #expect(try spool.prune() == 0, "fresh: kept")
        for name in names(in: spool, .done) { setMTime(spool.path(of: .done) + "/" + name, secondsAgo: 7200) }
        #expect(try spool.prune() == 2)
        #expect(names(in: spool, .done).isEmpty)
    }

    @Test func pruneSweepsAbandonedTmpFilesOnlyWhenOld() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let tmp = spool.path(of: .tmp)
        _ = FileManager.default.createFile(atPath: tmp + "/writing", contents: Data())
        _ = FileManager.default.createFile(atPath: tmp + "/abandoned", contents: Data())
        setMTime(tmp + "/abandoned", secondsAgo: 37 * 3600)
        #expect(try spool.prune() == 1)
        #expect(names(in: spool, .tmp) == ["writing"])
    }

    @Test func outcomesFromManyThreadsAllLand() throws {
        let temp = TempDir()
        let spool = try temp.spool { $0.ledgerBatchEntries = 64 }
        let file = try claimed(spool, lines: 2000)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for line in stride(from: worker + 1, through: 2000, by: 4) {
                try! file.succeeded(line: line, postbackID: 17, attempt: attempt())
            }
        }
        try file.flush()
        let replay = LedgerReplay(bytes: contents(spool.path(of: .active) + "/batch.ledger"))
        #expect(replay.finished.count == 2000)
        #expect(replay.unreadableLines == 0)
        #expect(file.linesWithoutOutcome().isEmpty)
        try file.finish()
    }
}
