import PostbackCore
import PostbackFiring

/// The daemon's side of the circuit breaker per destination host: what counts as the host
/// answering usefully. The breakers themselves are kept in the engine, one in each host's
/// `Destination` beside its slots and slow-host state; the firing loop asks before sending
/// and the recorder reports outcomes. A dead partner then costs no connections and no pool
/// slots: its fires are deferred unsent until a probe gets through.
final class HostBreakers: Sendable {
    typealias Breaker = FiringEngine.Breaker
    private let engine: FiringEngine

    init(engine: FiringEngine, configuration: Breaker.Configuration) {
        self.engine = engine
        engine.updateBreakers(configuration)
    }

    var configuration: Breaker.Configuration { engine.breakerConfiguration }

    /// A reload's breaker settings: for hosts seen from now on and for every breaker now kept
    /// (their failure counts stay).
    func update(_ configuration: Breaker.Configuration) {
        engine.updateBreakers(configuration)
    }

    func admit(_ host: String) -> Breaker.Admission {
        engine.admitByBreaker(host: host)
    }

    /// Whether the host answered usefully: an answer below 500 other than 429 proves it is
    /// alive (a 404 is the postback's problem, not the host's). Refusals by our own address
    /// rules and failures on our side say nothing about the host and are not counted
    /// (`FireResult.judgesPartner`).
    func record(_ host: String, _ result: FireResult, wasProbe: Bool) {
        if !result.judgesPartner { return }
        let success = result.status.map { $0 < 500 && $0 != 429 } ?? false
        engine.recordForBreaker(host: host, success: success, wasProbe: wasProbe)
    }

    /// Hosts whose breaker is open or probing, for STATUS= and logs.
    var openHosts: [String] { engine.openBreakerHosts }
}
