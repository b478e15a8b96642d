import Foundation
import Glibc
import Synchronization

/// A claimed spool file and its ledger: the daemon's unit of work.
///
/// Record every final outcome here as it happens; the ledger group-commits them (one
/// `fdatasync` per `ledgerBatchEntries` entries or `ledgerBatchInterval`, whichever first),
/// so a crash loses at most the outcomes of fires still in flight, which a restart fires
/// again. Deferrals and dead letters are written to their own files before the ledger entry
/// that points at them is made durable, so a fire is never only in the ledger's memory.
///
/// Thread-safe: completions may arrive from the firing thread while another thread flushes.
/// The ledger's fsync runs outside the entry lock, so appends continue during it.
public final class ActiveFile: Sendable {
    static let ledgerSuffix = ".ledger"

    public let name: String
    /// Where its bytes are read from; never held whole unless the file is small.
    private let source: FileBytes
    /// Lines longer than this are handed over as `tooLong` (`max_line_size` when claimed).
    public let maxLineBytes: Int
    /// What an earlier run already recorded (empty for a fresh claim): skip those fires.
    public let replay: LedgerReplay
    /// True when this file was taken over from a daemon that died.
    public let recovered: Bool

    /// The spool it belongs to (for `Spool.syncRemovals` after `finishInGroup`).
    public let spool: Spool
    private let state: Mutex<State>
    /// Serialises writers of the ledger and of the reject file; never held while waiting for `state`.
    private let io: Mutex<IOState>

    private struct State {
        /// Room for a couple of entries, then grows as entries come: a one-record file needs
        /// one of ~200 bytes, and a reserved 64 KiB per claim was a large malloc and free for
        /// every small file (an empty start, a few reallocations for that one entry).
        var ledger = JSONBytes(capacity: 512)
        var rejects = JSONBytes(capacity: 0)
        var entries = 0
        var oldestPending: UInt64 = 0
        /// Written and fdatasync'd in `tmp/`; renamed into place by the next flush.
        var moves: [(tmpName: String, queue: Spool.Queue, name: String)] = []
        var countedLines: LineSet
        var finished = false
    }

    private struct IOState {
        /// Holds the claim's `flock`; closed on finish or release, which lets go of the claim.
        var lockFD: Int32
        var ledgerFD: Int32 = -1
        var rejectFD: Int32 = -1
        var torn: Int
    }

    init(spool: Spool, name: String, lockFD: Int32, source: FileBytes, maxLineBytes: Int, replay: LedgerReplay, recovered: Bool) {
        self.spool = spool
        self.name = name
        self.source = source
        self.maxLineBytes = maxLineBytes
        self.replay = replay
        self.recovered = recovered
        state = Mutex(State(countedLines: LineSet(replay.lines)))
        io = Mutex(IOState(lockFD: lockFD, torn: replay.tornBytes))
    }

    deinit {
        closeAll()
        if source.fd >= 0 { System.close(source.fd) }
    }

    // MARK: reading

    /// Calls `body` with each non-blank line in order (numbers and byte ranges as
    /// `RecordParser.parseLines` gives them), until it returns false. Reads a chunk at a
    /// time; a line longer than `maxLineBytes` comes as `tooLong` with its first bytes only.
    public func forEachLine(_ body: (SpoolLine) -> Bool) throws(SpoolError) {
        try source.lines(maxLineBytes: maxLineBytes).forEach(body)
    }

    /// Bytes of the file (a record kept with a deferred fire, a rejected line's raw bytes).
    public func bytes(_ range: Range<Int>) throws(SpoolError) -> [UInt8] {
        try source.bytes(range)
    }

    /// The whole file, read now: for tests and tools; the daemon reads it line by line.
    public var contents: [UInt8] {
        (try? source.all()) ?? []
    }

    /// Closes the ledger, reject and lock descriptors. `removed`: the file and its ledger are
    /// already unlinked, so the last close (which frees them) can go to the spool's closer.
    private func closeAll(removed: Bool = false) {
        let fds = io.withLock { io in
            let open = [io.ledgerFD, io.rejectFD, io.lockFD].filter { $0 >= 0 }
            (io.ledgerFD, io.rejectFD, io.lockFD) = (-1, -1, -1)
            return open
        }
        if removed {
            spool.closer.close(fds)
        } else {
            for fd in fds { System.close(fd) }
        }
    }

    // MARK: outcomes

    /// The partner answered 2xx.
    public func succeeded(line: Int, postbackID: Int64, attempt: FireAttempt) throws(SpoolError) {
        try append(line: line, postbackID: postbackID, outcome: .succeeded, attempt: attempt)
    }

    /// The fire will be retried at `nextDue` (Unix ms): writes its `deferred/` file, then the
    /// ledger entry. `attempt` is nil when nothing was sent (e.g. an open circuit breaker).
    public func deferred(line: Int, postbackID: Int64, record: some Collection<UInt8>, attempt: FireAttempt?,
                         nextDue: Int64, error: String) throws(SpoolError) {
        var fire = DeferredFire(source: name, line: line, postbackID: postbackID, record: Array(record),
                                attempts: attempt == nil ? 0 : 1, firstAttempt: attempt.map { $0.time / 1000 } ?? SpoolTime.unixMillis(),
                                nextDue: nextDue, lastError: error)
        fire.remember(attempt, limit: spool.configuration.historyLimit, answerLimit: spool.configuration.answerPrefixBytes)
        let tmpName = try spool.writeTemporary(fire.encoded())
        try append(line: line, postbackID: postbackID, outcome: .deferred, attempt: attempt, error: error,
                   nextDue: nextDue, move: (tmpName, .deferred, fire.deferredFileName()))
    }

    /// The fire failed permanently (or spent its budget): writes its dead letter to `failed/`,
    /// then the ledger entry.
    public func failed(line: Int, postbackID: Int64, record: some Collection<UInt8>, attempt: FireAttempt?,
                       error: String) throws(SpoolError) {
        let now = SpoolTime.unixMillis()
        var fire = DeferredFire(source: name, line: line, postbackID: postbackID, record: Array(record),
                                attempts: attempt == nil ? 0 : 1, firstAttempt: attempt.map { $0.time / 1000 } ?? now,
                                nextDue: now, lastError: error, failedAt: now)
        fire.remember(attempt, limit: spool.configuration.historyLimit, answerLimit: spool.configuration.answerPrefixBytes)
        let tmpName = try spool.writeTemporary(fire.encoded())
        try append(line: line, postbackID: postbackID, outcome: .failed, attempt: attempt, error: error,
                   move: (tmpName, .failed, fire.deadLetterFileName()))
    }

    /// The record matched no postback: counted, nothing fired.
    public func noMatch(line: Int) throws(SpoolError) {
        try append(line: line, postbackID: 0, outcome: .noMatch, attempt: nil)
    }

    /// The record's line was refused by the parser: appended to `bad/NAME.rejected` with its
    /// raw bytes (which may not be UTF-8) so nothing is silently dropped.
    public func rejected(line: Int, reason: String, raw: some Collection<UInt8>) throws(SpoolError) {
        var entry = JSONBytes(capacity: 64 + raw.count)
        entry.raw("{\"line\":"); entry.int(line)
        entry.raw(",\"reason\":"); entry.string(reason)
        let bytes = Array(raw)
        if let text = String(validating: bytes, as: UTF8.self) {
            entry.raw(",\"raw\":"); entry.string(text)
        } else {
            // Foundation's base64, as DeferredFire's `record_base64`: one encoder for the spool.
            entry.raw(",\"raw_base64\":\""); entry.bytes.append(contentsOf: Data(bytes).base64EncodedData()); entry.raw("\"")
        }
        entry.raw("}\n")
        try append(line: line, postbackID: 0, outcome: .rejected, attempt: nil, error: reason, reject: entry.bytes)
    }

    /// History only: an attempt that is not final (the engine retries in-process). Replay
    /// ignores it, so the fire is sent again after a crash.
    public func attempted(line: Int, postbackID: Int64, attempt: FireAttempt) throws(SpoolError) {
        try append(line: line, postbackID: postbackID, outcome: nil, attempt: attempt)
    }

    // MARK: group commit

    private func append(line: Int, postbackID: Int64, outcome: FireOutcome?, attempt: FireAttempt?,
                        error: String = "", nextDue: Int64? = nil,
                        move: (String, Spool.Queue, String)? = nil, reject: [UInt8]? = nil) throws(SpoolError) {
        let configuration = spool.configuration
        let answerLimit = configuration.answerPrefixBytes
        let batch = configuration.ledgerBatchEntries
        let interval = UInt64(configuration.ledgerBatchInterval.components.seconds) * 1_000_000_000
            + UInt64(configuration.ledgerBatchInterval.components.attoseconds / 1_000_000_000)
        let now = SpoolTime.monotonicNanos()
        let due: Bool = try state.withLock { (s: inout State) throws(SpoolError) -> Bool in
            guard !s.finished else {
                throw SpoolError(code: .unfinished, operation: "ledger", path: spool.active.join(name),
                                 detail: "outcome recorded after finish or release")
            }
            LedgerEntry.append(line: line, postbackID: postbackID, outcome: outcome, attempt: attempt, reason: error,
                               nextDue: nextDue, answerLimit: answerLimit, to: &s.ledger)
            if let move { s.moves.append(move) }
            if let reject { s.rejects.bytes.append(contentsOf: reject) }
            if s.entries == 0 { s.oldestPending = now }
            s.entries += 1
            if let outcome {
                let newRecord = s.countedLines.insert(line)
                spool.counters.count(outcome, newRecord: newRecord)
            }
            return s.entries >= batch || now &- s.oldestPending >= interval
        }
        #if POSTBACKD_CRASH_POINTS
        CrashPoint.reached(.midBatch)
        #endif
        if due { try flush() }
    }

    /// Flushes when the oldest waiting entry is older than the batch interval. Call it from
    /// the daemon's loop tick, so a quiet moment does not leave outcomes waiting in memory.
    public func flushIfDue() throws(SpoolError) {
        let interval = spool.configuration.ledgerBatchInterval
        let nanos = UInt64(interval.components.seconds) * 1_000_000_000 + UInt64(interval.components.attoseconds / 1_000_000_000)
        let due = state.withLock { s in s.entries > 0 && SpoolTime.monotonicNanos() &- s.oldestPending >= nanos }
        if due { try flush() }
    }

    /// Makes every outcome recorded before this call durable: rejects fsync'd, deferred and
    /// dead-letter files renamed into place and their directories fsync'd, then the ledger
    /// written and fdatasync'd. When it returns, a crash cannot make those fires go again.
    public func flush() throws(SpoolError) {
        try io.withLock { (io: inout IOState) throws(SpoolError) -> Void in try flushHoldingIO(&io) }
    }

    private struct Batch: Sendable {
        var ledger: [UInt8]
        var rejects: [UInt8]
        var moves: [(tmpName: String, queue: Spool.Queue, name: String)]
    }

    private func flushHoldingIO(_ io: inout IOState) throws(SpoolError) {
        let batch: Batch = state.withLock { s in
            let taken = Batch(ledger: s.ledger.bytes, rejects: s.rejects.bytes, moves: s.moves)
            s.ledger.bytes.removeAll(keepingCapacity: true)
            s.rejects.bytes.removeAll(keepingCapacity: true)
            s.moves.removeAll(keepingCapacity: true)
            s.entries = 0
            return taken
        }
        if batch.ledger.isEmpty { return }
        do {
            try write(ledger: batch.ledger, rejects: batch.rejects, moves: batch.moves, io: &io)
        } catch {
            // Put the batch back so the next flush writes it; files already moved into place
            // are harmless: the ledger entries that point at them come later.
            state.withLock { s in
                s.ledger.bytes.insert(contentsOf: batch.ledger, at: 0)
                s.rejects.bytes.insert(contentsOf: batch.rejects, at: 0)
                s.moves.insert(contentsOf: batch.moves, at: 0)
                s.entries = max(s.entries, 1)
            }
            throw error
        }
    }

    private func write(ledger: [UInt8], rejects: [UInt8], moves: [(tmpName: String, queue: Spool.Queue, name: String)],
                       io: inout IOState) throws(SpoolError) {
        if !rejects.isEmpty {
            let path = spool.bad.join(name + ".rejected")
            if io.rejectFD < 0 {
                io.rejectFD = try System.openAt(spool.bad, name + ".rejected", O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW)
                try System.fsync(spool.bad)
            }
            try System.writeAll(io.rejectFD, rejects, path: path)
            try System.fdatasync(io.rejectFD, path: path)
        }
        #if POSTBACKD_CRASH_POINTS
        if !moves.isEmpty { CrashPoint.reached(.fsyncRename) }
        #endif
        var touched: Set<Spool.Queue> = []
        for move in moves {
            let target = spool.dir(move.queue)
            if try System.rename(spool.tmp, move.tmpName, target, move.name) { touched.insert(move.queue) }
        }
        for queue in touched { try System.fsync(spool.dir(queue)) }
        let path = spool.active.join(name + ActiveFile.ledgerSuffix)
        if io.ledgerFD < 0 {
            io.ledgerFD = try System.openAt(spool.active, name + ActiveFile.ledgerSuffix, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW)
            if io.torn > 0 {
                // A crash tore the last entry; cut it so the next entry starts on its own line.
                let size = try System.seekEnd(io.ledgerFD, path: path)
                try System.truncate(io.ledgerFD, to: size - io.torn, path: path)
                io.torn = 0
            }
            // Before the first outcome is durable: the ledger's name and the claim's rename
            // (into active/, out of incoming/; the claim itself does not fsync). On ext4 the
            // second call finds the rename already committed and costs next to nothing.
            try System.fsync(spool.active)
            try System.fsync(spool.incoming)
        }
        try System.writeAll(io.ledgerFD, ledger, path: path)
        try System.fdatasync(io.ledgerFD, path: path)
    }

    // MARK: end of life

    /// Lines that hold a record or a rejection but have no final outcome yet, in order
    /// (empty if the file can no longer be read).
    public func linesWithoutOutcome() -> [Int] {
        (try? readLinesWithoutOutcome()) ?? []
    }

    private func readLinesWithoutOutcome() throws(SpoolError) -> [Int] {
        let done = state.withLock { $0.countedLines }
        var missing: [Int] = []
        try forEachLine { line in
            if !done.contains(line.number) { missing.append(line.number) }
            return true
        }
        return missing
    }

    /// Flushes, then removes the file and its ledger, or moves both to `done/` when a
    /// retention is configured. Refuses (`.unfinished`) while a record line has no outcome at
    /// all, which would otherwise vanish silently; the caller knows how many fires a record
    /// has, the spool does not, so fires are the caller's to complete.
    public func finish() throws(SpoolError) {
        if try removeWithoutLedger() {
            try spool.syncRemovals()
            return
        }
        try finishWithLedger()
    }

    /// `finish` for one of a group of files finished together: on the short way (removing
    /// a file whose outcomes are all in memory) the directory fsync is left to the caller, who
    /// makes one `Spool.syncRemovals()` for the whole group instead of one per file. True:
    /// the caller owes that sync before the group's outcomes are durable. The long way syncs
    /// itself, as `finish`.
    public func finishInGroup() throws(SpoolError) -> Bool {
        if try removeWithoutLedger() { return true }
        try finishWithLedger()
        return false
    }

    private func finishWithLedger() throws(SpoolError) {
        try flush()
        let missing = try readLinesWithoutOutcome()
        guard missing.isEmpty else {
            let shown = missing.prefix(10).map(String.init).joined(separator: ", ")
            throw SpoolError(code: .unfinished, operation: "finish", path: spool.active.join(name),
                             detail: "\(missing.count) record line(s) without an outcome: \(shown)")
        }
        try end()
        #if POSTBACKD_CRASH_POINTS
        CrashPoint.reached(.fsyncRename)
        #endif
        let ledgerName = name + ActiveFile.ledgerSuffix
        // The spool file goes first: a ledger without its file is swept by `recover()`, while
        // a file without its ledger would be fired again from the start.
        let kept = spool.configuration.doneRetention != nil
        if kept {
            let lockFD = io.withLock { $0.lockFD }
            try System.touch(lockFD, path: spool.active.join(name))
            _ = try System.rename(spool.active, name, spool.done, name)
            _ = try System.rename(spool.active, ledgerName, spool.done, ledgerName)
            try System.fsync(spool.done)
        } else {
            try System.unlink(spool.active, name)
            try System.fsync(spool.active)
            try System.unlink(spool.active, ledgerName)
        }
        try System.fsync(spool.active)
        closeAll(removed: !kept)
    }

    /// The short way to finish a fresh file whose outcomes are all still in memory and touch
    /// no other file (no deferred fire, dead letter or rejected line), with nothing to keep in
    /// `done/`: removing the file is then its whole durable record, and the ledger is never
    /// written. Only the removal's directory fsync is left (`Spool.syncRemovals`), instead of
    /// five syncs (the ledger's directory, the claim's, its data, and two for the removals),
    /// and one such fsync serves every file removed before it. Until it, a crash leaves the
    /// file in `active/` without a ledger and all its fires go again: none had a durable
    /// outcome, as the design allows. Most small files of a healthy day end this way.
    /// False: take the long way.
    private func removeWithoutLedger() throws(SpoolError) -> Bool {
        guard !recovered, spool.configuration.doneRetention == nil else { return false }
        let simple = io.withLock { io in
            io.ledgerFD < 0 && io.rejectFD < 0 && io.torn == 0
                && state.withLock { $0.moves.isEmpty && $0.rejects.bytes.isEmpty }
        }
        guard simple, try readLinesWithoutOutcome().isEmpty else { return false }
        try end()
        #if POSTBACKD_CRASH_POINTS
        CrashPoint.reached(.fsyncRename)
        #endif
        try System.unlink(spool.active, name)
        closeAll(removed: true)
        return true
    }

    /// Flushes and lets go without finishing (on a drain at shutdown): the file stays in
    /// `active/` and the next `recover()`, here or in another daemon, resumes it.
    public func release() throws(SpoolError) {
        try flush()
        try end()
        closeAll()
    }

    private func end() throws(SpoolError) {
        try state.withLock { (s: inout State) throws(SpoolError) in
            guard !s.finished else {
                throw SpoolError(code: .unfinished, operation: "finish", path: spool.active.join(name),
                                 detail: "already finished or released")
            }
            s.finished = true
        }
    }
}
