import Foundation
import Logging
import PostbackCore
import PostbackFiring
import PostbackSpool
import PostbackSystemd
import Synchronization

/// postbackd assembled: spool, catalog, firing engine, recorder and the firing loop.
///
/// `runOnce` is `postbackd run --once`; `start`/`drain` are what the long-running service
/// wraps with signals and systemd notifications.
public final class Daemon: Sendable {
    public let spool: Spool
    public let catalog: CatalogStore
    let engine: FiringEngine
    let recorder: Recorder
    let planner: Planner
    /// The source's loop: the spool's (`source = spool`) or Redis Streams' (`source = redis`).
    let feed: any RecordFeed
    let notifier: SystemdNotifier
    let logger: Logger
    public let state: StateDirectory
    /// `paused.json` with the spool, the shared Redis hash with `source = redis`.
    let paused: any PausedPostbackStore
    /// The settings running now: a reload takes the reload keys, restart-only keys stay as started.
    private let settings: Mutex<Settings>
    /// The level every log handler follows (`log_level`); nil when the caller's handlers do not.
    let logLevel: SharedLogLevel?
    private let finished = DispatchSemaphore(value: 0)

    /// Opens the spool and loads the catalog; either failing stops the start with its reason.
    public init(settings: Settings, logger: Logger, logLevel: SharedLogLevel? = nil,
                notifier: SystemdNotifier = SystemdNotifier()) throws(DaemonStartError) {
        self.logger = logger
        self.logLevel = logLevel
        self.notifier = notifier
        self.settings = Mutex(settings)
        do {
            spool = try Spool(root: settings.spool, configuration: settings.spoolConfiguration)
        } catch {
            throw DaemonStartError(message: "spool: \(error)")
        }
        state = try StateDirectory(path: settings.stateDirectory)
        if settings.source == "redis" {
            paused = RedisPausedPostbacks(settings: settings, logger: logger)
        } else {
            do {
                paused = try PausedPostbacks(state: state)
            } catch {
                throw DaemonStartError(message: "state directory: \(error)")
            }
        }
        do {
            catalog = try CatalogStore(path: settings.catalog, paused: paused.ids)
        } catch {
            throw DaemonStartError(message: error.description)
        }
        if !settings.caFile.isEmpty {
            do {
                try TrustedCAFile.check(settings.caFile)
            } catch {
                throw DaemonStartError(message: error.description)
            }
        }
        // The engine keeps idle connections within a quarter of the open-file limit: raise the
        // soft limit to the hard one first (a shell's 1,024 would allow only 256).
        FileDescriptorLimit.raise()
        engine = FiringEngine(configuration: settings.firingConfiguration)
        let (catalog, paused) = (catalog, paused)
        let breakers = HostBreakers(engine: engine, configuration: settings.breakerConfiguration)
        // Room for the recorder to stall on a slow fsync (a disk hiccup) without holding up
        // the next fires: 2,048 is 0.4 s of fires at 5,000/s (Benchmarks/latency; with 256,
        // fsync stalls under I/O load became 100-500 ms of queueing before firing), and at
        // least twice what the engine itself admits. Also the most fires a crash can repeat.
        let firing = settings.firingConfiguration
        let outstanding = max(2048, 2 * firing.maxConcurrent * (1 + firing.queuedPerConnection))
        recorder = Recorder(logger: logger, policy: settings.retryPolicy, breakers: breakers,
                            outstandingLimit: outstanding) { id, reason in
            do {
                catalog.setPaused(try paused.add(id, reason: reason))
            } catch {
                logger.error("cannot record the pause of postback \(id) in \(paused.location): \(error)")
                catalog.setPaused(paused.ids.union([id]))
            }
        }
        planner = Planner(engine: engine, catalog: catalog, recorder: recorder, logger: logger,
                          partnerPostbacks: settings.partnerPostbacks)
        if settings.source == "redis" {
            if let problem = RedisFeed.problem(settings) { throw DaemonStartError(message: problem) }
            feed = RedisFeed(settings: settings, planner: planner, recorderQueue: recorder.queue, notifier: notifier, logger: logger,
                             counters: spool.counters, configuration: settings.spoolConfiguration)
        } else {
            let watcher: SpoolWatcher
            do {
                watcher = try SpoolWatcher(spool: spool, rescanInterval: settings.rescanInterval)
            } catch {
                throw DaemonStartError(message: "spool: watching \(settings.spool): \(error)")
            }
            feed = SpoolFeed(spool: spool, planner: planner, recorder: recorder, watcher: watcher, notifier: notifier,
                             logger: logger, rescanInterval: settings.rescanInterval)
        }
        // Metrics: the load at start is the first "last reload".
        recorder.metrics.catalogLoaded(ok: true, unixSeconds: Date().timeIntervalSince1970)
    }

    /// Processes every file now in incoming/ and every deferred fire due now, waits for each
    /// fire's outcome, and returns the balanced summary line of DESIGN.md.
    public func runOnce() -> String {
        let start = ContinuousClock.now
        feed.run(once: true, onIdle: {})
        recorder.inFlight.wait()
        recorder.settle()
        paused.close()
        spool.closer.waitUntilClosed()
        engine.shutdown()
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return spool.counters.snapshot.summaryJSON(seconds: (seconds * 1000).rounded() / 1000)
    }

    /// Starts the firing loop on its own thread; READY=1 goes out once the spool is scanned.
    public func start() {
        state.writePid()
        // Pauses made or lifted elsewhere (another daemon, `postbackctl resume`) take hold here.
        paused.follow { [catalog, recorder] ids in recorder.pausesChanged(catalog.setPaused(ids)) }
        let thread = Thread { [self] in
            var ready = false
            feed.run(once: false) { [self] in
                if !ready {
                    ready = true
                    try? notifier.ready()
                    logger.notice("postbackd ready: spool \(spool.root), catalog \(catalog.index.catalog.postbacks.count) postbacks")
                }
            }
            finished.signal()
        }
        thread.name = "postbackd-dispatch"
        thread.start()
    }

    /// Stops claiming, lets the fires in flight finish within `timeout`, records their
    /// outcomes, releases unfinished files for the next start, and stops the engine.
    public func drain(timeout: Duration) {
        try? notifier.stopping()
        logger.notice("postbackd stopping: no new claims, finishing fires in flight")
        feed.stop()
        finished.wait()
        #if POSTBACKD_CRASH_POINTS
        CrashPoint.reached(.drain)
        #endif
        if !recorder.inFlight.wait(upTo: timeout) {
            logger.warning("stop timeout reached with fires in flight; their files are resumed at the next start")
        }
        recorder.settle()
        #if POSTBACKD_CRASH_POINTS
        CrashPoint.reached(.drain)
        #endif
        recorder.releaseAll()
        paused.close()
        spool.closer.waitUntilClosed()
        engine.shutdown()
        state.removePid()
        logger.notice("postbackd stopped", metadata: ["SUMMARY": .string(spool.counters.snapshot.summaryJSON(seconds: 0))])
    }

    /// Applies re-read settings and the catalog (SIGHUP). Every reload key (`Settings.table`)
    /// takes effect now; a change to a restart-only key is named in one warning and waits for
    /// the next start. A refused catalog keeps the current one serving.
    public func reload(_ newSettings: Settings) {
        try? notifier.reloading()
        defer { try? notifier.ready() }
        let old = settings.withLock { $0 }
        do {
            recorder.pausesChanged(catalog.setPaused(try paused.reload()))
        } catch {
            logger.error("paused postbacks \(paused.location): \(error); keeping the paused postbacks as they were")
        }
        do {
            let loaded = try catalog.reload(path: newSettings.catalog)
            recorder.metrics.catalogLoaded(ok: true, unixSeconds: Date().timeIntervalSince1970)
            logger.notice("catalog reloaded from \(newSettings.catalog): \(loaded.postbacks.count) postbacks")
        } catch {
            recorder.metrics.catalogLoaded(ok: false, unixSeconds: Date().timeIntervalSince1970)
            logger.error("catalog \(newSettings.catalog) refused, the previous catalog keeps serving:\n\(error)")
        }
        let running = old.reloaded(from: newSettings)
        logLevel?.set(Logger.Level(rawValue: running.logLevel) ?? .info)
        recorder.update(policy: running.retryPolicy)
        recorder.breakers.update(running.breakerConfiguration)
        spool.update(running.spoolConfiguration)
        planner.update(partnerPostbacks: running.partnerPostbacks)
        feed.update(rescanInterval: running.rescanInterval)
        settings.withLock { $0 = running }
        let applied = old.changedKeys(to: running).map(\.name)
        if !applied.isEmpty {
            logger.notice("settings applied on reload: \(applied.joined(separator: ", "))")
        }
        let waiting = running.changedKeys(to: newSettings).map(\.name)
        if !waiting.isEmpty {
            logger.warning("settings that take effect at restart changed: \(waiting.joined(separator: ", ")); running with the current ones until then")
        }
    }

    /// Settings re-read with problems (SIGHUP): each problem logged on its own line, and
    /// nothing changes, the catalog included.
    public func refuseReload(_ problems: Settings.Problems) {
        try? notifier.reloading()
        defer { try? notifier.ready() }
        for problem in problems.all {
            logger.error("reload refused: \(problem)")
        }
        logger.error("settings refused on reload (\(problems.all.count) problem\(problems.all.count == 1 ? "" : "s")), keeping the current settings and catalog")
    }

    /// The STATUS= line: what an operator sees in `systemctl status postbackd`.
    public func statusLine(previous: inout (Int, ContinuousClock.Instant)) -> String {
        let stats = recorder.stats
        let done = stats.succeeded.load(ordering: .relaxed) + stats.failed.load(ordering: .relaxed) + stats.deferred.load(ordering: .relaxed)
        let now = ContinuousClock.now
        let elapsed = now - previous.1
        let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = secs > 0 ? Double(done - previous.0) / secs : 0
        previous = (done, now)
        return feed.statusPrefix + "fires/s \(Int(rate.rounded())), in flight \(engine.inFlight), succeeded \(stats.succeeded.load(ordering: .relaxed)), "
            + "deferred \(stats.deferred.load(ordering: .relaxed)), failed \(stats.failed.load(ordering: .relaxed))"
            + (recorder.breakers.openHosts.isEmpty ? "" : ", breaker open: \(recorder.breakers.openHosts.prefix(5).joined(separator: " "))")
            + (stats.writeErrors.load(ordering: .relaxed) > 0 ? ", WRITE ERRORS \(stats.writeErrors.load(ordering: .relaxed))" : "")
    }

    public func sendStatus(previous: inout (Int, ContinuousClock.Instant)) {
        try? notifier.status(statusLine(previous: &previous))
    }
}

/// Why the daemon could not start, said in one line an operator can act on.
public struct DaemonStartError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
