import Foundation

/// Fires handed to the engine whose outcome is not recorded yet, and the bound on them.
///
/// The bound is the backpressure between firing and recording: when the recorder falls behind
/// (a slow disk, a journald that cannot keep up), the firing loop waits here instead of piling
/// results up in memory, and the records it has not reached stay in the spool. `--once` and a
/// drain wait for the count to reach zero.
///
/// A full loop resumes only once half the room is free again. Waking it for every recorded
/// outcome (a semaphore) made firing and recording take turns one fire at a time, with a
/// thread wake-up each, whenever journald was the slower side.
final class FiresOutstanding: @unchecked Sendable {
    // @unchecked: every field below is read and written with `condition` locked.
    private let condition = NSCondition()
    private var count = 0
    private var full = false
    private let limit: Int
    private let resumeAt: Int

    /// At most `limit` fires between submission and a recorded outcome.
    init(limit: Int) {
        self.limit = max(1, limit)
        self.resumeAt = self.limit / 2
    }

    /// Before a fire is submitted (or held back); blocks while `limit` are outstanding.
    func enter() {
        condition.lock()
        while count >= limit {
            full = true
            condition.wait()
        }
        count += 1
        condition.unlock()
    }

    /// Once the fire's outcome is recorded.
    func leave() {
        condition.lock()
        count -= 1
        precondition(count >= 0, "FiresOutstanding.leave without enter")
        if count == 0 || (full && count <= resumeAt) {
            full = false
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Until no fire is outstanding.
    func wait() {
        condition.lock()
        while count > 0 { condition.wait() }
        condition.unlock()
    }

    /// Until no fire is outstanding (true) or `timeout` has passed (false).
    func wait(upTo timeout: Duration) -> Bool {
        let (seconds, attoseconds) = timeout.components
        let deadline = Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while count > 0 {
            if !condition.wait(until: deadline) { return count == 0 }
        }
        return true
    }
}
