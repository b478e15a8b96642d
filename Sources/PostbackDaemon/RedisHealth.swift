import Synchronization

/// Says whether Redis answers, for STATUS= and the journal: set by whoever talks to it.
final class RedisHealth: Sendable {
    private let problem = Mutex<String?>(nil)

    /// The current outage, if any.
    var outage: String? { problem.withLock { $0 } }

    /// True when this is news (the first failure of an outage), so it is logged once.
    func failed(_ why: String) -> Bool {
        problem.withLock { problem in
            defer { problem = why }
            return problem == nil
        }
    }

    /// True when an outage just ended.
    func answered() -> Bool {
        problem.withLock { problem in
            defer { problem = nil }
            return problem != nil
        }
    }
}
