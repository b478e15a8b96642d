import Foundation
import Glibc
import Synchronization

/// Wakes the daemon when work may have arrived, so fire latency is not bounded by a polling
/// interval: inotify on `incoming/` (a rename in, or a write closed in place) and `deferred/`
/// (a requeue, another daemon's deferral), plus a periodic `.rescan` because inotify can
/// overflow and some filesystems (NFS) send no events at all.
///
/// A wake-up carries no names: the daemon's answer is always "claim until nothing is left",
/// which also picks up files that arrived before the watcher started.
public final class SpoolWatcher: Sendable {
    public enum Wake: Sendable, Equatable {
        /// Something was renamed or written into a watched queue.
        case changed
        /// The rescan interval passed quietly; look anyway.
        case rescan
        /// `close()` was called.
        case closed
    }

    public let rescanInterval: Duration
    private let inotifyFD: Int32
    /// The watch on `deferred/`, to tell its events from `incoming/`'s.
    private let deferredWatch: Int32
    private let deferredChanged = Atomic<Bool>(false)
    private let stopRead: Int32
    private let stopWrite: Int32

    /// Starts watching; only changes after this call are reported, so claim once afterwards.
    public init(spool: Spool, rescanInterval: Duration = .seconds(5)) throws(SpoolError) {
        self.rescanInterval = rescanInterval
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw SpoolError(code: .system, operation: "inotify_init1", path: spool.root, errno: errno) }
        var watches: [Int32] = []
        for (queue, mask) in [(Spool.Queue.incoming, UInt32(IN_MOVED_TO | IN_CLOSE_WRITE)), (.deferred, UInt32(IN_MOVED_TO))] {
            let path = spool.path(of: queue)
            let wd = inotify_add_watch(fd, path, mask | UInt32(IN_ONLYDIR))
            if wd < 0 {
                let code = errno
                Glibc.close(fd)
                throw SpoolError(code: .system, operation: "inotify_add_watch", path: path, errno: code)
            }
            watches.append(wd)
        }
        deferredWatch = watches[1]
        do {
            (stopRead, stopWrite) = try System.pipe()
        } catch {
            Glibc.close(fd)
            throw error
        }
        inotifyFD = fd
    }

    deinit {
        System.close(inotifyFD)
        System.close(stopRead)
        System.close(stopWrite)
    }

    /// Blocks the calling thread until a change, the timeout, or `close()`. For a daemon that
    /// runs its spool loop on a dedicated thread.
    public func wait(timeout: Duration) -> Wake {
        let millis = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        var fds = [pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0)]
        let deadline = SpoolTime.monotonicNanos() + UInt64(max(0, millis)) * 1_000_000
        while true {
            let left = Int64(deadline) - Int64(SpoolTime.monotonicNanos())
            let n = poll(&fds, 2, Int32(clamping: max(0, left / 1_000_000)))
            if n < 0 {
                if errno == EINTR { continue }
                preconditionFailure("poll on the spool watcher: errno \(errno)")
            }
            if fds[1].revents != 0 { return .closed }
            if fds[0].revents != 0 {
                drain()
                return .changed
            }
            if n == 0 { return .rescan }
        }
    }

    /// Wake-ups as an async sequence, driven by a thread of its own (poll blocks). Ends after
    /// `close()` or when the consumer stops iterating.
    public func wakeUps() -> AsyncStream<Wake> {
        let (stream, continuation) = AsyncStream.makeStream(of: Wake.self, bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [self] _ in close() }
        let thread = Thread { [self] in
            while true {
                let wake = wait(timeout: rescanInterval)
                if wake == .closed { break }
                continuation.yield(wake)
            }
            continuation.finish()
        }
        thread.name = "spool-watcher"
        thread.start()
        return stream
    }

    /// Whether a rename into `deferred/` (or an overflow) was seen since the last call: the
    /// events are read by `wait`, so this reports what the waits before it saw.
    public func takeDeferredChanged() -> Bool {
        deferredChanged.exchange(false, ordering: .acquiringAndReleasing)
    }

    /// Stops `wait` and `wakeUps`, now and for good.
    public func close() {
        var byte: UInt8 = 1
        _ = Glibc.write(stopWrite, &byte, 1)
    }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(inotifyFD, $0.baseAddress, $0.count) }
            if n > 0 {
                noteDeferredEvents(buffer[..<n])
                continue
            }
            if n < 0 && errno == EINTR { continue }
            return  // EAGAIN: drained.
        }
    }

    /// Sets `deferredChanged` if these events (whole `inotify_event`s) include one for
    /// `deferred/`, or an overflow, which may have lost one.
    private func noteDeferredEvents(_ events: ArraySlice<UInt8>) {
        let header = MemoryLayout<inotify_event>.size
        events.withUnsafeBytes { bytes in
            var at = 0
            while at + header <= bytes.count {
                let wd = bytes.loadUnaligned(fromByteOffset: at, as: Int32.self)
                let mask = bytes.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
                let nameLength = bytes.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self)
                if wd == deferredWatch || mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    deferredChanged.store(true, ordering: .releasing)
                    return
                }
                at += header + Int(nameLength)
            }
        }
    }
}
