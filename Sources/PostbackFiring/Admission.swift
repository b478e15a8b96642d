import DequeModule
import PostbackCore
import Synchronization

/// The global and per-host caps on fires handed to curl. Callers wait here, outside curl,
/// because CURLMOPT_MAX_HOST_CONNECTIONS queues excess transfers inside curl without limit;
/// waiting here keeps work in the spool (DESIGN.md, Firing: bounded).
///
/// A fire takes a host slot first, then a global slot, each in FIFO order. Holding a host slot
/// while waiting for a global one is harmless (it opens nothing), and it means a slow host
/// never holds more than `perHost` of the global slots, however many fires wait for it.
final class Admission: @unchecked Sendable {
    // All state below is guarded by `lock` (so @exclusivity(unchecked): release runs on the
    // driver thread for every fire, and the dynamic check adds nothing to the lock).
    private let lock = ConditionLock()
    private let globalLimit: Int
    private let hostLimit: Int
    @exclusivity(unchecked) private var globalInUse = 0
    /// Of `globalInUse`, the fires on each driver.
    @exclusivity(unchecked) private var globalOnDriver = DriverShares.Counts(repeating: 0)
    /// One `Destination` per host key with a fire in flight or waiting, or a breaker (kept once
    /// the host failed); one entry so each step hashes once. This lock is their owner.
    @exclusivity(unchecked) private var hosts: [String: Destination] = [:]
    /// Fires holding a host slot (on the driver beside them), waiting for a global one.
    @exclusivity(unchecked) private var globalWaiters = Deque<(waiter: Waiter, driver: Int)>()
    /// For breakers made from now on; a reload retunes the kept ones too.
    @exclusivity(unchecked) private var breakerConfiguration = Destination.Breaker.Configuration()
    /// How many destinations hold a breaker (read without the lock): while none does, the
    /// breaker's questions (one per fire, on the dispatcher and the driver thread) are
    /// answered without taking the lock. Only grows, as breakers are kept once made.
    private let breakersKept = Atomic<Int>(0)

    enum Waiter {
        /// Resumed with the driver of its slots.
        case task(CheckedContinuation<Int, Never>, host: String)
        case thread(Ticket)
        /// A fire parked on its destination: no thread waits for it; once it holds both slots
        /// it goes to the driver (`release` returns it).
        case parked(Job)

        var host: String {
            switch self {
            case .task(_, let host): return host
            case .thread(let ticket): return ticket.host
            case .parked(let job): return job.host
            }
        }
    }

    /// Where `place` put a fire.
    enum Placement {
        /// Both slots taken, on `driver`: hand it to that driver now; whether it starts at once.
        case granted(driver: Int, startsAtOnce: Bool)
        /// Waiting on its destination; the driver gets it when a slot frees.
        case parked
        /// Not taken: the host is slow (see `place`).
        case slow
    }

    /// A blocked thread's place in line; `granted` is guarded by the admission lock.
    final class Ticket {
        let host: String
        var granted = false
        /// Holds its host slot (and may be waiting for a global one).
        var hasHostSlot = false
        /// Gave up waiting for a host slot; skipped when one frees.
        var abandoned = false
        /// Set with `granted`: see `startsAtOnce`.
        var startsAtOnce = false
        /// Set with `granted`: the driver its slots are on.
        var driver = 0
        init(host: String) { self.host = host }
    }

    /// See `FiringConfiguration.slowHostAfter`, in ms.
    private let slowAfter: Int64

    /// Each driver's share of the caps of the transfers curl runs (below `globalLimit` and
    /// `hostLimit`, which also count the fires queued in the drivers) and of the host slots.
    let shares: DriverShares

    /// `drivers`: how many driver threads share the caps (`DriverShares` may run fewer).
    init(globalLimit: Int, hostLimit: Int, runningGlobalLimit: Int, runningHostLimit: Int, drivers: Int = 1,
         slowAfterMillis: Int64 = 1000) {
        self.globalLimit = globalLimit
        self.hostLimit = hostLimit
        self.shares = DriverShares(drivers: drivers, running: runningGlobalLimit, hostRunning: runningHostLimit, hostSlots: hostLimit)
        self.slowAfter = slowAfterMillis
    }

    /// A destination made for its first fire, with the driver it prefers.
    private func newDestination(_ host: String) -> Destination {
        Destination(preferredDriver: shares.count == 1 ? 0 : Int(UInt(bitPattern: host.hashValue) % UInt(shares.count)))
    }

    /// Whether a fire just granted on `driver`, its host now holding `hostOnDriver` slots
    /// there, will start in curl as soon as the driver sees it (else it queues in the driver
    /// behind fires that are running). Only such a fire needs to wake the driver: a queued one is picked up by the
    /// turn that a running fire's answer starts anyway. Waking the driver for every fire cost
    /// a curl_multi_perform over every running transfer each time: with 64 HTTP/2 streams
    /// that was 3× the CPU per fire of libcurl-ceiling (Benchmarks/tls).
    private func startsAtOnce(driver: Int, hostOnDriver: Int) -> Bool {
        hostOnDriver <= shares.hostRunning[driver] && globalOnDriver[driver] <= shares.running[driver]
    }

    /// Takes both slots now, or returns nil without waiting; else their driver and whether the
    /// fire starts at once (`startsAtOnce`).
    func tryAcquire(host: String) -> (driver: Int, startsAtOnce: Bool)? {
        lock.withLock {
            guard globalWaiters.isEmpty, globalInUse < globalLimit else { return nil }
            guard let driver = hosts[host, default: newDestination(host)].takeIfFree(limit: hostLimit, shares, poolInUse: globalOnDriver)
            else { return nil }
            globalInUse += 1
            globalOnDriver[driver] += 1
            return (driver, startsAtOnce(driver: driver, hostOnDriver: hosts[host]!.onDriver[driver]))
        }
    }

    /// Blocks the calling thread until both slots are taken; returns their driver and whether
    /// the fire starts at once. Never from a driver thread (they free the slots) nor from a
    /// Swift concurrency thread (use `acquire`).
    func acquireBlocking(host: String) -> (driver: Int, startsAtOnce: Bool) {
        if let granted = tryAcquire(host: host) { return granted }
        return lock.withLock {
            let ticket = Ticket(host: host)
            var resume: [(CheckedContinuation<Int, Never>, Int)] = []
            var granted: [GrantedJob] = []
            requestHostSlot(.thread(ticket), resume: &resume, granted: &granted)
            precondition(resume.isEmpty && granted.isEmpty)
            while !ticket.granted { lock.wait() }
            return (ticket.driver, ticket.startsAtOnce)
        }
    }

    /// Like `acquireBlocking`, except that a fire for a full host parks rather than blocks
    /// while it can, and nothing waits for a slow host.
    /// - `.parked`: the host's slots are all taken and fewer fires than it has slots are
    ///   parked on it: the fire waits there, with no thread behind it, and `release` hands it
    ///   to the driver when a slot frees. A host that is slow but not yet found so (its oldest
    ///   request out less than `slowAfter`) costs the caller nothing, and fires for other
    ///   hosts go on.
    /// - Past that bound the caller blocks as `acquireBlocking` does, which is the
    ///   backpressure a fast host needs (its slots free within milliseconds), until granted
    ///   or until the host's oldest request sent has waited `slowAfter` for an answer.
    /// - `.slow`, at once or after that wait: the caller sets the fire aside, so one slow
    ///   partner cannot stall fires for all the others.
    func place(_ job: Job) -> Placement {
        let host = job.host
        if let (driver, atOnce) = tryAcquire(host: host) { return .granted(driver: driver, startsAtOnce: atOnce) }
        return lock.withLock { () -> Placement in
            if hosts[host]?.isSlow(limit: hostLimit, slowAfter: slowAfter, now: monotonicMillis()) == true {
                hosts[host]!.slowness.markSlow()
                return .slow
            }
            if hosts[host, default: newDestination(host)].park(job, limit: hostLimit) { return .parked }
            let ticket = Ticket(host: host)
            var resume: [(CheckedContinuation<Int, Never>, Int)] = []
            var granted: [GrantedJob] = []
            requestHostSlot(.thread(ticket), resume: &resume, granted: &granted)
            precondition(resume.isEmpty && granted.isEmpty)
            while !ticket.granted {
                if ticket.hasHostSlot {
                    lock.wait()  // only a global slot is missing: that wait is not the host's fault
                    continue
                }
                // Nothing sent yet (connecting): look again after `slowAfter`.
                let oldest = hosts[host]?.slowness.oldestSent ?? monotonicMillis()
                let deadline = (oldest + slowAfter) * 1_000_000
                if !lock.wait(untilMonotonicNanos: deadline), !ticket.granted, !ticket.hasHostSlot,
                    hosts[host]?.isSlow(limit: hostLimit, slowAfter: slowAfter, now: monotonicMillis()) == true {
                    ticket.abandoned = true
                    hosts[host]?.slowness.markSlow()
                    return .slow
                }
            }
            return .granted(driver: ticket.driver, startsAtOnce: ticket.startsAtOnce)
        }
    }

    /// Suspends until both slots are taken; returns their driver.
    func acquire(host: String) async -> Int {
        if let (driver, _) = tryAcquire(host: host) { return driver }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            var resume: [(CheckedContinuation<Int, Never>, Int)] = []
            var granted: [GrantedJob] = []
            lock.withLock { requestHostSlot(.task(continuation, host: host), resume: &resume, granted: &granted) }
            precondition(granted.isEmpty)
            for (c, driver) in resume { c.resume(returning: driver) }
        }
    }

    /// The requests of these hosts (one entry per request) went out now: the driver's report,
    /// once per loop turn.
    func markSent(hosts sent: [String]) {
        let now = monotonicMillis()
        lock.withLock {
            var last: (host: String, index: [String: Destination].Index)?
            for host in sent {
                let index: [String: Destination].Index?
                if let last, last.host == host { index = last.index } else { index = hosts.index(forKey: host) }
                guard let i = index else { continue }
                last = (host, i)
                hosts.values[i].slowness.sent(at: now)
            }
        }
    }

    /// A parked fire that now holds both slots, on `job.driver`, and whether it starts there
    /// at once (`startsAtOnce`).
    typealias GrantedJob = (job: Job, startsAtOnce: Bool)

    /// Gives back the slots of finished fires, one entry per fire, handing them straight
    /// to waiters. One call per driver-loop turn so a burst of completions costs one lock.
    /// Returns the parked fires that now hold both slots, for the caller (a driver) to run or
    /// hand to their own driver.
    @discardableResult
    func release<S: Sequence<FinishedSlot>>(_ finished: S) -> [GrantedJob] {
        var resume: [(CheckedContinuation<Int, Never>, Int)] = []
        var granted: [GrantedJob] = []
        var wokeThread = false
        let now = monotonicMillis()
        lock.withLock {
            // Finished fires come in runs for the same host: hash once per run, not per fire
            // (this runs on the driver thread, the engine's bottleneck).
            var last: (host: String, index: [String: Destination].Index)?
            for slot in finished {
                let host = slot.host
                // Hand the host slot to the next waiter for the host, or give it back.
                let index: [String: Destination].Index?
                if let last, last.host == host {
                    index = last.index
                } else {
                    index = hosts.index(forKey: host)
                    last = index.map { (host, $0) }
                }
                if let i = index {
                    if let next = hosts.values[i].releaseOrHandOff(driver: slot.driver, wasSent: slot.wasSent, slowAfter: slowAfter, now: now) {
                        next.tookHostSlot()
                        requestGlobalSlot(next, driver: slot.driver, resume: &resume, granted: &granted, wokeThread: &wokeThread)
                    } else if hosts.values[i].inUse == 0 {
                        if hosts.values[i].breaker == nil {
                            hosts.remove(at: i)
                            last = nil  // indices are invalid after a removal
                        } else {
                            // Kept for its breaker; the slow-host rule starts afresh, as for
                            // a destination made anew.
                            hosts.values[i].slowness = SlowHostRule()
                        }
                    }
                }
                globalOnDriver[slot.driver] -= 1
                if let (waiter, driver) = globalWaiters.popFirst() {
                    grant(waiter, driver: driver, resume: &resume, granted: &granted, wokeThread: &wokeThread)
                } else {
                    globalInUse -= 1
                }
            }
        }
        // After unlocking: a thread woken inside the lock would wake only to block on the
        // mutex the driver still holds (a futex wait and wake more per hand-off). Nothing is
        // lost: a waiter either still sees `granted` false and sleeps, or sees it true.
        if wokeThread { lock.broadcast() }
        for (c, driver) in resume { c.resume(returning: driver) }
        return granted
    }

    private func requestHostSlot(_ waiter: Waiter, resume: inout [(CheckedContinuation<Int, Never>, Int)], granted: inout [GrantedJob]) {
        let host = waiter.host
        if let driver = hosts[host, default: newDestination(host)].takeOrQueue(waiter, limit: hostLimit, shares, poolInUse: globalOnDriver) {
            waiter.tookHostSlot()
            var ignored = false
            requestGlobalSlot(waiter, driver: driver, resume: &resume, granted: &granted, wokeThread: &ignored)
        }
    }

    /// `driver`: where the waiter's host slot is.
    private func requestGlobalSlot(
        _ waiter: Waiter, driver: Int, resume: inout [(CheckedContinuation<Int, Never>, Int)], granted: inout [GrantedJob],
        wokeThread: inout Bool
    ) {
        if globalWaiters.isEmpty, globalInUse < globalLimit {
            globalInUse += 1
            grant(waiter, driver: driver, resume: &resume, granted: &granted, wokeThread: &wokeThread)
        } else {
            globalWaiters.append((waiter, driver))
        }
    }

    /// Gives `waiter` its global slot (counted in `globalInUse` by the caller) on `driver`.
    private func grant(
        _ waiter: Waiter, driver: Int, resume: inout [(CheckedContinuation<Int, Never>, Int)], granted: inout [GrantedJob],
        wokeThread: inout Bool
    ) {
        globalOnDriver[driver] += 1
        switch waiter {
        case .task(let continuation, _): resume.append((continuation, driver))
        case .parked(var job):
            job.driver = driver
            granted.append((job, startsAtOnce(driver: driver, hostOnDriver: hosts[job.host]?.onDriver[driver] ?? 0)))
        case .thread(let ticket):
            ticket.granted = true
            ticket.driver = driver
            ticket.startsAtOnce = startsAtOnce(driver: driver, hostOnDriver: hosts[ticket.host]?.onDriver[driver] ?? 0)
            wokeThread = true
        }
    }

    // MARK: the circuit breaker of each destination

    /// Asks the host's breaker before sending: `.allow` for a host that never failed.
    func admitByBreaker(host: String, now: ContinuousClock.Instant = .now) -> Destination.Breaker.Admission {
        if breakersKept.load(ordering: .acquiring) == 0 { return .allow }
        return lock.withLock {
            guard let i = hosts.index(forKey: host), hosts.values[i].breaker != nil else { return .allow }
            return hosts.values[i].breaker!.admit(now: now)
        }
    }

    /// An answer (or a failure) of the host that says something about its health. Only a
    /// failure makes a breaker: closed breakers of hosts that never failed are not kept.
    func recordForBreaker(host: String, success: Bool, wasProbe: Bool, now: ContinuousClock.Instant = .now) {
        if success && breakersKept.load(ordering: .acquiring) == 0 { return }
        lock.withLock {
            if success && hosts[host]?.breaker == nil { return }
            if hosts[host]?.breaker == nil {
                hosts[host, default: newDestination(host)].breaker = Destination.Breaker(configuration: breakerConfiguration)
                breakersKept.add(1, ordering: .releasing)
            }
            hosts[host]!.breaker!.record(success: success, now: now, wasProbe: wasProbe)
        }
    }

    /// A reload's breaker settings: for breakers made from now on and for every one kept
    /// (their failure counts stay).
    func updateBreakers(_ configuration: Destination.Breaker.Configuration) {
        lock.withLock {
            breakerConfiguration = configuration
            for i in hosts.indices where hosts.values[i].breaker != nil {
                hosts.values[i].breaker!.configuration = configuration
            }
        }
    }

    var currentBreakerConfiguration: Destination.Breaker.Configuration { lock.withLock { breakerConfiguration } }

    /// Hosts whose breaker is open or probing, sorted.
    var openBreakerHosts: [String] {
        lock.withLock {
            hosts.compactMap { host, destination in
                guard let breaker = destination.breaker, breaker.phase != .closed else { return nil }
                return host
            }.sorted()
        }
    }

    /// For tests and metrics: fires holding a global slot.
    var inFlight: Int { lock.withLock { globalInUse } }
}

extension Admission.Waiter {
    /// Marks a blocked thread as holding its host slot: from then on it cannot give up.
    func tookHostSlot() {
        if case .thread(let ticket) = self { ticket.hasHostSlot = true }
    }
}
