import Foundation
import Glibc
import Testing
@testable import PostbackSpool

/// The closer is checked through pipes: a pipe's read end sees end-of-file once every write
/// end is closed, and "would block" while one is open, whatever numbers the kernel reuses.
@Suite struct RemovedFileCloserTests {
    @Test func closesWhatItIsHandedAndSaysWhenItHas() throws {
        let closer = RemovedFileCloser(limit: 64)
        let pipes = try (0..<16).map { _ in try Pipe() }
        closer.close(pipes.map(\.write))
        closer.waitUntilClosed()
        #expect(pipes.allSatisfy { $0.readSeesEndOfFile() })
        #expect(closer.pending == 0)
    }

    @Test func pastItsLimitTheCallerClosesItsOwn() throws {
        let closer = RemovedFileCloser(limit: 2)
        let pipes = try (0..<3).map { _ in try Pipe() }
        // Three at once is over the limit: closed in this call, before it returns.
        closer.close(pipes.map(\.write))
        #expect(pipes.allSatisfy { $0.readSeesEndOfFile() })
        #expect(closer.pending == 0)
    }

    /// Finishing removes the file at once; its last descriptor (the claim's lock) is the
    /// closer's to close, and gone once the closer says so.
    @Test func aFinishedFileKeepsNoDescriptorOnceTheCloserIsDone() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        _ = try spool.ingest(Array((record("t1") + "\n").utf8))
        let file = try #require(try spool.claimNext()?.activeFile)
        #expect(descriptors(under: spool.root + "/active").count == 1, "the claim holds its lock descriptor")
        try file.succeeded(line: 1, postbackID: 1, attempt: attempt())
        try file.finish()
        spool.closer.waitUntilClosed()
        #expect(descriptors(under: spool.root + "/active").isEmpty)
        #expect(try spool.pending().isEmpty)
    }

    /// The same for a deferred fire taken for its retry: its removal's last close is the
    /// closer's too, and `taken` still being alive does not hold the descriptor.
    @Test func aTakenFireThatSucceededKeepsNoDescriptorOnceTheCloserIsDone() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let line = Array(record("t-retry").utf8)
        try spool.ingest(line + [0x0A], name: "batch")
        let file = try #require(try spool.claim("batch")?.activeFile)
        try file.deferred(line: 1, postbackID: 17, record: line, attempt: attempt(status: 503), nextDue: 1_000, error: "HTTP 503")
        try file.finish()
        spool.closer.waitUntilClosed()
        let ticket = try #require(try spool.due(now: 2_000).first)
        let taken = try #require(try spool.take(ticket))
        #expect(descriptors(under: spool.root + "/active").count == 1, "the taken fire holds its lock descriptor")
        try taken.succeeded(attempt: attempt())
        spool.closer.waitUntilClosed()
        #expect(descriptors(under: spool.root + "/active").isEmpty)
        withExtendedLifetime(taken) {}
    }
}

private struct Pipe {
    let read: Int32
    let write: Int32

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        (read, write) = (fds[0], fds[1])
    }

    /// Reads once without blocking, then closes the read end.
    func readSeesEndOfFile() -> Bool {
        var byte: UInt8 = 0
        let n = Glibc.read(read, &byte, 1)
        Glibc.close(read)
        return n == 0
    }
}

/// What this process's descriptors open below `root` (not `root` itself: the spool keeps
/// its queue directories open) (`/proc/self/fd` links; a removed
/// file shows as its old path with " (deleted)"): only this test's files, whatever other
/// tests running beside it open.
private func descriptors(under root: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
        .filter { $0.hasPrefix(root + "/") }
}
