import Glibc
import Synchronization

/// One spool directory: the hand-off point between ingest and any number of daemons.
///
/// Every state change is a rename between the queue directories, so a crash leaves each file
/// in exactly one queue, and every promise (a claim, an outcome, a deferral) is fsync'd before
/// the call that makes it returns. Open descriptors on the queue directories are kept so that
/// renames and directory fsyncs cost no path walks.
///
/// How a daemon drives it:
/// 1. At start: `recover()` and `recoverTakenFires()` take over work whose daemon died
///    (an `ActiveFile` carries its `replay`: skip fires where `replay.hasOutcome`).
/// 2. Loop: `claimNext()` until nil. For each `.active(file)`, read its lines with
///    `file.forEachLine` (a chunk at a time; a line over `maxLineBytes` comes as `tooLong`) and
///    parse each with `RecordParser.parse`; per line call exactly one of `rejected`, `noMatch`, or, per
///    fire, `succeeded` / `deferred` / `failed`. Then `finish()` (it flushes first). On a
///    drain, `release()` what is unfinished.
/// 3. Every tick: `flushIfDue()` on each open `ActiveFile`; `schedule(now:)` + `take(_:)` for
///    retries, each ending in `succeeded` / `reschedule` / `deadLetter` (or `release`).
/// 4. Sleep on a `SpoolWatcher` (`wait(timeout:)` or `wakeUps()`), no longer than until the
///    `nextDue` that `schedule` gave. Now and then: `prune()`, and `recover()` if daemons
///    share the spool.
///
/// On disk: `incoming/NAME` → `active/NAME` + `active/NAME.ledger` (JSON Lines, one entry per
/// outcome, `{"line":L,"pb":P,"outcome":"…",…}`: the codec is `LedgerEntry`) → removed, or
/// `done/` with a retention; tools read them through `ledgers(withSpoolFiles:)`.
/// `deferred/<due ms>-<unique>.fire` and `failed/<failed ms>-<unique>.json` hold one fire each
/// (`DeferredFire` as JSON; tools list them with `storedFires(in:)` and `deadLetters()`).
/// `bad/NAME` + `bad/NAME.reason` for whole files,
/// `bad/NAME.rejected` (JSON Lines `{"line":n,"reason":"…","raw":"…"}`, or `raw_base64` for
/// bytes that are not UTF-8) for single lines.
public final class Spool: Sendable {
    /// The queues, in the order a file travels through them.
    public enum Queue: String, CaseIterable, Sendable {
        case tmp, incoming, active, deferred, failed, bad, done
    }

    public let root: String
    /// The knobs as they are now; a reload may change the sizes and the retention.
    public var configuration: SpoolConfiguration { tunables.withLock { $0 } }
    private let tunables: Mutex<SpoolConfiguration>
    /// Counts of every outcome recorded through this spool object since it was opened.
    public let counters = SpoolCounters()
    /// Closes the descriptors of finished files off the caller's thread.
    public let closer = RemovedFileCloser()

    let tmp: System.Dir
    let incoming: System.Dir
    let active: System.Dir
    let deferred: System.Dir
    let failed: System.Dir
    let bad: System.Dir
    let done: System.Dir

    /// Opens the spool at `root`, creating it and any missing queue directory.
    ///
    /// Fails early, naming the directory and the kernel's reason, when a queue is not a
    /// directory or cannot be written (permissions, a read-only filesystem), rather than at the
    /// first claim after systemd has been told the daemon is ready.
    public init(root: String, configuration: SpoolConfiguration = SpoolConfiguration()) throws(SpoolError) {
        var root = root
        while root.count > 1, root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.tunables = Mutex(configuration)
        try Spool.makeDirectory(root, mode: mode_t(configuration.directoryMode), parents: true)
        var fds: [System.Dir] = []
        do {
            for queue in Queue.allCases {
                let path = root + "/" + queue.rawValue
                try Spool.makeDirectory(path, mode: mode_t(configuration.directoryMode), parents: false)
                let fd = try System.openDirectory(path)
                fds.append(System.Dir(fd: fd, path: path))
            }
        } catch {
            for dir in fds { System.close(dir.fd) }
            throw error
        }
        (tmp, incoming, active, deferred, failed, bad, done) = (fds[0], fds[1], fds[2], fds[3], fds[4], fds[5], fds[6])
    }

    /// A reload's limits and retention, for files claimed and finished from now on.
    /// The directory layout and the ledger's batching stay as opened.
    public func update(_ new: SpoolConfiguration) {
        tunables.withLock { c in
            c.maxFileBytes = new.maxFileBytes
            c.maxLineBytes = new.maxLineBytes
            c.doneRetention = new.doneRetention
        }
    }

    deinit {
        for dir in [tmp, incoming, active, deferred, failed, bad, done] { System.close(dir.fd) }
    }

    func dir(_ queue: Queue) -> System.Dir {
        switch queue {
        case .tmp: return tmp
        case .incoming: return incoming
        case .active: return active
        case .deferred: return deferred
        case .failed: return failed
        case .bad: return bad
        case .done: return done
        }
    }

    /// The absolute path of a queue, for logs and for tools that look inside.
    public func path(of queue: Queue) -> String { dir(queue).path }

    /// Makes the removals of files finished the short way durable (`ActiveFile.finishInGroup`):
    /// one fsync of `active/` for however many, and one of `incoming/`, because claims do not
    /// fsync their rename (on ext4 the first already committed it, and the second costs next
    /// to nothing).
    public func syncRemovals() throws(SpoolError) {
        try System.fsync(active)
        try System.fsync(incoming)
    }

    private static func makeDirectory(_ path: String, mode: mode_t, parents: Bool) throws(SpoolError) {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                let what = st.st_mode & S_IFMT == S_IFLNK ? "a symlink" : "not a directory"
                throw SpoolError(code: .notADirectory, operation: "layout", path: path,
                                 detail: "\(what); the spool needs a real directory here")
            }
        } else if errno == ENOENT {
            if parents, let slash = path.lastIndex(of: "/"), slash != path.startIndex {
                try makeDirectory(String(path[..<slash]), mode: mode, parents: true)
            }
            do {
                try System.mkdir(path, mode: mode)
            } catch where error.errno == EEXIST {
                // Another daemon created it between our lstat and mkdir: fine.
            } catch {
                throw SpoolError(code: .notWritable, operation: "mkdir", path: path, errno: error.errno,
                                 detail: "cannot create the spool directory")
            }
        } else {
            throw SpoolError(code: .system, operation: "lstat", path: path, errno: errno)
        }
        if parents { return }  // The root only needs to hold the queues, checked one by one.
        do {
            try System.access(path, R_OK | W_OK | X_OK)
        } catch {
            throw SpoolError(code: .notWritable, operation: "access", path: path, errno: error.errno,
                             detail: "the daemon must be able to create and rename files here")
        }
    }
}
