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
    /// One `Destination` per host key with a fire in flight or waiting, or a breaker (kept once
    /// the host failed); one entry so each step hashes once. This lock is their owner.
    @exclusivity(unchecked) private var hosts: [String: Destination] = [:]
    @exclusivity(unchecked) private var globalWaiters = Deque<Waiter>()
    /// For breakers made from now on; a reload retunes the kept ones too.
    @exclusivity(unchecked) private var breakerConfiguration = Destination.Breaker.Configuration()
    /// How many destinations hold a breaker (read without the lock): while none does, the
    /// breaker's questions (one per fire, on the dispatcher and the driver thread) are
    /// answered without taking the lock. Only grows, as breakers are kept once made.
    private let breakersKept = Atomic<Int>(0)

    enum Waiter {
        case task(CheckedContinuation<Void, Never>, host: String)
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
        /// Both slots taken: hand it to the driver now; whether it starts at once.
        case granted(startsAtOnce: Bool)
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
        init(host: String) { self.host = host }
    }

    /// See `FiringConfiguration.slowHostAfter`, in ms.
    private let slowAfter: Int64

    /// The caps of the transfers curl runs (the driver's), below `globalLimit`/`hostLimit`,
    /// which also count the fires queued in the driver.
    private let runningGlobalLimit: Int
    private let runningHostLimit: Int

    init(globalLimit: Int, hostLimit: Int, runningGlobalLimit: Int, runningHostLimit: Int, slowAfterMillis: Int64 = 1000) {
        self.globalLimit = globalLimit
        self.hostLimit = hostLimit
        self.runningGlobalLimit = runningGlobalLimit
        self.runningHostLimit = runningHostLimit
        self.slowAfter = slowAfterMillis
    }

    /// Whether a fire just granted, its host now holding `hostInUse` slots, will start in curl
    /// as soon as the driver sees it (else it queues in the driver behind fires that are
    /// running). Only such a fire needs to wake the driver: a queued one is picked up by the
    /// turn that a running fire's answer starts anyway. Waking the driver for every fire cost
    /// a curl_multi_perform over every running transfer each time: with 64 HTTP/2 streams
    /// that was 3× the CPU per fire of libcurl-ceiling (Benchmarks/tls).
    private func startsAtOnce(hostInUse: Int) -> Bool {
        hostInUse <= runningHostLimit && globalInUse <= runningGlobalLimit
    }

    /// Takes both slots now, or returns nil without waiting; else whether the fire starts at
    /// once (`startsAtOnce`).
    func tryAcquire(host: String) -> Bool? {
        lock.withLock {
            guard globalWaiters.isEmpty, globalInUse < globalLimit else { return nil }
            guard hosts[host, default: Destination()].takeIfFree(limit: hostLimit) else { return nil }
            globalInUse += 1
            return startsAtOnce(hostInUse: hosts[host]!.inUse)
        }
    }

    /// Blocks the calling thread until both slots are taken; returns whether the fire starts
    /// at once. Never from the driver thread (it frees the slots) nor from a Swift concurrency
    /// thread (use `acquire`).
    func acquireBlocking(host: String) -> Bool {
        if let atOnce = tryAcquire(host: host) { return atOnce }
        return lock.withLock {
            let ticket = Ticket(host: host)
            var resume: [CheckedContinuation<Void, Never>] = []
            var granted: [Job] = []
            requestHostSlot(.thread(ticket), resume: &resume, granted: &granted)
            precondition(resume.isEmpty && granted.isEmpty)
            while !ticket.granted { lock.wait() }
            return ticket.startsAtOnce
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
        if let atOnce = tryAcquire(host: host) { return .granted(startsAtOnce: atOnce) }
        return lock.withLock { () -> Placement in
            if hosts[host]?.isSlow(limit: hostLimit, slowAfter: slowAfter, now: monotonicMillis()) == true {
                hosts[host]!.slowness.markSlow()
                return .slow
            }
            if hosts[host, default: Destination()].park(job, limit: hostLimit) { return .parked }
            let ticket = Ticket(host: host)
            var resume: [CheckedContinuation<Void, Never>] = []
            var granted: [Job] = []
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
            return .granted(startsAtOnce: ticket.startsAtOnce)
        }
    }

    func acquire(host: String) async {
        if tryAcquire(host: host) != nil { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            var resume: [CheckedContinuation<Void, Never>] = []
            var granted: [Job] = []
            lock.withLock { requestHostSlot(.task(continuation, host: host), resume: &resume, granted: &granted) }
            precondition(granted.isEmpty)
            for c in resume { c.resume() }
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

    /// Gives back the slots of finished fires, one entry per fire, handing them straight
    /// to waiters. One call per driver-loop turn so a burst of completions costs one lock.
    /// Returns the parked fires that now hold both slots, for the caller (the driver) to run.
    @discardableResult
    func release<S: Sequence<FinishedSlot>>(_ finished: S) -> [Job] {
        var resume: [CheckedContinuation<Void, Never>] = []
        var granted: [Job] = []
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
                    if let next = hosts.values[i].releaseOrHandOff(wasSent: slot.wasSent, slowAfter: slowAfter, now: now) {
                        next.tookHostSlot()
                        requestGlobalSlot(next, resume: &resume, granted: &granted, wokeThread: &wokeThread)
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
                if let waiter = globalWaiters.popFirst() {
                    grant(waiter, resume: &resume, granted: &granted, wokeThread: &wokeThread)
                } else {
                    globalInUse -= 1
                }
            }
        }
        // After unlocking: a thread woken inside the lock would wake only to block on the
        // mutex the driver still holds (a futex wait and wake more per hand-off). Nothing is
        // lost: a waiter either still sees `granted` false and sleeps, or sees it true.
        if wokeThread { lock.broadcast() }
        for c in resume { c.resume() }
        return granted
    }

    private func requestHostSlot(_ waiter: Waiter, resume: inout [CheckedContinuation<Void, Never>], granted: inout [Job]) {
        if hosts[waiter.host, default: Destination()].takeOrQueue(waiter, limit: hostLimit) {
            waiter.tookHostSlot()
            var ignored = false
            requestGlobalSlot(waiter, resume: &resume, granted: &granted, wokeThread: &ignored)
        }
    }

    private func requestGlobalSlot(
        _ waiter: Waiter, resume: inout [CheckedContinuation<Void, Never>], granted: inout [Job], wokeThread: inout Bool
    ) {
        if globalWaiters.isEmpty, globalInUse < globalLimit {
            globalInUse += 1
            grant(waiter, resume: &resume, granted: &granted, wokeThread: &wokeThread)
        } else {
            globalWaiters.append(waiter)
        }
    }

    private func grant(
        _ waiter: Waiter, resume: inout [CheckedContinuation<Void, Never>], granted: inout [Job], wokeThread: inout Bool
    ) {
        switch waiter {
        case .task(let continuation, _): resume.append(continuation)
        case .parked(let job): granted.append(job)
        case .thread(let ticket):
            ticket.granted = true
            ticket.startsAtOnce = startsAtOnce(hostInUse: hosts[ticket.host]?.inUse ?? 0)
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
                hosts[host, default: Destination()].breaker = Destination.Breaker(configuration: breakerConfiguration)
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
