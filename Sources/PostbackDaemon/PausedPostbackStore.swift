/// Where the daemon keeps the postbacks it auto-paused: `paused.json` in its state directory
/// (`PausedPostbacks`, `source = spool`), or a Redis hash every daemon of the group shares
/// (`RedisPausedPostbacks`, `source = redis`). The recorder adds, reload re-reads, and a
/// shared store also tells of changes made elsewhere (another daemon's pause, a `resume`).
protocol PausedPostbackStore: Sendable {
    /// Every paused id, as last read or added.
    var ids: Set<Int64> { get }
    /// Records a new pause and returns every paused id.
    func add(_ id: Int64, reason: String) throws -> Set<Int64>
    /// Reads the store again (SIGHUP, after `postbackctl resume`) and returns every paused id.
    func reload() throws -> Set<Int64>
    /// Where the pauses are kept, for messages.
    var location: String { get }
    /// Starts following changes made elsewhere: `changed` gets every paused id after each.
    func follow(_ changed: @escaping @Sendable (Set<Int64>) -> Void)
    /// Stops following and writes any pause not written yet: at the end of a drain or of
    /// `--once`, so a pause made just before the exit is not lost.
    func close()
}

extension PausedPostbackStore {
    /// A store only this daemon writes changes only on reload: nothing to follow.
    func follow(_ changed: @escaping @Sendable (Set<Int64>) -> Void) {}
    func close() {}
}
