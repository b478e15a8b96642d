import Glibc
import Synchronization

/// CLOCK_MONOTONIC in nanoseconds: the one clock of the harness. The offerer stamps renames
/// with it and the sink stamps arrivals with it, in the same process, so a latency is a plain
/// difference (no realtime steps, no clock of another process).
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// What a request to the sink is, from its path and the `id` the record carried in `sub1`:
/// `/pb?id=<n>` a fast fire, `/slow?id=<n>` a slow partner's fire, `/pb?id=w<n>` a warm-up.
enum FireKind: Sendable, Equatable {
    case fast(Int)
    case slow(Int)
    case warmUp
    case unknown

    init(uri: String) {
        let bytes = Array(uri.utf8)
        guard let q = bytes.firstIndex(of: UInt8(ascii: "?")) else { self = .unknown; return }
        let path = bytes[..<q]
        var query = bytes[(q + 1)...]
        guard query.starts(with: "id=".utf8) else { self = .unknown; return }
        query = query.dropFirst(3)
        if query.first == UInt8(ascii: "w") { self = .warmUp; return }
        var n = 0
        for b in query {
            guard b >= 48 && b <= 57 else { break }
            n = n * 10 + Int(b - 48)
        }
        switch String(decoding: path, as: UTF8.self) {
        case "/pb": self = .fast(n)
        case "/slow": self = .slow(n)
        default: self = .unknown
        }
    }
}

/// The shared account of the run: when each fast record was renamed into `incoming/`, when its
/// fire reached the sink, and the counts of everything else. Written by the offerer thread and
/// the sink's event loop, read by the main thread; one lock, taken a few thousand times a
/// second, which costs nothing next to what is measured.
final class Arrivals: Sendable {
    struct State {
        /// Per fast id: monotonic ns just before the rename of its file; 0 = not offered yet.
        var renamedAt: [UInt64]
        /// Per fast id: monotonic ns of the request head's arrival; 0 = not arrived.
        var arrivedAt: [UInt64]
        var fastOffered = 0
        var fastArrived = 0
        var slowOffered = 0
        var slowArrived = 0
        var warmUpArrived = 0
        var duplicates = 0
        var unknown = 0
    }

    let state: Mutex<State>

    init(fastCount: Int) {
        state = Mutex(State(renamedAt: Array(repeating: 0, count: fastCount),
                            arrivedAt: Array(repeating: 0, count: fastCount)))
    }

    /// The offerer renamed a file holding these fast ids and `slow` slow records at `at`.
    func renamed(fast ids: Range<Int>, slow: Int, at: UInt64) {
        state.withLock { s in
            for id in ids { s.renamedAt[id] = at }
            s.fastOffered += ids.count
            s.slowOffered += slow
        }
    }

    /// The sink got a request; the first arrival of a fast id is the one that counts.
    func arrived(_ kind: FireKind, at: UInt64) {
        state.withLock { s in
            switch kind {
            case .fast(let id) where id < s.arrivedAt.count:
                if s.arrivedAt[id] != 0 {
                    s.duplicates += 1
                } else {
                    s.arrivedAt[id] = at
                    s.fastArrived += 1
                }
            case .slow:
                s.slowArrived += 1
            case .warmUp:
                s.warmUpArrived += 1
            case .fast, .unknown:
                s.unknown += 1
            }
        }
    }

    /// The whole account, once the run is over.
    var snapshot: State { state.withLock { $0 } }

    /// For polling while the sink writes: a copy of `State` would keep its arrays alive, and
    /// the sink's next write would then copy 800 KB under the lock.
    var fastArrived: Int { state.withLock { $0.fastArrived } }
    var warmUpArrived: Int { state.withLock { $0.warmUpArrived } }
}
