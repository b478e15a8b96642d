import Dispatch
import Synchronization

/// Closes the descriptors of files already removed from the spool, off the caller's thread.
///
/// The last close of an unlinked file is where the kernel frees its inode and blocks; on
/// ext4 mounted with `discard` that includes a TRIM the caller waits for (tens of µs on a
/// virtio disk, mostly waiting, not CPU). Done on the recorder's queue, that wait was paid
/// once per finished file, in line with every outcome behind it. Here it overlaps them, and
/// up to `drainers` closes overlap each other: the waits are the device's, which takes
/// several at once (one closer thread kept up with ~17k files a second here, four with ~37k).
///
/// Only for files nobody can reach any more (unlinked, or renamed out of the claimable
/// queues): the flock such a descriptor holds guards nothing. A release at shutdown closes
/// at once, since the next claimer needs the lock gone.
///
/// Bounded: past `limit` descriptors waiting, the caller closes its own, so a closer that
/// falls behind costs speed, never the process's descriptor limit.
public final class RemovedFileCloser: Sendable {
    /// A custom queue, so its blocks run on overcommitting threads: they mostly wait on the
    /// device, and the global queues would hold them to one thread per core.
    private let queue = DispatchQueue(label: "postbackd.closer", attributes: .concurrent)
    private let running = DispatchGroup()
    private let state = Mutex(State())
    private let limit: Int
    private let drainers: Int

    private struct State {
        var waiting: [Int32] = []
        /// Taken by a drainer and not yet closed.
        var closing = 0
        /// Drainers running; at least one while `waiting` is not empty.
        var active = 0
    }

    /// How many descriptors a drainer takes at a time: the rest stay for the others.
    private static let batch = 32

    public init(limit: Int = 4096, drainers: Int = 4) {
        precondition(limit > 0 && drainers > 0)
        self.limit = limit
        self.drainers = drainers
    }

    /// Closes `fds` soon, or now when too many are already waiting.
    public func close(_ fds: [Int32]) {
        guard !fds.isEmpty else { return }
        let start: Bool? = state.withLock { state in
            guard state.waiting.count + state.closing + fds.count <= limit else { return nil }
            state.waiting.append(contentsOf: fds)
            // One drainer per `batch` waiting, up to `drainers`: a trickle needs one.
            let wanted = min(drainers, (state.waiting.count + Self.batch - 1) / Self.batch)
            guard state.active < wanted else { return false }
            state.active += 1
            return true
        }
        switch start {
        case nil:
            for fd in fds { System.close(fd) }
        case true?:
            running.enter()
            queue.async { self.drain() }
        case false?:
            break  // the drainers running take these too
        }
    }

    /// Returns once every descriptor handed over before the call is closed (`--once` and a
    /// drain, so that what they report as finished holds no descriptor).
    public func waitUntilClosed() {
        running.wait()
    }

    /// Descriptors handed over and not yet closed.
    public var pending: Int {
        state.withLock { $0.waiting.count + $0.closing }
    }

    private func drain() {
        while true {
            let fds: [Int32]? = state.withLock { state in
                guard !state.waiting.isEmpty else {
                    state.active -= 1
                    return nil
                }
                let taken = Array(state.waiting.suffix(Self.batch))
                state.waiting.removeLast(taken.count)
                state.closing += taken.count
                return taken
            }
            guard let fds else { break }
            for fd in fds { System.close(fd) }
            state.withLock { $0.closing -= fds.count }
        }
        running.leave()
    }
}
