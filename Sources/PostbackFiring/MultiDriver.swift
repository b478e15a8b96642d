#if canImport(Glibc)
import Glibc
#endif
import CCurl
import CCurlShim
import PostbackCore
import DequeModule

/// A fire handed to a driver: the request, the host whose slot it holds, where the result
/// goes, and the driver its slots are on (set by Admission when it grants them).
struct Job {
    let request: FireRequest
    let host: String
    let completion: @Sendable (FireResult) -> Void
    var driver = 0
}

/// A host's share of the driver's transfers: how many of its fires run in curl or wait for a
/// global slot (at most `perHost`), and its fires waiting for one of those.
///
/// The driver thread's own view of a `Destination` (same `HostKey`, from `Job.host`), kept
/// apart on purpose: it is touched for every transfer without a lock, and the destination
/// lives under the admission lock that producers contend for (see `Destination`).
final class HostLane {
    let host: String
    @exclusivity(unchecked) var inUse = 0
    @exclusivity(unchecked) var waiting = Deque<QueuedJob>()

    init(host: String) { self.host = host }
}

/// An admitted fire the driver holds until its host and the pool have room.
struct QueuedJob {
    let job: Job
    let lane: HostLane
}

/// The hosts whose requests went out (curl's PREREQFUNCTION) during one driver-loop turn,
/// handed to Admission once per turn. Driver thread only.
final class SendLog {
    @exclusivity(unchecked) var hosts: [String] = []
}

/// A fire whose slots (on `driver`) go back to Admission, and whether its request had gone out.
struct FinishedSlot {
    let host: String
    let driver: Int
    let wasSent: Bool
}

/// One curl multi handle driven by one dedicated thread: one of the engine's `DriverSet`,
/// running its share of the caps (`DriverShares`) with a configuration that says that share.
///
/// Loop: curl_multi_perform, read finished transfers, then curl_multi_poll; producers hand in
/// work through a locked inbox and wake a sleeping poll with curl_multi_wakeup.
///
/// Admitted fires beyond the caps (`queuedPerConnection`) wait here, in the driver, not in
/// curl: a finished transfer's handle goes straight to the next waiting fire in the same loop
/// turn, as libcurl-ceiling.c does, and curl never runs more transfers than it has connections
/// for. Letting curl queue them (MAX_HOST_CONNECTIONS' pending list) cost ~17 % more CPU per
/// fire: curl sets up, parses and looks up a connection for a pending transfer on every
/// attempt. The host slot is taken before the global one, each in FIFO order (as Admission). We chose this
/// over the socket API (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION + an external event loop, as
/// swift-corelibs-foundation does) because it is exactly what libcurl-ceiling.c measures, it
/// needs no second event loop, and the benchmark (Benchmarks/driver) reaches the ceiling with it;
/// the socket API pays off with thousands of mostly idle connections, not with 64 busy ones.
///
/// Confinement: `multi`, the pool, the lanes and the counts belong to the driver thread alone;
/// everything under `lock` is shared with producers. Hence `@unchecked Sendable`.
final class MultiDriver: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer
    private let configuration: FiringConfiguration
    private let admission: Admission
    /// This driver's place in its `DriverSet` (`Job.driver`).
    private let index: Int
    /// Where a parked fire goes when the slots freed here went to it on another driver.
    private weak let drivers: DriverSet?

    // Driver thread only. @exclusivity(unchecked) here and below: see EasyHandle; the state
    // under `lock` is safe by the lock.
    @exclusivity(unchecked) private var pool: [EasyHandle] = []
    /// Transfers in curl (each holds a global slot); at most `maxConcurrent`.
    @exclusivity(unchecked) private var running = 0
    /// Hosts with a fire running or waiting here.
    @exclusivity(unchecked) private var lanes: [String: HostLane] = [:]
    /// Fires holding a host slot, waiting for a global one.
    @exclusivity(unchecked) private var globalWaiting = Deque<QueuedJob>()
    /// The lane of the last admitted fire, while it is in `lanes` (inUse > 0).
    @exclusivity(unchecked) private var lastLane: HostLane?
    /// Fires waiting here, in a lane or for a global slot.
    @exclusivity(unchecked) private var queued = 0
    /// Lanes whose fire could not start: their slots go back after the current step.
    @exclusivity(unchecked) private var failedStarts: [HostLane] = []
    @exclusivity(unchecked) private var finished: [(job: Job, result: FireResult)?] = []
    /// The host of each of `finished`, for Admission.release: a lazy map over `finished`
    /// copied each whole (job, result) pair just to read the host.
    @exclusivity(unchecked) private var finishedSlots: [FinishedSlot] = []
    private let sendLog = SendLog()

    // Guarded by `lock`.
    private let lock = ConditionLock()
    @exclusivity(unchecked) private var inbox: [Job] = []
    /// The driver is (about to be) asleep in curl_multi_poll and needs a wakeup to see the inbox.
    @exclusivity(unchecked) private var polling = false
    @exclusivity(unchecked) private var stopping = false
    private var thread: pthread_t?

    /// `configuration`: this driver's share of the caps. `descriptors`: the file descriptors
    /// its idle connections may take.
    init(configuration: FiringConfiguration, index: Int, descriptors: Int, admission: Admission, drivers: DriverSet) {
        CurlGlobal.ensureInitialized()
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed: out of memory") }
        self.multi = multi
        self.configuration = configuration
        self.admission = admission
        self.index = index
        self.drivers = drivers
        // The driver starts no more transfers than maxConcurrent, and no more than perHost per
        // first-hop host key. curl's per-host limit stays as its own bound for redirects to
        // other hosts, which then wait in curl's pending queue. Its total limit counts idle
        // connections too (curl closes the oldest idle one to open another), so it is the
        // running transfers plus the idle ones kept: with it at maxConcurrent, fires to 1,000
        // partners found no connection alive and paid a TCP and TLS handshake each.
        // Everything beyond Admission's bound waits outside, in the spool.
        // Idle connections cost a descriptor each: `descriptors` is this driver's share of a
        // quarter of the open-file limit, leaving the rest for the pool, the spool, the
        // journal and other engines in the process.
        let idle = max(configuration.maxConcurrent, min(configuration.idleConnections, descriptors))
        _ = pbd_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxConcurrent + idle)
        _ = pbd_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.perHost)
        _ = pbd_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, idle)
    }

    deinit {
        pool.removeAll()  // easy handles are cleaned up before the multi handle
        curl_multi_cleanup(multi)
    }

    func start() {
        let retained = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            let driver = Unmanaged<MultiDriver>.fromOpaque(arg!).takeRetainedValue()
            driver.run()
            return nil
        }, retained)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        lock.withLock { self.thread = thread }
    }

    /// Hands in a fire whose slots are already taken. Returns false once stopping.
    /// - Parameter wake: wake a sleeping driver for it; without, it waits for the driver's
    ///   next turn, which a running transfer's progress brings (at most `busyPollMilliseconds`).
    ///   Only for a fire that queues behind running ones anyway (`Admission.startsAtOnce`).
    func enqueue(_ job: Job, wake wanted: Bool = true) -> Bool {
        let (accepted, wake) = lock.withLock { () -> (Bool, Bool) in
            guard !stopping else { return (false, false) }
            inbox.append(job)
            guard wanted && polling else { return (true, false) }
            polling = false  // one wakeup is enough: the driver drains the whole inbox
            return (true, true)
        }
        if wake { curl_multi_wakeup(multi) }
        return accepted
    }

    /// Takes no more fires; those in flight finish (each bounded by the total timeout), then
    /// the thread ends (`waitUntilStopped`).
    func requestStop() {
        lock.withLock { stopping = true }
        curl_multi_wakeup(multi)
    }

    func waitUntilStopped() {
        let thread = lock.withLock { () -> pthread_t? in
            defer { self.thread = nil }
            return self.thread
        }
        if let thread, thread != pthread_self() { pthread_join(thread, nil) }
    }

    // MARK: - Driver thread

    private func run() {
        var batch: [Job] = []
        while true {
            let stop = lock.withLock { () -> Bool in
                polling = false
                swap(&batch, &inbox)
                return stopping
            }
            for job in batch { admit(job) }
            batch.removeAll(keepingCapacity: true)
            returnFailedStarts()
            deliverFinished()
            if stop && running == 0 && queued == 0 { break }

            var stillRunning: Int32 = 0
            curl_multi_perform(multi, &stillRunning)
            reportSent()
            collectFinished()

            let sleep = lock.withLock { () -> Bool in
                polling = inbox.isEmpty
                return polling
            }
            if sleep { curl_multi_poll(multi, nil, 0, running > 0 ? Self.busyPollMilliseconds : 1000, nil) }
        }
    }

    /// A fire from the inbox: its host slot, then its global slot, or a place in line.
    private func admit(_ job: Job) {
        let lane: HostLane
        if let last = lastLane, last.inUse > 0, last.host == job.host {
            lane = last  // fires come in runs for one host: skip the hash
        } else if let existing = lanes[job.host] {
            lane = existing
        } else {
            lane = HostLane(host: job.host)
            lanes[job.host] = lane
        }
        lastLane = lane
        if lane.waiting.isEmpty && lane.inUse < configuration.perHost {
            lane.inUse += 1
            requestGlobalSlot(QueuedJob(job: job, lane: lane))
        } else {
            lane.waiting.append(QueuedJob(job: job, lane: lane))
            queued += 1
        }
    }

    private func requestGlobalSlot(_ entry: QueuedJob) {
        if globalWaiting.isEmpty && running < configuration.maxConcurrent {
            launch(entry)
        } else {
            globalWaiting.append(entry)
            queued += 1
        }
    }

    /// A transfer ended (or never started): hand its host slot to the host's next fire, its
    /// global slot to the next fire waiting for one.
    private func releaseSlots(_ lane: HostLane) {
        running -= 1
        if let next = lane.waiting.popFirst() {
            queued -= 1
            requestGlobalSlot(next)
        } else {
            lane.inUse -= 1
            if lane.inUse == 0 { lanes[lane.host] = nil }
        }
        if running < configuration.maxConcurrent, let next = globalWaiting.popFirst() {
            queued -= 1
            launch(next)
        }
    }

    /// Slots of fires that failed to start, given back without recursing through launch.
    private func returnFailedStarts() {
        while let lane = failedStarts.popLast() { releaseSlots(lane) }
    }

    /// Takes a global slot and hands the fire to curl.
    private func launch(_ entry: QueuedJob) {
        running += 1
        let job = entry.job
        let easy = pool.popLast() ?? EasyHandle(configuration: configuration, sendLog: sendLog)
        var code = easy.start(job)
        if code == CURLE_OK {
            let multiCode = curl_multi_add_handle(multi, easy.curl)
            if multiCode == CURLM_OK {
                // Only curl holds the handle while it runs: keep the object alive until
                // collectFinished takes this reference back.
                _ = Unmanaged.passRetained(easy)
                easy.lane = entry.lane
                return
            }
            code = CURLE_FAILED_INIT
        }
        // Not started (e.g. a URL curl will not take): the answer is immediate.
        let result = easy.result(code: code)
        finished.append((easy.job.take()!, result))
        finishedSlots.append(FinishedSlot(host: entry.lane.host, driver: index, wasSent: false))
        pool.append(easy)
        failedStarts.append(entry.lane)
    }

    private func collectFinished() {
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            var privateData: UnsafeMutablePointer<CChar>?
            _ = pbd_easy_getinfo_ptr(handle, CURLINFO_PRIVATE, &privateData)
            let easy = Unmanaged<EasyHandle>.fromOpaque(UnsafeRawPointer(privateData!)).takeRetainedValue()
            let result = easy.result(code: code)
            curl_multi_remove_handle(multi, handle)
            finished.append((easy.job.take()!, result))
            let lane = easy.lane.take()!
            finishedSlots.append(FinishedSlot(host: lane.host, driver: index, wasSent: result.wasSent))
            pool.append(easy)
            // The next waiting fire starts now, on the connection this one just gave back.
            releaseSlots(lane)
        }
        returnFailedStarts()
        deliverFinished()
    }

    private func deliverFinished() {
        guard !finished.isEmpty else { return }
        // Slots first, so a fire's slot is free by the time its owner hears the result.
        let granted = admission.release(finishedSlots)
        finishedSlots.removeAll(keepingCapacity: true)
        // Parked fires that the freed slots went to: they start now, like fires from the
        // inbox, here or on the driver their slots are on.
        for (job, startsAtOnce) in granted {
            if job.driver == index {
                admit(job)
            } else if let drivers {
                drivers.hand(job, startsAtOnce: startsAtOnce)
            } else {
                DriverSet.refuse(job, admission: admission)
            }
        }
        // Each (job, result) pair is moved out, not copied (a copy is a dozen retains and
        // releases per fire), leaving nil behind.
        for i in finished.indices {
            let (job, result) = finished[i].take()!
            job.completion(result)
        }
        finished.removeAll(keepingCapacity: true)
    }

    /// The longest the driver sleeps while transfers run. libcurl 7.88's HTTP/2 code can keep
    /// a multiplexed stream's data buffered inside curl with neither a socket event nor a timer
    /// to say so: the stream then waits until the poll times out. With a 1 s poll that was
    /// 1 s answers from a healthy partner, which tripped the slow-host rule (and the plain
    /// libcurl-ceiling, which polls every 100 ms, loses a third of its HTTP/2 rate to it at
    /// 1 s). 10 ms bounds the stall; a wake-up that finds nothing to do costs a few µs.
    static let busyPollMilliseconds: Int32 = 10

    /// Tells Admission which hosts' requests went out in this turn: its slow-host clock
    /// starts there, so a queue or a handshake of ours is never counted against a partner.
    /// Before `collectFinished`, so a fire is marked sent before its slot is released.
    private func reportSent() {
        guard !sendLog.hosts.isEmpty else { return }
        admission.markSent(hosts: sendLog.hosts)
        sendLog.hosts.removeAll(keepingCapacity: true)
    }
}
