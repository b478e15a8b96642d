/// How the engine's caps are split between its driver threads.
///
/// One driver thread (one curl multi handle) was the engine's ceiling: curl's work per fire
/// runs on it, so the rest of the daemon could not use the second core for firing. Each
/// driver runs its share of the transfers; the shares of every cap add up to the cap, so
/// a host never gets more than `perHost` requests (or connections) at once, whichever
/// drivers its fires land on. Pure arithmetic: Admission assigns fires to drivers by it.
struct DriverShares: Sendable {
    /// Per-driver counts, in fixed-size inline storage: no allocation per destination.
    typealias Counts = InlineArray<4, Int>
    /// The most drivers an engine runs: as many as `Counts` holds.
    static var limit: Int { Counts.count }

    /// How many drivers: as asked, but never more than `limit`, nor than the smallest cap
    /// (each driver must get at least one slot of every host).
    let count: Int
    /// Per driver: transfers it runs at once (its share of `maxConcurrent`).
    let running: Counts
    /// Per driver: transfers it runs at once to one host (its share of `perHost`).
    let hostRunning: Counts
    /// Per driver: a host's slots there, running or queued in the driver (its share of
    /// Admission's host limit).
    let hostSlots: Counts

    init(drivers wanted: Int, running: Int, hostRunning: Int, hostSlots: Int) {
        let count = max(1, min(wanted, Self.limit, running, hostRunning))
        self.count = count
        self.running = Self.split(running, count)
        self.hostRunning = Self.split(hostRunning, count)
        self.hostSlots = Self.split(hostSlots, count)
    }

    /// `total` over `count` drivers, as evenly as it goes, the first ones taking the rest.
    static func split(_ total: Int, _ count: Int) -> Counts {
        var shares = Counts(repeating: 0)
        for i in 0..<count { shares[i] = total / count + (i < total % count ? 1 : 0) }
        return shares
    }
}
