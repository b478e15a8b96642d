import PostbackCore
import PostbackFiring
import Synchronization

/// One circuit breaker per destination host, shared by the firing loop (which asks before
/// sending) and the recorder (which reports outcomes). A dead partner then costs no
/// connections and no pool slots: its fires are deferred unsent until a probe gets through.
final class HostBreakers: Sendable {
    typealias Breaker = CircuitBreaker<ContinuousClock.Instant>
    private struct State {
        var configuration: Breaker.Configuration
        var breakers: [String: Breaker] = [:]
    }
    private let state: Mutex<State>

    init(configuration: Breaker.Configuration) {
        state = Mutex(State(configuration: configuration))
    }

    var configuration: Breaker.Configuration { state.withLock { $0.configuration } }

    /// A reload's breaker settings: for hosts seen from now on and for every breaker now kept
    /// (their failure counts stay).
    func update(_ configuration: Breaker.Configuration) {
        state.withLock { state in
            state.configuration = configuration
            for host in state.breakers.keys { state.breakers[host]!.configuration = configuration }
        }
    }

    func admit(_ host: String) -> Breaker.Admission {
        state.withLock { state in
            // Closed breakers are the common case; only hosts that failed get an entry.
            guard var breaker = state.breakers[host] else { return .allow }
            let admission = breaker.admit(now: .now)
            state.breakers[host] = breaker
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
        state.withLock { state in
            if success && state.breakers[host] == nil { return }
            var breaker = state.breakers[host] ?? Breaker(configuration: state.configuration)
            breaker.record(success: success, now: .now, wasProbe: wasProbe)
            state.breakers[host] = breaker
        }
    }

    /// Hosts whose breaker is open or probing, for STATUS= and logs.
    var openHosts: [String] {
        state.withLock { state in
            state.breakers.compactMap { host, breaker in
                if case .closed = breaker.phase { return nil }
                return host
            }.sorted()
        }
    }
}
