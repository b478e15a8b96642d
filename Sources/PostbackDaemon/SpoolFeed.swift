import Foundation
import Logging
import PostbackCore
import PostbackFiring
import PostbackSpool
import PostbackSystemd
import Synchronization

/// The spool as a source: the loop that claims spool files (oldest first) and due deferred
/// fires, resumes what a dead daemon left, prunes, and waits on inotify when there is
/// nothing to do. Each claim goes to the `Planner`, which blocks this loop while the pool is
/// full, so waiting work stays on disk. Runs on a thread of its own (`postbackd-dispatch`).
///
/// It also sends WATCHDOG=1: the pings come from this loop, so a wedged loop stops them and
/// systemd restarts the daemon.
final class SpoolFeed: RecordFeed {
    let spool: Spool
    let planner: Planner
    let recorder: Recorder
    let watcher: SpoolWatcher
    let notifier: SystemdNotifier
    let logger: Logger
    /// `rescan_interval`; replaced by a reload.
    private let rescanInterval: Mutex<Duration>
    /// When to list `deferred/` again; the loop's alone (a Mutex only to stay Sendable).
    private let deferredWatch = Mutex(DeferredWatch())

    init(spool: Spool, planner: Planner, recorder: Recorder, watcher: SpoolWatcher,
         notifier: SystemdNotifier, logger: Logger, rescanInterval: Duration) {
        self.spool = spool
        self.planner = planner
        self.recorder = recorder
        self.watcher = watcher
        self.notifier = notifier
        self.logger = logger
        self.rescanInterval = Mutex(rescanInterval)
    }

    func update(rescanInterval newInterval: Duration) {
        rescanInterval.withLock { $0 = newInterval }
    }

    /// Stops claiming and planning; the loop returns after the fire it is handing over.
    func stop() {
        planner.stop()
        watcher.close()
    }

    private var isStopping: Bool { planner.isStopping }

    var statusPrefix: String {
        recorder.diskFull.load(ordering: .relaxed) ? "DISK FULL, not claiming; " : ""
    }

    // MARK: the loop

    /// Resumes what a dead daemon left, then claims until stopped. With `once`, returns as
    /// soon as incoming/ is empty and no deferred fire due at the start remains.
    func run(once: Bool, onIdle: () -> Void = {}) {
        let startMillis = SpoolTime.unixMillis()
        recover()
        var lastPing = ContinuousClock.now
        let pingEvery = notifier.watchdogPingInterval ?? .seconds(1)
        prune()
        var lastPrune = ContinuousClock.now
        while !isStopping {
            if !once && ContinuousClock.now - lastPrune >= pruneInterval {
                prune()
                lastPrune = .now
            }
            if recorder.diskFull.load(ordering: .acquiring) {
                // Keep what we have, claim nothing new, and look for space once a second.
                if ContinuousClock.now - lastPing >= pingEvery { ping(&lastPing) }
                if once { return }
                if spaceIsBack() { continue }
                _ = watcher.wait(timeout: .seconds(1))
                continue
            }
            var worked = false
            worked = claimIncoming(pingEvery: pingEvery, lastPing: &lastPing) || worked
            worked = takeDueDeferred(upTo: once ? startMillis : SpoolTime.unixMillis()) || worked
            if ContinuousClock.now - lastPing >= pingEvery {
                ping(&lastPing)
            }
            if once && !worked { return }
            if worked { continue }
            onIdle()
            _ = watcher.wait(timeout: idleTimeout(pingEvery: pingEvery))
        }
    }

    /// True once the spool's filesystem has room again and the files a full disk left stuck
    /// are released; then they are resumed from their ledgers, like after a crash.
    private func spaceIsBack() -> Bool {
        var stats = statvfs()
        guard statvfs(spool.root, &stats) == 0 else { return false }
        let free = UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
        guard free >= Self.spaceToResume, recorder.retryStuck() else { return false }
        recorder.diskFull.store(false, ordering: .releasing)
        logger.notice("spool has space again (\(free / 1024) KiB free): claiming resumes")
        recover()
        return true
    }

    /// Free bytes needed before claiming again: room for ledgers and deferred files.
    static let spaceToResume: UInt64 = 1 << 20

    private func ping(_ lastPing: inout ContinuousClock.Instant) {
        try? notifier.watchdog()
        lastPing = .now
    }

    /// Sleep until the next deferred fire is due, the rescan interval, or the next ping.
    private func idleTimeout(pingEvery: Duration) -> Duration {
        var timeout = min(rescanInterval.withLock { $0 }, pingEvery)
        // The turn that led here listed deferred/ or knew it had no need to.
        if let due = deferredWatch.withLock({ $0.nextDue }) {
            let wait = Duration.milliseconds(max(1, due - SpoolTime.unixMillis()))
            timeout = min(timeout, wait)
        }
        return timeout
    }

    /// How often finished files past `done_retention` and abandoned `tmp/` files are swept:
    /// hourly, or as often as the retention when it is shorter (a file then stays at most about
    /// twice its retention).
    private var pruneInterval: Duration {
        guard let retention = spool.configuration.doneRetention else { return .seconds(3600) }
        return max(.seconds(1), min(.seconds(3600), retention))
    }

    private func prune() {
        do {
            let removed = try spool.prune()
            if removed > 0 { logger.info("spool: removed \(removed) finished or abandoned files past their retention") }
        } catch {
            logger.error("pruning \(spool.path(of: .done)): \(error)")
        }
    }

    private func recover() {
        do {
            for outcome in try spool.recover() {
                handle(outcome)
            }
            for taken in try spool.recoverTakenFires() {
                planner.plan(taken)
            }
        } catch {
            logger.error("recovering the spool: \(error)")
        }
    }

    /// Claims until incoming/ has nothing left for us, oldest first. One listing serves a whole
    /// round of claims: `pending()` reads, stats and sorts every name in incoming/, so listing
    /// before each claim (`claimNext()`) made a backlog of N files cost O(N² log N) syscalls and
    /// comparisons; once ingest outran the daemon for a moment, each claim got slower than the
    /// last and throughput collapsed (Benchmarks/latency: 5,000 records/s in files of 5 fell
    /// to ~200 fires/s, 90 % of the firing thread's time in `pending()`). A file renamed in
    /// during a round is newer than the whole round and is claimed by the next one.
    private func claimIncoming(pingEvery: Duration, lastPing: inout ContinuousClock.Instant) -> Bool {
        var worked = false
        while !isStopping {
            let files: [PendingFile]
            do {
                files = try spool.pendingFiles()
            } catch {
                logger.error("claiming from \(spool.path(of: .incoming)): \(error)")
                return worked
            }
            var claimed = false
            for file in files {
                if isStopping { return worked }
                let outcome: ClaimOutcome?
                do {
                    outcome = try spool.claim(file)
                } catch {
                    logger.error("claiming from \(spool.path(of: .incoming)): \(error)")
                    return worked
                }
                guard let outcome else { continue }  // another daemon's now, or gone
                worked = true
                claimed = true
                handle(outcome)
                if ContinuousClock.now - lastPing >= pingEvery { ping(&lastPing) }
            }
            if !claimed { return worked }
        }
        return worked
    }

    private func handle(_ outcome: ClaimOutcome) {
        switch outcome {
        case .quarantined(let name, let reason):
            logger.warning("spool file \(name) quarantined in bad/: \(reason)",
                           metadata: ["SPOOL_FILE": .string(name), "OUTCOME": "quarantined"])
        case .active(let file):
            planner.plan(file)
        }
    }

    // MARK: deferred fires

    private func takeDueDeferred(upTo now: Int64) -> Bool {
        let changed = watcher.takeDeferredChanged()
        let listedAt = SpoolTime.monotonicNanos()
        guard deferredWatch.withLock({ $0.needsListing(nowMillis: now, monotonicNanos: listedAt, changed: changed) }) else {
            return false
        }
        let tickets: [DeferredTicket]
        do {
            let schedule = try spool.schedule(now: now, limit: 1024)
            tickets = schedule.due
            deferredWatch.withLock { $0.listed(nextDue: schedule.nextDue, monotonicNanos: listedAt) }
        } catch {
            logger.error("listing \(spool.path(of: .deferred)): \(error)")
            return false
        }
        var worked = false
        for ticket in tickets where !isStopping {
            do {
                guard let taken = try spool.take(ticket) else { continue }
                worked = true
                planner.plan(taken)
            } catch {
                logger.error("taking deferred fire \(ticket.name): \(error)")
            }
        }
        return worked
    }
}
