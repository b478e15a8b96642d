import Dispatch
import Glibc
import Logging
import PostbackCore
import PostbackFiring
import PostbackMetrics
import PostbackSpool
import PostbackSystemd
import Synchronization

/// Turns each fire's result into its durable outcome (ledger, deferred/, failed/), its
/// journal entry and its retry decision, on one serial queue off the firing thread.
///
/// Keeping this work off curl's driver thread means a slow fsync or a busy journald delays
/// bookkeeping, not the requests in flight.
final class Recorder: @unchecked Sendable {
    // @unchecked: `open`, `stuck`, `spare`, `autoPause` and `flushScheduled` are touched only on `queue`.
    let queue = DispatchQueue(label: "postbackd.recorder")
    private let log: FireLog
    private let logger: Logger
    /// Replaced by a reload (`update(policy:)`); read for each transient failure.
    private let policy: Mutex<RetryPolicy>
    /// Every fire handed to the engine and not yet recorded; `--once` and a drain wait on it.
    /// Bounded, so a recorder that falls behind slows firing instead of growing memory, and
    /// the fires a crash could repeat (sent, outcome not yet durable) stay few.
    let inFlight: FiresOutstanding
    private var open: [ObjectIdentifier: FileWork] = [:]
    /// Files that could not even be released (the disk is full): retried when space returns.
    private var stuck: [FileWork] = []
    /// Set on ENOSPC/EDQUOT: the firing loop stops claiming until space returns.
    let diskFull = Atomic<Bool>(false)
    private var flushScheduled = false
    /// Files whose last outcome is in, waiting for `finishGroup`; on `queue`.
    private var finishing: [FileWork] = []
    private var autoPause = AutoPause()
    /// Called on `queue` when a postback reaches the auto-pause threshold.
    private let pause: @Sendable (_ postbackID: Int64, _ reason: String) -> Void
    let stats = DaemonStats()
    /// Prometheus counters and latency (no-ops unless `metrics_listen` is set).
    let metrics = PostbackdMetrics()
    let breakers: HostBreakers

    /// `outstandingLimit`: fires submitted and not yet recorded, at most; see `inFlight`.
    init(logger: Logger, policy: RetryPolicy, breakers: HostBreakers, outstandingLimit: Int,
         pause: @escaping @Sendable (Int64, String) -> Void) {
        self.inFlight = FiresOutstanding(limit: outstandingLimit)
        self.logger = logger
        self.log = FireLog(logger: logger)
        self.policy = Mutex(policy)
        self.breakers = breakers
        self.pause = pause
    }

    /// Feeds the auto-pause rule; on `queue`.
    private func track(_ result: FireResult, postbackID: Int64) {
        switch result.verdict.kind {
        case .success:
            autoPause.succeeded(postbackID)
        case .permanent:
            if let reason = autoPause.pauseReason(postbackID, nowMillis: SpoolTime.unixMillis(), status: result.status,
                                                  verdict: result.verdict.reason) {
                stats.autoPaused.add(1, ordering: .relaxed)
                metrics.autoPausedPostback()
                logger.warning(
                    "postback \(postbackID) paused: \(reason); `postbackctl resume \(postbackID)` lifts it",
                    metadata: ["POSTBACK_ID": "\(postbackID)", "OUTCOME": "paused"])
                pause(postbackID, reason)
            }
        case .transient:
            break
        }
    }

    /// A reload's retry settings, for every decision from now on (fires already deferred
    /// keep their due time).
    func update(policy newPolicy: RetryPolicy) {
        policy.withLock { $0 = newPolicy }
    }

    // MARK: files

    /// Records the planner starts on; handed over in line with the results (no hop of its
    /// own: for a stream of one-record files a hop per file cost as much as its fire).
    func opened(_ work: FileWork) {
        hand(.opened(work))
    }

    /// Called when the last outcome of a file is in: flush, then remove it from active/.
    /// Files finished in one batch of outcomes are finished as a group, after that batch:
    /// one directory fsync for all the small ones (a sync per file held a stream of
    /// one-record files to a few hundred files a second).
    func finish(_ work: FileWork) {
        hand(.finished(work))
    }

    /// `finish` from code already on `queue`: no hop, so no flush can come between.
    private func finishOnQueue(_ work: FileWork) {
        open[ObjectIdentifier(work)] = nil
        finishing.append(work)
        if finishing.count == 1 { queue.async { self.finishGroup() } }
    }

    /// On `queue`: finishes every file waiting to be, then makes their removals durable. The
    /// group is whatever finished while the queue was busy: no timer holds a finished file
    /// back, so a crash repeats no more fires than it did with a sync per file.
    private func finishGroup() {
        var syncOwed: (any ClaimedRecords)?
        for work in finishing {
            do {
                if work.broken.load(ordering: .relaxed) {
                    try work.records.release()
                    logger.error("spool file \(work.records.name) released unfinished after a write error; it is resumed from its ledger")
                } else if work.interrupted.load(ordering: .relaxed) {
                    try work.records.release()
                    logger.notice("spool file \(work.records.name) released part-way at shutdown; the next start fires the rest")
                } else if try work.records.finishInGroup() {
                    syncOwed = work.records
                }
            } catch {
                logger.error("spool file \(work.records.name): \(error)")
                if Self.isOutOfSpace(error) { enterDiskFull(error) }
                stuck.append(work)
            }
        }
        finishing.removeAll(keepingCapacity: true)
        guard let syncOwed else { return }
        do {
            try syncOwed.syncFinishedGroup()
        } catch {
            // The files are gone from active/ but their removal may not survive a crash, after
            // which their fires would go again (none had a durable outcome of its own).
            logger.error("spool: making finished files' removal durable: \(error)")
            if Self.isOutOfSpace(error) { enterDiskFull(error) }
        }
    }

    /// Postbacks paused or resumed from outside this recorder (another daemon, `postbackctl
    /// resume`, a reload): their failure runs start again (`AutoPause.forget`).
    func pausesChanged(_ ids: Set<Int64>) {
        guard !ids.isEmpty else { return }
        queue.async { for id in ids { self.autoPause.forget(id) } }
    }

    /// Waits for everything handed to the recorder so far, files waiting for their group's
    /// finish included (`--once` and a drain, before they report or let go).
    func settle() {
        queue.sync { if !finishing.isEmpty { finishGroup() } }
    }

    /// At a drain: flush and let go of every file still open, so a restart resumes them.
    func releaseAll() {
        queue.sync {
            for work in open.values {
                do { try work.records.release() } catch { logger.error("spool file \(work.records.name): release: \(error)") }
            }
            open.removeAll()
        }
    }

    private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        queue.asyncAfter(deadline: .now() + .milliseconds(5)) {
            self.flushScheduled = false
            for work in self.open.values where !work.isComplete {
                do { try work.records.flushIfDue() } catch { self.noteWriteError(work, error) }
            }
            if !self.open.isEmpty { self.scheduleFlush() }
        }
    }

    /// Releases the files a full disk left stuck; true when none is left. The firing loop
    /// calls it once space is back, then recovers the released files from their ledgers.
    func retryStuck() -> Bool {
        queue.sync {
            stuck.removeAll { work in
                do {
                    try work.records.release()
                    return true
                } catch {
                    return false
                }
            }
            return stuck.isEmpty
        }
    }

    static func isOutOfSpace(_ error: any Error) -> Bool {
        guard let spoolError = error as? SpoolError else { return false }
        return spoolError.errno == ENOSPC || spoolError.errno == EDQUOT
    }

    private func enterDiskFull(_ error: any Error) {
        if !diskFull.exchange(true, ordering: .acquiringAndReleasing) {
            logger.error("spool disk full (\(error)): no new claims until space returns; outcomes are kept in memory and written then")
        }
    }

    private func noteWriteError(_ work: FileWork, _ error: any Error) {
        if Self.isOutOfSpace(error) { enterDiskFull(error) }
        work.broken.store(true, ordering: .relaxed)
        stats.writeErrors.add(1, ordering: .relaxed)
        logger.error("spool file \(work.records.name): cannot record an outcome: \(error)")
    }

    // MARK: outcomes

    /// A record with nothing to fire (or a rejected line): its outcome, no fire. Counted in
    /// `inFlight` like a fire, so a huge file of such lines waits for the recorder instead of
    /// queueing millions of closures.
    func recordOnly(_ work: FileWork, line: Int, rejection: String?, raw: Range<Int>) {
        inFlight.enter()
        queue.async {
            defer { self.inFlight.leave() }
            do {
                if let rejection {
                    try work.records.rejected(line: line, reason: rejection, raw: try work.bytes(raw))
                    self.metrics.recorded(.rejected)
                    self.logger.warning("spool file \(work.records.name) line \(line) rejected: \(rejection)",
                                        metadata: ["SPOOL_FILE": .string(work.records.name), "LINE": "\(line)", "OUTCOME": "rejected"])
                } else {
                    try work.records.noMatch(line: line)
                    self.metrics.recorded(.noMatch)
                    // Counted, not an error (DESIGN.md, Precedence): visible at debug level.
                    self.logger.debug("spool file \(work.records.name) line \(line): no postback matches",
                                      metadata: ["SPOOL_FILE": .string(work.records.name), "LINE": "\(line)", "OUTCOME": "no_match"])
                }
            } catch {
                self.noteWriteError(work, error)
            }
            self.scheduleFlush()
        }
    }

    /// A partner-authored postback skipped because `partner_postbacks = off`.
    func skipped(_ subject: FireLog.Subject) {
        stats.skippedPartnerAuthored.add(1, ordering: .relaxed)
        metrics.fired(.skipped)
        queue.async {
            self.log.record(.skipped, subject, attempt: 0, result: nil, detail: "partner-authored postbacks are off")
        }
    }

    /// What the other threads hand the queue, in the order they hand it: fires' results
    /// (from the driver thread) and records starting and ending (from the planner).
    private enum Handed {
        case fromFile(FireResult, work: FileWork, subject: FireLog.Subject, raw: Range<Int>, sentAt: Int64)
        case retried(FireResult, due: any DueFire, subject: FireLog.Subject, sentAt: Int64)
        case opened(FileWork)
        case finished(FileWork)
    }

    /// Handed over and waiting for the queue, which takes them all at once. One queue hop per
    /// batch instead of one per fire: a hop per fire (a closure, a GCD work item and often a
    /// thread wake-up) cost more than recording the outcome.
    /// Guarded by `waitingLock`, a pthread mutex: what passes through here (a FileWork made on
    /// the planner's thread, a result from the driver's) is then read on `queue`, and only a
    /// pthread hand-off is one ThreadSanitizer can follow (see `ConditionLock`).
    @exclusivity(unchecked) private var waiting: [Handed] = []
    private let waitingLock = ConditionLock()
    /// The queue's spare buffer, swapped with `waiting` so neither side allocates per batch.
    private var spare: [Handed] = []

    private func hand(_ handed: Handed) {
        let first = waitingLock.withLock {
            waiting.append(handed)
            return waiting.count == 1
        }
        if first { queue.async { self.recordWaiting() } }
    }

    /// On `queue`: records every waiting result, then schedules one flush for the batch.
    private func recordWaiting() {
        waitingLock.withLock { swap(&waiting, &spare) }
        // One write(2) for the batch's log lines when they go to standard error.
        StderrBatch.collect {
            for index in spare.indices {
                switch spare[index] {
                case .fromFile(let result, let work, let subject, let raw, let sentAt):
                    record(result, work: work, subject: subject, raw: raw, sentAt: sentAt)
                case .retried(let result, let due, let subject, let sentAt):
                    record(result, due: due, subject: subject, sentAt: sentAt)
                case .opened(let work):
                    open[ObjectIdentifier(work)] = work
                case .finished(let work):
                    finishOnQueue(work)
                }
            }
        }
        spare.removeAll(keepingCapacity: true)
        scheduleFlush()
    }

    /// The result of a fire from a spool file, on its first attempt. Called on the driver thread.
    func completed(_ result: FireResult, work: FileWork, subject: FireLog.Subject, raw: Range<Int>, sentAt: Int64,
                   host: String, probe: Bool) {
        breakers.record(host, result, wasProbe: probe)
        hand(.fromFile(result, work: work, subject: subject, raw: raw, sentAt: sentAt))
    }

    /// The result of a retried fire taken from deferred/. Called on the driver thread.
    func completed(_ result: FireResult, due: any DueFire, subject: FireLog.Subject, sentAt: Int64,
                   host: String, probe: Bool) {
        breakers.record(host, result, wasProbe: probe)
        hand(.retried(result, due: due, subject: subject, sentAt: sentAt))
    }

    private func record(_ result: FireResult, work: FileWork, subject: FireLog.Subject, raw: Range<Int>, sentAt: Int64) {
        defer {
            // Finish first: a waiter woken by `leave` then finds the finish already queued.
            if work.done() { finishOnQueue(work) }
            inFlight.leave()
        }
        let attempt = FireAttempt(result, sentAt: sentAt)
        track(result, postbackID: subject.postbackID)
        metrics.attempted(latency: result.latency)
        do {
            switch decide(result, attemptsMade: 1, age: .zero) {
            case .succeeded:
                try work.records.succeeded(line: subject.line, postbackID: subject.postbackID, attempt: attempt)
                tally(.succeeded, subject, attempt: 1, result: result, detail: "")
            case .retry(let dueMillis, let why):
                try work.records.deferred(line: subject.line, postbackID: subject.postbackID, record: try work.bytes(raw),
                                       attempt: attempt, nextDue: dueMillis, error: why)
                tally(.deferred, subject, attempt: 1, result: result, detail: why)
            case .deadLetter(let why):
                try work.records.failed(line: subject.line, postbackID: subject.postbackID, record: try work.bytes(raw),
                                     attempt: attempt, error: why)
                tally(.failed, subject, attempt: 1, result: result, detail: why)
            }
        } catch {
            noteWriteError(work, error)
        }
    }

    private func record(_ result: FireResult, due: any DueFire, subject: FireLog.Subject, sentAt: Int64) {
        defer { inFlight.leave() }
        let attemptNumber = due.fire.attempts + 1
        let age = Duration.milliseconds(max(0, SpoolTime.unixMillis() - due.fire.firstAttempt))
        let attempt = FireAttempt(result, sentAt: sentAt)
        track(result, postbackID: subject.postbackID)
        metrics.attempted(latency: result.latency)
        do {
            switch decide(result, attemptsMade: attemptNumber, age: age) {
            case .succeeded:
                try due.succeeded(attempt: attempt)
                tally(.succeeded, subject, attempt: attemptNumber, result: result, detail: "")
            case .retry(let dueMillis, let why):
                try due.reschedule(nextDue: dueMillis, attempt: attempt, error: why)
                tally(.deferred, subject, attempt: attemptNumber, result: result, detail: why)
            case .deadLetter(let why):
                try due.deadLetter(attempt: attempt, error: why)
                tally(.failed, subject, attempt: attemptNumber, result: result, detail: why)
            }
        } catch {
            if Self.isOutOfSpace(error) { enterDiskFull(error) }
            stats.writeErrors.add(1, ordering: .relaxed)
            logger.error("deferred fire \(due.name): cannot record its outcome: \(error)")
        }
    }

    /// A fire held back unsent: its host's circuit breaker is open, or the host is slow.
    func heldBack(work: FileWork, subject: FireLog.Subject, raw: Range<Int>, dueMillis: Int64, reason: String) {
        queue.async {
            defer {
                if work.done() { self.finishOnQueue(work) }
                self.inFlight.leave()
            }
            do {
                try work.records.deferred(line: subject.line, postbackID: subject.postbackID, record: try work.bytes(raw),
                                       attempt: nil, nextDue: dueMillis, error: reason)
                self.stats.heldBack.add(1, ordering: .relaxed)
                self.metrics.heldBack()
                self.tally(.deferred, subject, attempt: 0, result: nil, detail: reason)
            } catch {
                self.noteWriteError(work, error)
            }
            self.scheduleFlush()
        }
    }

    /// A retry held back unsent (breaker open or host slow); its attempt count stays.
    func heldBack(due: any DueFire, subject: FireLog.Subject, dueMillis: Int64, reason: String) {
        queue.async {
            defer { self.inFlight.leave() }
            do {
                try due.reschedule(nextDue: dueMillis, attempt: nil, error: reason)
                self.stats.heldBack.add(1, ordering: .relaxed)
                self.metrics.heldBack()
                self.tally(.deferred, subject, attempt: due.fire.attempts, result: nil, detail: reason)
            } catch {
                self.stats.writeErrors.add(1, ordering: .relaxed)
                self.logger.error("deferred fire \(due.name): cannot reschedule: \(error)")
            }
        }
    }

    /// A deferred fire that can no longer be fired (its postback is gone or its record unreadable).
    func deadLetter(_ due: any DueFire, subject: FireLog.Subject, reason: String) {
        queue.async {
            do {
                try due.deadLetter(attempt: nil, error: reason)
                self.tally(.failed, subject, attempt: due.fire.attempts, result: nil, detail: reason)
            } catch {
                self.logger.error("deferred fire \(due.name): cannot dead-letter: \(error)")
            }
        }
    }

    /// Counts an outcome where it is counted (stats for `--once` and STATUS=, Prometheus) and
    /// logs it: one place, so the three never disagree.
    private func tally(_ outcome: FireLog.Outcome, _ subject: FireLog.Subject, attempt: Int, result: FireResult?,
                       detail: String) {
        switch outcome {
        case .succeeded:
            stats.succeeded.add(1, ordering: .relaxed)
            metrics.fired(.succeeded)
        case .deferred:
            stats.deferred.add(1, ordering: .relaxed)
            metrics.fired(.deferred)
        case .failed:
            stats.failed.add(1, ordering: .relaxed)
            metrics.fired(.failed)
        case .skipped:
            preconditionFailure("skips are counted where they happen, on the firing loop")
        }
        log.record(outcome, subject, attempt: attempt, result: result, detail: detail)
    }

    enum Decision {
        case succeeded
        case retry(dueMillis: Int64, why: String)
        case deadLetter(why: String)
    }

    func decide(_ result: FireResult, attemptsMade: Int, age: Duration) -> Decision {
        switch result.verdict.kind {
        case .success:
            return .succeeded
        case .permanent:
            return .deadLetter(why: result.verdict.reason)
        case .transient:
            switch policy.withLock({ $0 }).decide(attemptsMade: attemptsMade, age: age, retryAfter: result.retryAfter) {
            case .retry(let delay):
                return .retry(dueMillis: SpoolTime.unixMillis() + delay.milliseconds, why: result.verdict.reason)
            case .giveUp(let why):
                return .deadLetter(why: "\(result.verdict.reason); \(why)")
            }
        }
    }
}

extension FireAttempt {
    init(_ result: FireResult, sentAt: Int64) {
        let error: String
        if result.verdict.kind == .success {
            error = ""
        } else if let refusal = result.refusal {
            error = refusal
        } else {
            error = result.errorText.isEmpty ? result.verdict.reason : result.errorText
        }
        self.init(
            time: sentAt, url: result.url, httpStatus: result.status ?? 0, error: error,
            latencyMicros: result.latency.microseconds, answerPrefix: result.bodyPrefix)
    }
}
