import Foundation
import Logging
import PostbackCore
import PostbackFiring
import PostbackSpool
import PostbackSystemd
import Synchronization

/// The firing loop: claims spool files and due deferred fires, resolves and expands each
/// record, and hands the fires to the engine, which blocks it while the pool is full, so
/// waiting work stays on disk. Runs on a thread of its own.
///
/// It also sends WATCHDOG=1: the pings come from this loop, so a wedged loop stops them and
/// systemd restarts the daemon.
final class Dispatcher: Sendable {
    let spool: Spool
    let engine: FiringEngine
    let catalog: CatalogStore
    let recorder: Recorder
    let watcher: SpoolWatcher
    let notifier: SystemdNotifier
    let logger: Logger
    private let options: Mutex<Options>
    let stopping = Atomic<Bool>(false)

    struct Options: Sendable {
        var partnerPostbacks: Bool
        var rescanInterval: Duration
    }

    init(spool: Spool, engine: FiringEngine, catalog: CatalogStore, recorder: Recorder, watcher: SpoolWatcher,
         notifier: SystemdNotifier, logger: Logger, options: Options) {
        self.spool = spool
        self.engine = engine
        self.catalog = catalog
        self.recorder = recorder
        self.watcher = watcher
        self.notifier = notifier
        self.logger = logger
        self.options = Mutex(options)
    }

    func update(_ newOptions: Options) {
        options.withLock { $0 = newOptions }
    }

    /// Stops claiming; the loop returns after the fire it is handing over.
    func stop() {
        stopping.store(true, ordering: .releasing)
        watcher.close()
    }

    private var isStopping: Bool { stopping.load(ordering: .acquiring) }

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
        var timeout = min(options.withLock { $0.rescanInterval }, pingEvery)
        if let due = try? spool.nextDue() {
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
                fire(taken)
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
            dispatch(file)
        }
    }

    // MARK: one spool file

    private func dispatch(_ file: ActiveFile) {
        let work = FileWork(file)
        recorder.opened(work)
        let index = catalog.index
        let options = options.withLock { $0 }
        let arrivalMillis = SpoolTime.unixMillis()
        let arrival = arrivalMillis / 1000  // `{timestamp}`: Unix seconds
        var url: [UInt8] = []
        url.reserveCapacity(512)
        var random = SplitMix64.cacheBuster()
        do {
            // A chunk at a time: a line's bytes are valid during the call, and `range` is where
            // they are in the file, for the recorder to read again (a deferred fire's record).
            try file.forEachLine { line in
                if isStopping { return false }
                let range = line.range
                let record: Record
                switch line.tooLong
                    ? .failure(.init(message: "longer than max_line_size (\(file.maxLineBytes) bytes)"))
                    : RecordParser.parse(line: line.bytes) {
                case .failure(let rejection):
                    if !file.replay.hasOutcome(line: line.number, postbackID: 0) {
                        recorder.recordOnly(work, line: line.number, rejection: rejection.message, raw: range)
                    }
                    return true
                case .success(let r):
                    record = r
                }
                var fired = false
                for postback in index.resolve(record).fires {
                    let subject = FireLog.Subject(
                        postbackID: postback.id, partnerID: record.partnerID, offerID: record.offerID,
                        transactionID: record.transactionID, source: file.name, line: line.number)
                    if postback.author == .partner && !options.partnerPostbacks {
                        recorder.skipped(subject)
                        continue
                    }
                    fired = true
                    if file.replay.hasOutcome(line: line.number, postbackID: postback.id) { continue }
                    if isStopping { return false }
                    let host = postback.template.hostKey
                    work.add()
                    recorder.inFlight.enter()
                    if postback.delayMillis > 0 {
                        // delay_ms: the first attempt waits in deferred/, not in memory.
                        recorder.heldBack(work: work, subject: subject, raw: range, dueMillis: arrivalMillis + postback.delayMillis,
                                          reason: "delay_ms: first attempt \(postback.delayMillis) ms after arrival")
                        continue
                    }
                    let context = URLTemplate.Context(
                        postbackID: postback.id, arrivalTime: arrival, random: random.next(),
                        fireID: postback.usesFireID ? FireIdentity.make(source: file.name, line: line.number, postbackID: postback.id,
                                                                        transactionID: record.transactionID) : "")
                    guard let request = build(postback, record, context, url: &url, unsendable: { result in
                        self.recorder.completed(result, work: work, subject: subject, raw: range, sentAt: SpoolTime.unixMicros(),
                                           host: host, probe: false)
                    }) else { continue }
                    guard let probe = admit(host, holdBack: { due, why in
                        self.recorder.heldBack(work: work, subject: subject, raw: range, dueMillis: due, reason: why)
                    }) else { continue }
                    let sentAt = SpoolTime.unixMicros()
                    let recorder = self.recorder
                    let sent = submit(request, probe: probe) { result in
                        recorder.completed(result, work: work, subject: subject, raw: range, sentAt: sentAt,
                                           host: host, probe: probe)
                    }
                    if !sent {
                        recorder.heldBack(work: work, subject: subject, raw: range,
                                          dueMillis: SpoolTime.unixMillis() + Self.slowHostDelay(age: 0),
                                          reason: Self.slowHostReason(host))
                    }
                }
                if !fired && !file.replay.hasOutcome(line: line.number, postbackID: 0) {
                    recorder.recordOnly(work, line: line.number, rejection: nil, raw: range)
                }
                return true
            }
        } catch {
            // The file cannot be read on (an I/O error): what has outcomes keeps them, and the
            // file is released, not finished, so a later run fires the rest.
            logger.error("spool file \(file.name): \(error); released, to be resumed from its ledger")
            work.broken.store(true, ordering: .relaxed)
        }
        if isStopping {
            // Drain: the fires already out finish; the rest of the file waits for a restart.
            work.interrupted.store(true, ordering: .relaxed)
        }
        if work.done() { recorder.finish(work) }
    }

    /// Asks the host's circuit breaker: nil when the fire was held back (and handed to
    /// `holdBack` with its due time), else whether it goes out as the breaker's probe.
    private func admit(_ host: String, holdBack: (_ dueMillis: Int64, _ reason: String) -> Void) -> Bool? {
        switch recorder.breakers.admit(host) {
        case .allow:
            return false
        case .probe:
            logger.notice("circuit breaker for \(host): sending one probe")
            return true
        case .reject(let until):
            let wait = max(Duration.milliseconds(1), until - .now)
            holdBack(SpoolTime.unixMillis() + wait.milliseconds, "circuit breaker open for \(host)")
            return nil
        }
    }

    // MARK: deferred fires

    private func takeDueDeferred(upTo now: Int64) -> Bool {
        let tickets: [DeferredTicket]
        do {
            tickets = try spool.due(now: now, limit: 1024)
        } catch {
            logger.error("listing \(spool.path(of: .deferred)): \(error)")
            return false
        }
        var worked = false
        for ticket in tickets where !isStopping {
            do {
                guard let taken = try spool.take(ticket) else { continue }
                worked = true
                fire(taken)
            } catch {
                logger.error("taking deferred fire \(ticket.name): \(error)")
            }
        }
        return worked
    }

    private func fire(_ taken: TakenFire) {
        let deferred = taken.fire
        var subject = FireLog.Subject(
            postbackID: deferred.postbackID, partnerID: 0, offerID: 0, transactionID: "",
            source: deferred.source, line: deferred.line)
        let record: Record
        switch deferred.record.withUnsafeBufferPointer({ RecordParser.parse(line: $0) }) {
        case .success(let r): record = r
        case .failure(let f):
            recorder.deadLetter(taken, subject: subject, reason: "record no longer parses: \(f.message)")
            return
        }
        subject.partnerID = record.partnerID
        subject.offerID = record.offerID
        subject.transactionID = record.transactionID
        guard let postback = catalog.index.catalog[id: deferred.postbackID] else {
            recorder.deadLetter(taken, subject: subject, reason: "postback \(deferred.postbackID) is no longer in the catalog")
            return
        }
        guard postback.status == .active, !catalog.index.paused.contains(postback.id) else {
            recorder.deadLetter(taken, subject: subject, reason: "postback \(deferred.postbackID) is paused")
            return
        }
        let host = postback.template.hostKey
        let known = subject
        recorder.inFlight.enter()
        var random = SplitMix64.cacheBuster()
        let context = URLTemplate.Context(
            postbackID: postback.id, arrivalTime: deferred.firstAttempt / 1000, random: random.next(),
            fireID: postback.usesFireID ? FireIdentity.make(source: deferred.source, line: deferred.line, postbackID: postback.id,
                                                            transactionID: record.transactionID) : "")
        var url: [UInt8] = []
        let recorder = self.recorder
        guard let request = build(postback, record, context, url: &url, unsendable: { result in
            recorder.completed(result, taken: taken, subject: known, sentAt: SpoolTime.unixMicros(), host: host, probe: false)
        }) else { return }
        guard let probe = admit(host, holdBack: { due, why in
            self.recorder.heldBack(taken: taken, subject: known, dueMillis: due, reason: why)
        }) else { return }
        let sentAt = SpoolTime.unixMicros()
        let sent = submit(request, probe: probe) { result in
            recorder.completed(result, taken: taken, subject: known, sentAt: sentAt, host: host, probe: probe)
        }
        if !sent {
            let now = SpoolTime.unixMillis()
            recorder.heldBack(taken: taken, subject: known,
                              dueMillis: now + Self.slowHostDelay(age: now - deferred.firstAttempt),
                              reason: Self.slowHostReason(host))
        }
    }

    /// The attempt's request, or nil after handing `unsendable` the permanent failure of a
    /// fire that must not be sent (a header value with CR, LF or NUL once expanded).
    private func build(_ postback: Postback, _ record: Record, _ context: URLTemplate.Context, url: inout [UInt8],
                       unsendable: (FireResult) -> Void) -> FireRequest? {
        let now = postback.signingSecret == nil ? 0 : SpoolTime.unixMillis() / 1000
        switch FireRequest.build(postback, record: record, context: context, now: now, url: &url) {
        case .success(let request): return request
        case .failure(let why):
            unsendable(.unsendable(String(decoding: url, as: UTF8.self), reason: why.description))
            return nil
        }
    }

    // MARK: slow hosts

    /// Hands a fire to the engine, waiting for a free slot unless the fire's host is slow:
    /// false then. A slow partner costs its own fires a delay (they wait in deferred/), not
    /// everyone's: the loop goes on with other hosts. A fast host is waited for, which is the
    /// backpressure that keeps work in the spool. A breaker's probe always waits its turn,
    /// since the breaker waits for it.
    private func submit(_ request: FireRequest, probe: Bool, completion: @escaping @Sendable (FireResult) -> Void) -> Bool {
        if probe {
            engine.submit(request, completion: completion)
        } else if !engine.submitUnlessHostSlow(request, completion: completion) {
            return false
        }
        recorder.stats.submitted.add(1, ordering: .relaxed)
        return true
    }

    /// How long a fire set aside for a slow host waits: 1 s at first, then half as long as it
    /// has waited so far (at most 5 min), so a host that stays slow costs each waiting fire a
    /// few rewrites in all, not one a second.
    static func slowHostDelay(age: Int64) -> Int64 {
        max(1000, min(300_000, age / 2))
    }

    static func slowHostReason(_ host: String) -> String {
        "host \(host) is slow: all its connections are busy; deferred unsent"
    }
}

extension SplitMix64 {
    /// For `{random}`: seeded once (per spool file or retry) from the system generator.
    static func cacheBuster() -> SplitMix64 {
        var system = SystemRandomNumberGenerator()
        return SplitMix64(seed: system.next())
    }
}
