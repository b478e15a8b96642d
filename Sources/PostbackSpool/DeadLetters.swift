import Glibc

/// A fire that will not be retried unless a person says so.
public struct DeadLetter: Sendable, Equatable {
    /// The file name in `failed/`: the handle `requeue` takes.
    public var id: String
    public var fire: DeferredFire
}

extension Spool {
    /// Every dead letter, oldest first, for `postbackctl dead-letters list`.
    public func deadLetters() throws(SpoolError) -> [DeadLetter] {
        var result: [DeadLetter] = []
        for name in try System.list(failed).sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
            guard let bytes = try readFile(failed, name) else { continue }
            result.append(DeadLetter(id: name, fire: try DeferredFire.decode(bytes, path: failed.join(name))))
        }
        return result
    }

    /// Sends a dead letter back to `deferred/`, due `now`, with a fresh attempt budget (the
    /// partner fixed their endpoint; the old attempts say nothing about the new one).
    /// False when it is not there (already requeued by someone else).
    @discardableResult
    public func requeue(_ id: String, now: Int64) throws(SpoolError) -> Bool {
        guard UniqueName.isValid(id), !id.hasPrefix(".") else { return false }
        let fd: Int32
        do {
            fd = try System.openAt(failed, id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch where error.errno == ENOENT {
            return false
        }
        defer { System.close(fd) }
        // The lock makes two concurrent requeues of one id produce one deferred fire.
        guard try System.tryLock(fd, path: failed.join(id)), try Spool.sameFile(fd, failed, id) else { return false }
        var fire = try DeferredFire.decode(try readAll(fd, path: failed.join(id), limit: 1 << 20), path: failed.join(id))
        fire.attempts = 0
        fire.firstAttempt = now
        fire.nextDue = now
        fire.failedAt = nil
        // New file first, then the old one: a crash in between duplicates, never loses.
        try writeDurably(fire.encoded(), named: fire.deferredFileName(), into: deferred)
        try System.unlink(failed, id)
        try System.fsync(failed)
        return true
    }

    /// A small file's bytes, nil if it is gone; never follows a symlink.
    func readFile(_ dir: System.Dir, _ name: String, limit: Int = 1 << 20) throws(SpoolError) -> [UInt8]? {
        let fd: Int32
        do {
            fd = try System.openAt(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch where error.errno == ENOENT {
            return nil
        }
        defer { System.close(fd) }
        return try readAll(fd, path: dir.join(name), limit: limit)
    }
}
