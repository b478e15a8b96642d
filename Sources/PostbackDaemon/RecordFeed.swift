/// A source's loop: what the daemon starts, stops and reloads, whichever source it reads
/// (`SpoolFeed` for `source = spool`, `RedisFeed` for `source = redis`).
protocol RecordFeed: Sendable {
    /// Claims and plans until stopped (with `once`: until nothing is left); `onIdle` when
    /// there is nothing to do, the first time of which is READY=1.
    func run(once: Bool, onIdle: () -> Void)
    /// Stops claiming and planning; `run` returns after the fire being handed over.
    func stop()
    func update(rescanInterval: Duration)
    /// What STATUS= says first about the source (disk full, Redis away), or "".
    var statusPrefix: String { get }
}
