import Foundation
import Glibc
import Synchronization
import Testing
@testable import PostbackSpool

@Suite struct DeferredTests {
    private let line = Array(record("t-deferred").utf8)

    /// One active file with one record, its fire deferred to `due`.
    private func deferOne(_ spool: Spool, due: Int64, name: String = "batch") throws {
        try spool.ingest(line + [0x0A], name: name)
        let file = try #require(try spool.claim(name)?.activeFile)
        let before = names(in: spool, .deferred)
        try file.deferred(line: 1, postbackID: 17, record: line, attempt: attempt(status: 503),
                          nextDue: due, error: "HTTP 503")
        #expect(names(in: spool, .deferred) == before, "visible only once the batch is flushed")
        try file.finish()
    }

    @Test func aDeferredFireIsWrittenWithEverythingNeededToRetryIt() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try deferOne(spool, due: 5_000)
        let files = names(in: spool, .deferred)
        #expect(files.count == 1)
        #expect(files[0].hasPrefix("000000000005000-") && files[0].hasSuffix(".fire"))
        #expect(names(in: spool, .active).isEmpty && names(in: spool, .tmp).isEmpty)
        let json = try #require(try jsonLines(spool.path(of: .deferred) + "/" + files[0]).first)
        #expect(json["record"] as? String == record("t-deferred"))
        #expect(json["postback_id"] as? Int == 17)
        #expect(json["attempts"] as? Int == 1)
        #expect(json["next_due_ms"] as? Int == 5_000)
        #expect(json["last_error"] as? String == "HTTP 503")
        #expect(json["source"] as? String == "batch")
        #expect((json["history"] as? [Any])?.count == 1)
    }

    @Test func dueListsOnlyWhatIsDueEarliestFirst() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try deferOne(spool, due: 3_000, name: "a")
        try deferOne(spool, due: 1_000, name: "b")
        try deferOne(spool, due: 9_000, name: "c")
        #expect(try spool.due(now: 999).isEmpty)
        #expect(try spool.due(now: 3_000).map(\.due) == [1_000, 3_000])
        #expect(try spool.due(now: 10_000, limit: 1).map(\.due) == [1_000])
        // One listing also says when the rest is due: the first past the limit, or not yet due.
        #expect(try spool.schedule(now: 3_000).nextDue == 9_000)
        #expect(try spool.schedule(now: 10_000, limit: 1).nextDue == 3_000)
        #expect(try spool.schedule(now: 10_000).nextDue == nil)
        #expect(try spool.schedule(now: 500).due.isEmpty && spool.schedule(now: 500).nextDue == 1_000)
    }

    @Test func takeIsExclusiveAndRescheduleCountsTheAttempt() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try deferOne(spool, due: 1_000)
        let ticket = try #require(try spool.due(now: 2_000).first)
        let taken = try #require(try spool.take(ticket))
        #expect(try Spool(root: spool.root).take(ticket) == nil, "a second daemon cannot take it")
        #expect(try spool.due(now: 2_000).isEmpty)
        #expect(taken.fire.record == line)
        #expect(taken.fire.attempts == 1)
        try taken.reschedule(nextDue: 60_000, attempt: attempt(status: 502), error: "HTTP 502")
        #expect(throws: SpoolError.self) { try taken.succeeded(attempt: attempt()) }
        let again = try #require(try spool.due(now: 60_000).first)
        #expect(again.due == 60_000)
        let second = try #require(try spool.take(again))
        #expect(second.fire.attempts == 2)
        #expect(second.fire.lastError == "HTTP 502")
        #expect(second.fire.history.map(\.httpStatus) == [503, 502])
        try second.succeeded(attempt: attempt())
        #expect(names(in: spool, .deferred).isEmpty && names(in: spool, .active).isEmpty)
    }

    @Test func concurrentTakersShareNothing() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        for i in 0..<60 { try deferOne(spool, due: Int64(i), name: "f\(i)") }
        let spools = try (0..<6).map { _ in try Spool(root: spool.root) }
        let taken = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { worker in
            for ticket in (try? spools[worker].due(now: 1_000)) ?? [] {
                guard let fire = try? spools[worker].take(ticket) else { continue }
                taken.withLock { $0.append(fire.name) }
                try? fire.succeeded(attempt: attempt())
            }
        }
        let all = taken.withLock { $0 }
        #expect(all.count == 60 && Set(all).count == 60)
    }

    @Test func deferredFiresSurviveReopeningTheSpool() throws {
        let temp = TempDir()
        do {
            let spool = try temp.spool()
            try deferOne(spool, due: 1_000)
        }
        let reopened = try temp.spool()
        let ticket = try #require(try reopened.due(now: 1_000).first)
        #expect(try reopened.take(ticket)?.fire.postbackID == 17)
    }

    @Test func aTakenFireWhoseDaemonDiedIsRecovered() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try deferOne(spool, due: 1_000)
        var taken = Optional(try takeFirstDue(spool, now: 1_000))
        #expect(try spool.recoverTakenFires().isEmpty, "its owner is alive")
        taken = nil  // the owner dies: the kernel drops its lock
        _ = taken
        let recovered = try spool.recoverTakenFires()
        #expect(recovered.count == 1)
        try recovered[0].release()
        #expect(try spool.due(now: 1_000).count == 1, "released back to deferred/, due as before")
    }

    @Test func deadLettersCanBeListedAndRequeued() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try deferOne(spool, due: 1_000)
        let taken = try takeFirstDue(spool, now: 1_000)
        try taken.deadLetter(attempt: attempt(status: 500), error: "HTTP 500 after 10 attempts")
        #expect(names(in: spool, .deferred).isEmpty)

        let dead = try spool.deadLetters()
        #expect(dead.count == 1)
        #expect(dead[0].fire.lastError == "HTTP 500 after 10 attempts")
        #expect(dead[0].fire.attempts == 2)
        #expect(dead[0].fire.failedAt != nil)

        #expect(try spool.requeue(dead[0].id, now: 42_000))
        #expect(try spool.requeue(dead[0].id, now: 42_000) == false, "already requeued")
        #expect(try spool.deadLetters().isEmpty)
        let ticket = try #require(try spool.due(now: 42_000).first)
        let back = try #require(try spool.take(ticket))
        #expect(back.fire.attempts == 0 && back.fire.nextDue == 42_000 && back.fire.failedAt == nil)
        #expect(back.fire.record == line)
    }

    @Test func aPermanentFailureGoesStraightToFailed() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest(line + [0x0A], name: "batch")
        let file = try #require(try spool.claimNext()?.activeFile)
        try file.failed(line: 1, postbackID: 17, record: line, attempt: attempt(status: 404), error: "HTTP 404")
        try file.finish()
        let dead = try spool.deadLetters()
        #expect(dead.map(\.fire.lastError) == ["HTTP 404"])
        #expect(dead[0].fire.source == "batch" && dead[0].fire.line == 1)
    }

    @Test func aRecordThatIsNotUTF8SurvivesTheRoundTrip() throws {
        var fire = DeferredFire(source: "s", line: 1, postbackID: 1, record: [0x7B, 0xFF, 0x7D], attempts: 1,
                                firstAttempt: 1, nextDue: 2, lastError: "e")
        fire.remember(attempt(), limit: 1, answerLimit: 2)
        fire.remember(attempt(status: 500), limit: 1, answerLimit: 2)
        #expect(fire.history.map(\.httpStatus) == [500] && fire.history[0].answerPrefix == Array("OK".utf8))
        #expect(try DeferredFire.decode(fire.encoded(), path: "test") == fire)
    }
}
