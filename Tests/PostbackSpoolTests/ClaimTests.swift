import Foundation
import Glibc
import Synchronization
import Testing
@testable import PostbackSpool

@Suite struct ClaimTests {
    @Test func claimMovesTheFileIntoActiveAndReadsIt() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let name = try spool.ingest(Array((record("t1") + "\n").utf8))
        let file = try #require(try spool.claimNext()?.activeFile)
        #expect(file.name == name)
        #expect(file.contents == Array((record("t1") + "\n").utf8))
        #expect(file.replay == LedgerReplay())
        #expect(!file.recovered)
        #expect(names(in: spool, .incoming).isEmpty)
        #expect(names(in: spool, .active) == [name])
        #expect(try spool.claimNext() == nil)
    }

    @Test func oldestFirstByModificationTimeThenName() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        for (name, age) in [("b", 10), ("a", 10), ("c", 100), ("d", 1)] {
            try spool.ingest([], name: name)
            setMTime(spool.path(of: .incoming) + "/" + name, secondsAgo: age)
        }
        // Same mtime for a and b (set to the same second): name breaks the tie.
        #expect(try spool.pending() == ["c", "a", "b", "d"])
        _ = FileManager.default.createFile(atPath: spool.path(of: .incoming) + "/.rsync.tmp", contents: nil)
        #expect(try spool.pending().contains(".rsync.tmp") == false)
    }

    @Test func aClaimLostToAnotherProcessReturnsNil() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest([], name: "gone")
        unlink(spool.path(of: .incoming) + "/gone")
        #expect(try spool.claim("gone") == nil)
    }

    /// N claimers race over M files: every file is claimed exactly once, none is lost.
    @Test(arguments: [(8, 400)])
    func concurrentClaimersNeverShareAFile(claimers: Int, files: Int) throws {
        let temp = TempDir()
        let spool = try temp.spool()
        for i in 0..<files { try spool.ingest(Array((record("t\(i)") + "\n").utf8), name: String(format: "f%04d", i)) }
        // Separate Spool objects too: separate descriptors, like separate daemons.
        let spools = try (0..<claimers).map { _ in try Spool(root: spool.root) }
        let claimed = Mutex<[String: Int]>([:])
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: claimers) { worker in
            var kept: [ActiveFile] = []
            var rounds = 0
            while rounds < files * 4 {
                rounds += 1
                do {
                    guard let outcome = try spools[worker].claimNext() else { break }
                    guard let file = outcome.activeFile else { failures.withLock { $0.append("quarantined") }; continue }
                    claimed.withLock { $0[file.name, default: 0] += 1 }
                    kept.append(file)  // Held, not finished: a live claim must stay exclusive.
                } catch {
                    failures.withLock { $0.append("\(error)") }
                    break
                }
            }
            for file in kept { try? file.noMatch(line: 1); try? file.finish() }
        }
        #expect(failures.withLock { $0 } == [])
        let counts = claimed.withLock { $0 }
        #expect(counts.count == files)
        #expect(counts.values.allSatisfy { $0 == 1 })
        #expect(names(in: spool, .incoming).isEmpty)
        #expect(names(in: spool, .active).isEmpty)
    }

    @Test func recoverLeavesLiveClaimsAloneAndTakesOrphans() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest(Array((record("a") + "\n" + record("b") + "\n").utf8), name: "batch")
        let first = try #require(try spool.claimNext()?.activeFile)
        try first.succeeded(line: 1, postbackID: 17, attempt: attempt())
        // Another daemon looking for orphans must not take a file whose owner is alive.
        let other = try Spool(root: spool.root)
        #expect(try other.recover().isEmpty)
        // The owner dies (simulated by letting go without finishing): now it is an orphan.
        try first.release()
        let recovered = try other.recover()
        #expect(recovered.count == 1)
        let again = try #require(recovered.first?.activeFile)
        #expect(again.recovered)
        #expect(again.replay.hasOutcome(line: 1, postbackID: 17))
        #expect(!again.replay.hasOutcome(line: 2, postbackID: 17))
        #expect(again.linesWithoutOutcome() == [2])
        // A second look while the new owner holds it finds nothing.
        #expect(try spool.recover().isEmpty)
    }

    @Test func recoverSweepsLedgersWhoseFileIsGone() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        _ = FileManager.default.createFile(atPath: spool.path(of: .active) + "/lost.ledger", contents: Data())
        #expect(try spool.recover().isEmpty)
        #expect(names(in: spool, .active).isEmpty)
    }
}
