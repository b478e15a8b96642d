// Per-host circuit breaker (DESIGN.md, Partner health).
//
// One dead partner must cost no connections and no pool slots: once its host fails often
// enough, its fires are deferred without being sent, and after a cool-down a single probe
// finds out whether it is back. Pure state machine: the caller passes the time in, so the
// daemon uses a monotonic clock and tests step time by hand.

/// The breaker for one host. Generic over the instant so tests can use a fake clock.
public struct CircuitBreaker<Instant: InstantProtocol>: Sendable
where Instant.Duration == Swift.Duration, Instant: Sendable {

    public struct Configuration: Sendable, Equatable {
        /// Opens after this many failures in a row.
        public var consecutiveFailures: Int
        /// Opens when more than `failureRatio` of the last `window` outcomes failed...
        public var window: Int
        public var failureRatio: Double
        /// ...once at least this many outcomes are in the window, so a handful of early
        /// failures cannot open it.
        public var minimumSamples: Int
        /// How long an open breaker refuses before letting one probe through.
        public var coolDown: Duration

        public init(
            consecutiveFailures: Int = 20, window: Int = 100, failureRatio: Double = 0.5,
            minimumSamples: Int = 50, coolDown: Duration = .seconds(60)
        ) {
            precondition(consecutiveFailures >= 1 && window >= 1 && minimumSamples <= window)
            self.consecutiveFailures = consecutiveFailures
            self.window = window
            self.failureRatio = failureRatio
            self.minimumSamples = minimumSamples
            self.coolDown = coolDown
        }
    }

    public enum Admission: Sendable, Equatable {
        /// Closed: send it.
        case allow
        /// Half-open: send it, and report its outcome with `wasProbe: true`.
        case probe
        /// Open (or a probe is out): defer the fire until at least `until`.
        case reject(until: Instant)
    }

    public enum Phase: Sendable, Equatable {
        case closed
        case open(until: Instant)
        case halfOpen(probeSentAt: Instant)
    }

    /// Settable so a reload can retune a breaker in place; its outcomes so far stay.
    public var configuration: Configuration
    public private(set) var phase: Phase = .closed
    /// Ring of the last `window` outcomes in the closed phase (true = failure).
    private var outcomes: [Bool] = []
    private var next = 0
    private var failuresInWindow = 0
    private var failuresInRow = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        outcomes.reserveCapacity(configuration.window)
    }

    /// Ask before sending a fire to this host.
    public mutating func admit(now: Instant) -> Admission {
        switch phase {
        case .closed:
            return .allow
        case .open(let until) where now < until:
            return .reject(until: until)
        case .open:
            phase = .halfOpen(probeSentAt: now)
            return .probe
        case .halfOpen(let sentAt):
            // A probe whose outcome never came back must not wedge the host for good.
            if now >= sentAt.advanced(by: configuration.coolDown) {
                phase = .halfOpen(probeSentAt: now)
                return .probe
            }
            return .reject(until: sentAt.advanced(by: configuration.coolDown))
        }
    }

    /// Report the outcome of an admitted fire. A "failure" is the partner not answering
    /// usefully (connection error, timeout, 5xx, 429); a 4xx answer proves it is alive.
    public mutating func record(success: Bool, now: Instant, wasProbe: Bool = false) {
        switch phase {
        case .closed:
            push(failure: !success)
            if shouldOpen { open(now: now) }
        case .open:
            break  // late outcomes of fires sent before opening change nothing
        case .halfOpen:
            guard wasProbe else { break }
            if success { close() } else { open(now: now) }
        }
    }

    private var shouldOpen: Bool {
        if failuresInRow >= configuration.consecutiveFailures { return true }
        return outcomes.count >= configuration.minimumSamples
            && Double(failuresInWindow) > configuration.failureRatio * Double(outcomes.count)
    }

    private mutating func push(failure: Bool) {
        failuresInRow = failure ? failuresInRow + 1 : 0
        if outcomes.count < configuration.window {
            outcomes.append(failure)
        } else {
            if outcomes[next] { failuresInWindow -= 1 }
            outcomes[next] = failure
            next = (next + 1) % configuration.window
        }
        if failure { failuresInWindow += 1 }
    }

    private mutating func open(now: Instant) {
        phase = .open(until: now.advanced(by: configuration.coolDown))
    }

    private mutating func close() {
        phase = .closed
        outcomes.removeAll(keepingCapacity: true)
        next = 0
        failuresInWindow = 0
        failuresInRow = 0
    }
}
