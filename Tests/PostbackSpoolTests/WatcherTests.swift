import Foundation
import Glibc
import Testing
@testable import PostbackSpool

@Suite struct WatcherTests {
    @Test func aRenameIntoIncomingWakesTheWatcherAtOnce() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let watcher = try SpoolWatcher(spool: spool, rescanInterval: .seconds(60))
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { _ = try? spool.ingest([1]) }
        // `.changed`, not a timeout: the rename woke it. (No bound on the elapsed time: a
        // loaded machine may run the rename late, which says nothing about the watcher.)
        #expect(watcher.wait(timeout: .seconds(60)) == .changed)
        // Drained: a quiet spool now times out into a rescan.
        #expect(watcher.wait(timeout: .milliseconds(50)) == .rescan)
    }

    @Test func aRequeueIntoDeferredWakesTheWatcher() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let watcher = try SpoolWatcher(spool: spool)
        let fire = DeferredFire(source: "s", line: 1, postbackID: 1, record: [], attempts: 0, firstAttempt: 0, nextDue: 0, lastError: "")
        try spool.writeDurably(fire.encoded(), named: fire.deferredFileName(), into: spool.deferred)
        #expect(watcher.wait(timeout: .seconds(2)) == .changed)
        #expect(watcher.takeDeferredChanged(), "the event was deferred/'s")
        #expect(!watcher.takeDeferredChanged(), "and is reported once")
    }

    @Test func aFileInIncomingIsNotADeferredChange() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let watcher = try SpoolWatcher(spool: spool, rescanInterval: .seconds(60))
        _ = try spool.ingest([1])
        #expect(watcher.wait(timeout: .seconds(60)) == .changed)
        #expect(!watcher.takeDeferredChanged())
    }

    @Test func closeEndsAWait() throws {
        let temp = TempDir()
        let watcher = try SpoolWatcher(spool: try temp.spool())
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { watcher.close() }
        #expect(watcher.wait(timeout: .seconds(5)) == .closed)
        #expect(watcher.wait(timeout: .seconds(5)) == .closed)
    }

    @Test func theAsyncStreamDeliversChangesAndRescans() async throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let watcher = try SpoolWatcher(spool: spool, rescanInterval: .milliseconds(100))
        var wakes = watcher.wakeUps().makeAsyncIterator()
        // Nothing happens: the safety-net rescan still comes, within the interval plus slack.
        let first = await wakes.next()
        #expect(first == .rescan)
        try spool.ingest([1])
        var sawChange = false
        for _ in 0..<5 where !sawChange {
            sawChange = await wakes.next() == .changed
        }
        #expect(sawChange)
        watcher.close()
        var ended = false
        for _ in 0..<5 where !ended { ended = await wakes.next() == nil }
        #expect(ended)
    }

    /// The rescan is what finds files the kernel did not report: here, files already waiting
    /// before the watcher started.
    @Test func theRescanFindsFilesThatCameWithoutAnEvent() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest([], name: "early")
        let watcher = try SpoolWatcher(spool: spool, rescanInterval: .milliseconds(50))
        #expect(watcher.wait(timeout: watcher.rescanInterval) == .rescan)
        #expect(try spool.pending() == ["early"])
    }
}
