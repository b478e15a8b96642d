import PostbackCore
import PostbackFiring
import Synchronization

/// One circuit breaker per destination host, shared by the firing loop (which asks before
/// sending) and the recorder (which reports outcomes). A dead partner then costs no
/// connections and no pool slots: its fires are deferred unsent until a probe gets through.
final class HostBreakers: Sendable {
    typealias Breaker = CircuitBreaker<ContinuousClock.Instant>
    private let breakers = Mutex<[String: Breaker]>([:])
    let configuration: Breaker.Configuration

    init(configuration: Breaker.Configuration) {
        self.configuration = configuration
    }

    func admit(_ host: String) -> Breaker.Admission {
        breakers.withLock { all in
            // Closed breakers are the common case; only hosts that failed get an entry.
            guard var breaker = all[host] else { return .allow }
            let admission = breaker.admit(now: .now)
            all[host] = breaker
            return admission
        }
    }

    /// Whether the host answered usefully: an answer below 500 other than 429 proves it is
    /// alive (a 404 is the postback's problem, not the host's). Refusals by our own address
    /// rules and failures on our side say nothing about the host and are not counted
    /// (`FireResult.judgesPartner`).
    func record(_ host: String, _ result: FireResult, wasProbe: Bool) {
        if !result.judgesPartner { return }
        let success = result.status.map { $0 < 500 && $0 != 429 } ?? false
        breakers.withLock { all in
            if success && all[host] == nil { return }
            var breaker = all[host] ?? Breaker(configuration: configuration)
            breaker.record(success: success, now: .now, wasProbe: wasProbe)
            all[host] = breaker
        }
    }

    /// Hosts whose breaker is open or probing, for STATUS= and logs.
    var openHosts: [String] {
        breakers.withLock { all in
            all.compactMap { host, breaker in
                if case .closed = breaker.phase { return nil }
                return host
            }.sorted()
        }
    }
}
