import Synchronization

/// Live counters for STATUS= lines and metrics, since the daemon started.
final class DaemonStats: Sendable {
    let submitted = Atomic<Int>(0)
    let succeeded = Atomic<Int>(0)
    let deferred = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let skippedPartnerAuthored = Atomic<Int>(0)
    let writeErrors = Atomic<Int>(0)
    let autoPaused = Atomic<Int>(0)
    /// Fires deferred unsent because their host's circuit breaker was open or the host was slow.
    let heldBack = Atomic<Int>(0)
}
