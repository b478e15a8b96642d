import Glibc

/// A fire stored in its own file: waiting in `deferred/`, or a dead letter in `failed/` (one
/// that will not be retried unless a person says so).
public struct StoredFire: Sendable, Equatable {
    /// The file name: for a dead letter, the handle `requeue` takes.
    public var id: String
    public var fire: DeferredFire
}

public typealias DeadLetter = StoredFire

extension Spool {
    /// Every dead letter, oldest first, for `postbackctl dead-letters list`.
    public func deadLetters() throws(SpoolError) -> [DeadLetter] {
        var result: [DeadLetter] = []
        for name in try System.list(failed).sorted() where name.hasSuffix(DeferredFire.deadLetterSuffix) && !name.hasPrefix(".") {
            guard let bytes = try readFile(failed, name) else { continue }
            result.append(DeadLetter(id: name, fire: try DeferredFire.decode(bytes, path: failed.join(name))))
        }
        return result
    }

    /// Every fire waiting in `deferred/` (in due order) or dead in `failed/` (oldest first),
    /// for tools that look for one transaction (`postbackctl fires`): a file that is gone or
    /// does not decode is skipped, where `deadLetters()` refuses it.
    public func storedFires(in queue: Queue) throws(SpoolError) -> [StoredFire] {
        let (dir, suffix): (System.Dir, String) = switch queue {
        case .deferred: (deferred, DeferredFire.fileSuffix)
        case .failed: (failed, DeferredFire.deadLetterSuffix)
        default: preconditionFailure("fires are stored in deferred/ and failed/ only, not \(queue)")
        }
        var result: [StoredFire] = []
        for name in try System.list(dir).sorted() where name.hasSuffix(suffix) && !name.hasPrefix(".") {
            guard let bytes = try? readFile(dir, name),
                  let fire = try? DeferredFire.decode(bytes, path: dir.join(name)) else { continue }
            result.append(StoredFire(id: name, fire: fire))
        }
        return result
    }

    /// Sends a dead letter back to `deferred/`, due `now`, with a fresh attempt budget
    /// (`DeferredFire.requeued`). False when it is not there (already requeued by someone else).
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
        let fire = try DeferredFire.decode(try System.readAll(fd, path: failed.join(id), limit: 1 << 20), path: failed.join(id))
            .requeued(now: now)
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
        return try System.readAll(fd, path: dir.join(name), limit: limit)
    }
}
