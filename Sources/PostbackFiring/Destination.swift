import DequeModule
import PostbackCore

/// One destination (a `HostKey`): its slots, its slow-host state and its circuit breaker.
///
/// - Owner: `Admission`, which holds one per key, created by the first fire (or failure) and
///   dropped when the last slot comes back unless it holds a breaker; every field is read and
///   changed only under the admission lock (producer threads acquire, the driver threads
///   release and report sends, the daemon asks and tells the breaker).
/// - Each driver's `HostLane` is that driver thread's own view of the same key: the fires that
///   hold a slot here on that driver but wait for a curl slot there. It is not folded in
///   because it is read and written for every transfer on the driver thread without a lock (the engine's
///   bottleneck; Benchmarks/driver); putting it under the admission lock would add a lock
///   round trip per transfer to the hot path. Both are keyed by `HostKey`, so they cannot
///   disagree about which fires are one host's.
/// - Its circuit breaker is here too (asked by the daemon's dispatcher before sending, told
///   by its recorder on the driver thread, through `FiringEngine` and `HostBreakers`): an
///   entry with a breaker is kept after its last fire, so a dead partner stays held back.
///   The daemon keys it by the template's `HostKey`, the engine by the expanded URL's: the
///   same function, so one entry.
///
/// The decisions are pure: `SlowHostRule` (is this host slow?) and `CircuitBreaker` (PostbackCore)
/// take the time in, and the slot rules below are plain value mutations, so Admission's lock
/// is only the owner.
struct Destination {
    /// Slots taken: fires in curl or queued in a driver (at most Admission's host limit).
    var inUse = 0
    /// Of `inUse`, the slots on each driver (each at most its `DriverShares.hostSlots`).
    var onDriver = DriverShares.Counts(repeating: 0)
    /// The driver this host's fires go to while it has room, so its connections (and their
    /// TLS sessions) stay on one curl multi handle: spread over drivers, a partner seen
    /// now and then would find its connection open on one and pay a handshake on the other.
    let preferredDriver: Int
    /// Fires waiting for a slot of this destination, FIFO.
    var waiters = Deque<Admission.Waiter>()
    /// How many of `waiters` are parked fires (no thread behind them); at most the slot count.
    var parked = 0
    var slowness = SlowHostRule()
    typealias Breaker = CircuitBreaker<ContinuousClock.Instant>
    /// Made by the host's first failure; nil (closed, never failed) for the healthy many.
    var breaker: Breaker?

    init(preferredDriver: Int = 0) {
        self.preferredDriver = preferredDriver
    }

    /// All its slots are taken and the slow-host rule says its answers are late.
    func isSlow(limit: Int, slowAfter: Int64, now: Int64) -> Bool {
        inUse >= limit && slowness.isSlow(now: now, after: slowAfter)
    }

    /// Takes a slot if one is free and nobody is waiting ahead; returns its driver.
    mutating func takeIfFree(limit: Int, _ shares: DriverShares, poolInUse: DriverShares.Counts) -> Int? {
        guard waiters.isEmpty, inUse < limit else { return nil }
        let driver = driverWithRoom(shares, poolInUse: poolInUse)
        inUse += 1
        onDriver[driver] += 1
        return driver
    }

    /// The driver of a slot taken now: the preferred one while it has room for this host,
    /// however busy its share of the pool, so a partner's fires find their connection open;
    /// else, of the drivers with room for this host, the one with the most room in the pool
    /// (`poolInUse`: fires holding a pool slot, per driver). Following the pool's load for
    /// every fire would spread a partner over the drivers, each opening its own connection
    /// and TLS handshake to it. A slot is free (`inUse` below the host limit, the sum of the
    /// drivers' shares), so one driver has room.
    func driverWithRoom(_ shares: DriverShares, poolInUse: DriverShares.Counts) -> Int {
        if shares.count == 1 { return 0 }
        if onDriver[preferredDriver] < shares.hostSlots[preferredDriver] { return preferredDriver }
        var best = -1
        for i in 0..<shares.count where onDriver[i] < shares.hostSlots[i] {
            if best < 0 || poolInUse[i] - shares.running[i] < poolInUse[best] - shares.running[best] { best = i }
        }
        precondition(best >= 0, "a free host slot on no driver")
        return best
    }

    /// Parks a fire behind the slots in use, unless `limit` are parked already (the caller
    /// then waits its turn instead). Only when no slot is free: a free slot is taken, not parked.
    mutating func park(_ job: Job, limit: Int) -> Bool {
        guard !(waiters.isEmpty && inUse < limit), parked < limit else { return false }
        waiters.append(.parked(job))
        parked += 1
        return true
    }

    /// Takes a slot (returns its driver) or puts the waiter in line.
    mutating func takeOrQueue(_ waiter: Admission.Waiter, limit: Int, _ shares: DriverShares, poolInUse: DriverShares.Counts) -> Int? {
        if let driver = takeIfFree(limit: limit, shares, poolInUse: poolInUse) { return driver }
        waiters.append(waiter)
        return nil
    }

    /// A finished fire's slot on `driver`: straight to the first waiter still waiting (the
    /// slot stays on that driver), or freed. Waiters that gave up are dropped on the way.
    mutating func releaseOrHandOff(driver: Int, wasSent: Bool, slowAfter: Int64, now: Int64) -> Admission.Waiter? {
        if wasSent { slowness.answered(now: now, after: slowAfter) }
        while let next = waiters.popFirst() {
            switch next {
            case .thread(let ticket) where ticket.abandoned: continue
            case .parked: parked -= 1
            case .thread, .task: break
            }
            return next
        }
        inUse -= 1
        onDriver[driver] -= 1
        return nil
    }
}

/// The slow-host rule (DESIGN.md, Safety rules: it judges the partner's answers, never a queue
/// of ours), as a value: the caller passes the monotonic time in ms.
///
/// A host is slow when the oldest of its requests still waiting for an answer went out
/// `after` ms ago or more, and stays slow until an answer comes sooner, so a slow host whose
/// slots all refill at once is not waited for again. Whether all its slots are taken is the
/// caller's half of the rule (`Destination.isSlow`).
struct SlowHostRule {
    /// When each request still waiting for its answer went out (monotonic ms, reported by the
    /// driver when curl sends it), oldest first; a finished fire that was sent gives back the
    /// oldest. The partner's clock: time a fire waits for a slot, a connection or a TLS
    /// handshake of ours is not in it. Fires of one host finish roughly in order, and where
    /// they do not this understates the age, which errs towards waiting.
    private(set) var awaiting = Deque<Int64>()
    /// Found slow; stays so until answers come sooner.
    private(set) var slow = false

    /// When the oldest request still unanswered went out, if any.
    var oldestSent: Int64? { awaiting.first }

    func isSlow(now: Int64, after: Int64) -> Bool {
        slow || now - (awaiting.first ?? .max) >= after
    }

    mutating func sent(at now: Int64) { awaiting.append(now) }

    mutating func markSlow() { slow = true }

    /// A sent request's answer came (or it failed): the oldest gives its place back, and an
    /// answer sooner than `after` ends the slow spell.
    mutating func answered(now: Int64, after: Int64) {
        if let oldest = awaiting.popFirst(), slow, now - oldest < after { slow = false }
    }
}
