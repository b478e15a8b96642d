import PostbackCore

/// Fires postbacks through libcurl multi drivers (`DriverSet`), within the global and
/// per-host caps.
///
/// Two ways in. `submit` is the high-throughput path: one producer thread, one closure per
/// fire, completions on the driver thread, no Task or continuation per fire; it blocks the
/// producer while the caps are full, which is the backpressure that keeps records in the
/// spool. `fire` is the convenient async path for everything else.
public final class FiringEngine: Sendable {
    public let configuration: FiringConfiguration
    private let admission: Admission
    private let drivers: DriverSet

    public init(configuration: FiringConfiguration = FiringConfiguration()) {
        self.configuration = configuration
        let depth = 1 + configuration.queuedPerConnection
        admission = Admission(
            globalLimit: configuration.maxConcurrent * depth, hostLimit: configuration.perHost * depth,
            runningGlobalLimit: configuration.maxConcurrent, runningHostLimit: configuration.perHost,
            drivers: configuration.drivers, slowAfterMillis: Int64(configuration.slowHostAfter.curlMilliseconds))
        drivers = DriverSet(configuration: configuration, admission: admission)
    }

    /// Blocks the calling thread until the fire has a global and a host slot, then hands it
    /// to the driver. `completion` runs on the driver thread: keep it short and never call
    /// `submit` or `fire` and wait from it (only the driver frees slots); `trySubmit` is fine.
    /// Do not call from a Swift concurrency thread: blocking one starves the pool.
    public func submit(_ request: FireRequest, completion: @escaping @Sendable (FireResult) -> Void) {
        let host = Self.hostKey(request.url)
        let (driver, atOnce) = admission.acquireBlocking(host: host)
        drivers.hand(Job(request: request, host: host, completion: completion, driver: driver), startsAtOnce: atOnce)
    }

    /// Like `submit`, but does not wait for a slow host: false when all the host's slots are
    /// taken and the oldest has been out `configuration.slowHostAfter` (at once, or when that
    /// happens while this waits). The caller sets the fire aside (the daemon defers it to the
    /// spool) and goes on with other hosts, so one slow partner cannot stall the rest. A fire
    /// for a host whose slots are all taken first parks on its destination (as many as it has
    /// slots) and returns at once; past that a fast host is waited for.
    public func submitUnlessHostSlow(_ request: FireRequest, completion: @escaping @Sendable (FireResult) -> Void) -> Bool {
        var job = Job(request: request, host: Self.hostKey(request.url), completion: completion)
        switch admission.place(job) {
        case .granted(let driver, let atOnce):
            job.driver = driver
            drivers.hand(job, startsAtOnce: atOnce)
        case .parked: break
        case .slow: return false
        }
        return true
    }

    /// Hands the fire in only if both slots are free now; false means "try later", so a
    /// producer can move on to fires for other hosts instead of waiting behind a slow one.
    public func trySubmit(_ request: FireRequest, completion: @escaping @Sendable (FireResult) -> Void) -> Bool {
        let host = Self.hostKey(request.url)
        guard let (driver, atOnce) = admission.tryAcquire(host: host) else { return false }
        drivers.hand(Job(request: request, host: host, completion: completion, driver: driver), startsAtOnce: atOnce)
        return true
    }

    /// Suspends until a slot is free and the fire has its outcome.
    public func fire(_ request: FireRequest) async -> FireResult {
        let host = Self.hostKey(request.url)
        let driver = await admission.acquire(host: host)
        return await withCheckedContinuation { continuation in
            drivers.hand(Job(request: request, host: host, completion: { continuation.resume(returning: $0) }, driver: driver),
                         startsAtOnce: true)
        }
    }

    public func fire(url: String) async -> FireResult {
        await fire(FireRequest(url: url))
    }

    /// Stops taking fires, lets those in flight finish (each within the total timeout) and
    /// ends the driver threads. Fires submitted afterwards fail at once, transiently.
    public func shutdown() {
        drivers.stop()
    }

    /// Fires handed to curl right now, running or waiting for a connection (for status
    /// lines and metrics).
    public var inFlight: Int { admission.inFlight }

    // MARK: circuit breakers, one per destination (kept in its `Destination`)

    public typealias Breaker = CircuitBreaker<ContinuousClock.Instant>

    /// Asks the breaker of `host` (a `HostKey`) before sending a fire there.
    public func admitByBreaker(host: String) -> Breaker.Admission {
        admission.admitByBreaker(host: host)
    }

    /// Tells the breaker of `host` whether the host answered usefully.
    public func recordForBreaker(host: String, success: Bool, wasProbe: Bool) {
        admission.recordForBreaker(host: host, success: success, wasProbe: wasProbe)
    }

    public var breakerConfiguration: Breaker.Configuration { admission.currentBreakerConfiguration }

    /// New breaker settings, for every destination (their failure counts stay).
    public func updateBreakers(_ configuration: Breaker.Configuration) {
        admission.updateBreakers(configuration)
    }

    /// Hosts whose breaker is open or probing, sorted.
    public var openBreakerHosts: [String] { admission.openBreakerHosts }

    /// The fire's destination: `HostKey`, the key the daemon's breaker uses too.
    static func hostKey(_ url: String) -> String {
        HostKey.of(url)
    }
}

extension FireResult {
    /// A fire that never reached curl.
    static func notSent(_ url: String, reason: String) -> FireResult {
        FireResult(
            url: url, effectiveURL: nil, status: nil, curlCode: 2 /* CURLE_FAILED_INIT */,
            errorText: reason, latency: .zero, bodyPrefix: [], bodyTruncated: false,
            retryAfter: nil, redirects: [], redirectURL: nil, refusal: nil,
            verdict: FireVerdict(.transient, reason))
    }
}
