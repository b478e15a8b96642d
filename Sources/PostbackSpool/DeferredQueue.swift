import Glibc
import Synchronization

/// A deferred fire in `deferred/`, not yet taken: cheap to list (nothing is opened).
public struct DeferredTicket: Sendable, Hashable {
    /// The file name in `deferred/`.
    public var name: String
    /// Unix milliseconds, read from the name.
    public var due: Int64
}

extension Spool {
    /// Deferred fires due at or before `now` (Unix ms), earliest first. Listing reads only
    /// names, so a queue of a million waiting fires costs no file opens.
    public func due(now: Int64, limit: Int = .max) throws(SpoolError) -> [DeferredTicket] {
        try schedule(now: now, limit: limit).due
    }

    /// `due(now:limit:)` and, from the same listing, the earliest due time of the fires it
    /// leaves (nil when none): the first one past `limit`, else the first not yet due.
    public func schedule(now: Int64, limit: Int = .max) throws(SpoolError) -> (due: [DeferredTicket], nextDue: Int64?) {
        var tickets: [DeferredTicket] = []
        var later: Int64? = nil
        for name in try System.list(deferred) {
            guard let due = DeferredFire.due(fromFileName: name) else { continue }
            if due <= now {
                tickets.append(DeferredTicket(name: name, due: due))
            } else if later.map({ due < $0 }) ?? true {
                later = due
            }
        }
        tickets.sort { $0.due != $1.due ? $0.due < $1.due : $0.name < $1.name }
        guard tickets.count > limit else { return (tickets, later) }
        return (Array(tickets.prefix(limit)), tickets[limit].due)
    }

    /// Takes a deferred fire for this process: lock, re-check, rename into `active/` (the same
    /// protocol as `claim`). nil when another daemon took it first.
    public func take(_ ticket: DeferredTicket) throws(SpoolError) -> TakenFire? {
        let fd: Int32
        do {
            fd = try System.openAt(deferred, ticket.name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch where error.errno == ENOENT {
            return nil
        }
        do {
            guard try lockAndMove(fd, from: deferred, ticket.name, to: active, ticket.name) != nil else {
                System.close(fd)
                return nil
            }
            return try loadTaken(fd: fd, name: ticket.name)
        } catch {
            System.close(fd)
            throw error
        }
    }

    /// Taken fires whose daemon died before completing them; the fire is retried now.
    public func recoverTakenFires() throws(SpoolError) -> [TakenFire] {
        var result: [TakenFire] = []
        for name in try System.list(active).sorted() where name.hasSuffix(DeferredFire.fileSuffix) {
            guard let fd = try lockOrphan(name) else { continue }
            do {
                result.append(try loadTaken(fd: fd, name: name))
            } catch {
                System.close(fd)
                throw error
            }
        }
        return result
    }

    private func loadTaken(fd: Int32, name: String) throws(SpoolError) -> TakenFire {
        let bytes = try System.readAll(fd, path: active.join(name), limit: 1 << 20)
        do {
            return TakenFire(spool: self, name: name, lockFD: fd, fire: try DeferredFire.decode(bytes, path: active.join(name)))
        } catch {
            // Unreadable metadata must not block the queue: move it aside for a person.
            _ = try quarantineUnopened(name, from: active, reason: error.description)
            throw error
        }
    }

}

/// A deferred fire this process has taken: send it, then say exactly once how it went.
///
/// Each ending is durable when it returns, except `succeeded`, whose removal is not
/// fsync'd: losing it to a power cut repeats one successful fire, the same in-flight
/// duplicate the design allows, and saves a directory fsync per fire.
public final class TakenFire: Sendable {
    public let fire: DeferredFire
    /// The file name, now in `active/`.
    public let name: String
    let spool: Spool
    /// Holds the claim's `flock`; -1 once handed to the spool's closer after the removal.
    private let lockFD: Mutex<Int32>
    private let ended = Mutex(false)

    init(spool: Spool, name: String, lockFD: Int32, fire: DeferredFire) {
        self.spool = spool
        self.name = name
        self.lockFD = Mutex(lockFD)
        self.fire = fire
    }

    deinit {
        let fd = lockFD.withLock { $0 }
        if fd >= 0 { System.close(fd) }
    }

    /// The partner answered 2xx.
    public func succeeded(attempt: FireAttempt) throws(SpoolError) {
        try end(.succeeded)
        try System.unlink(spool.active, name)
        closeRemoved()
    }

    /// Another attempt failed transiently: back to `deferred/` with the attempt counted.
    public func reschedule(nextDue: Int64, attempt: FireAttempt?, error: String) throws(SpoolError) {
        var next = fire
        if attempt != nil { next.attempts += 1 }
        next.nextDue = nextDue
        next.lastError = error
        next.remember(attempt, limit: spool.configuration.historyLimit, answerLimit: spool.configuration.answerPrefixBytes)
        try end(.deferred)
        try replace(with: next, in: spool.deferred, named: next.deferredFileName())
    }

    /// The budget is spent or the failure is permanent: to `failed/` with its last error.
    public func deadLetter(attempt: FireAttempt?, error: String) throws(SpoolError) {
        var dead = fire
        if attempt != nil { dead.attempts += 1 }
        dead.lastError = error
        dead.failedAt = SpoolTime.unixMillis()
        dead.remember(attempt, limit: spool.configuration.historyLimit, answerLimit: spool.configuration.answerPrefixBytes)
        try end(.failed)
        try replace(with: dead, in: spool.failed, named: dead.deadLetterFileName())
    }

    /// Puts the fire back unchanged (a drain at shutdown): not counted, due as before.
    public func release() throws(SpoolError) {
        try end(nil)
        _ = try System.rename(spool.active, name, spool.deferred, name)
        try System.fsync(spool.deferred)
        try System.fsync(spool.active)
    }

    /// New file first, old one after: a crash in between leaves a duplicate, never nothing.
    private func replace(with next: DeferredFire, in dir: System.Dir, named newName: String) throws(SpoolError) {
        try spool.writeDurably(next.encoded(), named: newName, into: dir)
        try System.unlink(spool.active, name)
        try System.fsync(spool.active)
        closeRemoved()
    }

    /// The file is unlinked: its last close, where the filesystem frees it, goes to the
    /// spool's closer, as a finished spool file's does (`ActiveFile`).
    private func closeRemoved() {
        let fd = lockFD.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        spool.closer.close([fd])
    }

    private func end(_ outcome: FireOutcome?) throws(SpoolError) {
        let first = ended.withLock { ended in
            defer { ended = true }
            return !ended
        }
        guard first else {
            throw SpoolError(code: .unfinished, operation: "deferred", path: spool.active.join(name),
                             detail: "this taken fire already has its outcome")
        }
        if let outcome { spool.counters.count(outcome, newRecord: false) }
    }
}
