import Dispatch
import Synchronization

/// Closes the descriptors of files already removed from the spool, on a queue of its own.
///
/// The last close of an unlinked file is where the kernel frees its inode and blocks; on
/// ext4 mounted with `discard` that includes a TRIM the caller waits for (tens of µs on a
/// virtio disk, mostly waiting, not CPU). Done on the recorder's queue, that wait was paid
/// once per finished file, in line with every outcome behind it. Here it overlaps them.
///
/// Only for files nobody can reach any more (unlinked, or renamed out of the claimable
/// queues): the flock such a descriptor holds guards nothing. A release at shutdown closes
/// at once, since the next claimer needs the lock gone.
///
/// Bounded: past `limit` descriptors waiting, the caller closes its own, so a closer that
/// falls behind costs speed, never the process's descriptor limit.
public final class RemovedFileCloser: Sendable {
    private let queue = DispatchQueue(label: "postbackd.closer")
    private let state = Mutex(State())
    private let limit: Int

    private struct State {
        var waiting: [Int32] = []
        /// Taken by the queue and not yet closed.
        var closing = 0
    }

    public init(limit: Int = 4096) {
        self.limit = limit
    }

    /// Closes `fds` soon, or now when too many are already waiting.
    public func close(_ fds: [Int32]) {
        guard !fds.isEmpty else { return }
        let scheduled: Bool? = state.withLock { state in
            guard state.waiting.count + state.closing + fds.count <= limit else { return nil }
            let wasEmpty = state.waiting.isEmpty
            state.waiting.append(contentsOf: fds)
            return wasEmpty
        }
        switch scheduled {
        case nil:
            for fd in fds { System.close(fd) }
        case true?:
            queue.async { self.closeWaiting() }
        case false?:
            break  // the block already scheduled takes these too
        }
    }

    /// Returns once every descriptor handed over before the call is closed (`--once` and a
    /// drain, so that what they report as finished holds no descriptor).
    public func waitUntilClosed() {
        queue.sync {}
    }

    /// Descriptors handed over and not yet closed.
    public var pending: Int {
        state.withLock { $0.waiting.count + $0.closing }
    }

    private func closeWaiting() {
        let fds = state.withLock { state in
            let taken = state.waiting
            state.waiting.removeAll(keepingCapacity: true)
            state.closing += taken.count
            return taken
        }
        for fd in fds { System.close(fd) }
        state.withLock { $0.closing -= fds.count }
    }
}
