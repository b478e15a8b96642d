import Dispatch

/// Fires handed to the engine whose outcome is not recorded yet, and the bound on them.
///
/// The bound is the backpressure between firing and recording: when the recorder falls behind
/// (a slow disk, a journald that cannot keep up), the firing loop waits here instead of piling
/// results up in memory, and the records it has not reached stay in the spool. `--once` and a
/// drain wait for the count to reach zero.
final class FiresOutstanding: Sendable {
    private let group = DispatchGroup()
    private let room: DispatchSemaphore

    /// At most `limit` fires between submission and a recorded outcome.
    init(limit: Int) {
        room = DispatchSemaphore(value: limit)
    }

    /// Before a fire is submitted (or held back); blocks while `limit` are outstanding.
    func enter() {
        room.wait()
        group.enter()
    }

    /// Once the fire's outcome is recorded.
    func leave() {
        group.leave()
        room.signal()
    }

    func wait() {
        group.wait()
    }

    func wait(timeout: DispatchTime) -> DispatchTimeoutResult {
        group.wait(timeout: timeout)
    }
}
