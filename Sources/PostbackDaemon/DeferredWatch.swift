/// When the spool loop lists `deferred/` again, so that a loop turn does not read the whole
/// queue to learn that nothing is due.
///
/// Listing `deferred/` on every turn cost a directory read per claimed file: with a slow
/// partner's fires waiting there by the hundred, that was most of the loop's time between
/// small files, and the fast fires' latency doubled. A listing also tells when the next fire
/// is due; until then the loop lists again only when inotify saw a rename into `deferred/`
/// (a requeue, another daemon's deferral, our own), or after `relistAfterNanos` (inotify is
/// read only while the loop waits, and can overflow). Pure: the loop owns one and feeds it
/// the clocks.
struct DeferredWatch: Sendable {
    /// The earliest due time (Unix ms) in `deferred/` at the last listing; nil when it left
    /// nothing there.
    private(set) var nextDue: Int64?
    /// When that listing was made (monotonic nanoseconds); nil before the first.
    private var listedAt: UInt64?

    static let relistAfterNanos: UInt64 = 250_000_000

    /// Whether to list now: before the first listing, when the earliest fire is due, when
    /// `deferred/` changed, or when the last listing is `relistAfterNanos` old.
    func needsListing(nowMillis: Int64, monotonicNanos: UInt64, changed: Bool) -> Bool {
        guard let listedAt else { return true }
        if let nextDue, nextDue <= nowMillis { return true }
        return changed || monotonicNanos &- listedAt >= Self.relistAfterNanos
    }

    /// A listing was made at `monotonicNanos`: `nextDue` is the earliest due time of what it
    /// left in `deferred/` (nil: nothing).
    mutating func listed(nextDue: Int64?, monotonicNanos: UInt64) {
        self.nextDue = nextDue
        listedAt = monotonicNanos
    }
}
