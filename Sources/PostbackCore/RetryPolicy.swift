// When to try a transiently failed fire again (DESIGN.md, Firing: backoff).
//
// Exponential backoff with "full jitter" (delay drawn uniformly from zero to the exponential
// ceiling) spreads retries of a partner outage over time instead of hammering the partner in
// synchronized waves; see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.
// Pure: the caller supplies the attempt count, the fire's age and the random source, so the
// schedule is reproducible in tests and survives a restart (the spool stores count and age).

/// The retry schedule; the defaults are DESIGN.md's.
public struct RetryPolicy: Sendable, Equatable {
    /// Ceiling of the first retry's delay; doubles per attempt.
    public var base: Duration
    /// No ceiling grows past this.
    public var cap: Duration
    /// Attempts in all, the first one included.
    public var maxAttempts: Int
    /// No attempt is scheduled later than this after the first one.
    public var maxAge: Duration

    public init(
        base: Duration = .seconds(30), cap: Duration = .seconds(3600),
        maxAttempts: Int = 10, maxAge: Duration = .seconds(86_400)
    ) {
        precondition(base > .zero && cap >= base, "retry base must be positive and at most the cap")
        precondition(maxAttempts >= 1, "at least one attempt")
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
        self.maxAge = maxAge
    }

    public enum Decision: Sendable, Equatable {
        case retry(after: Duration)
        /// Dead-letter the fire with its last error.
        case giveUp(GiveUpReason)
    }

    public enum GiveUpReason: Sendable, Equatable, CustomStringConvertible {
        case attemptsExhausted(Int)
        /// The next attempt would land past `maxAge` (Retry-After included).
        case tooOld(maxAge: Duration)

        public var description: String {
            switch self {
            case .attemptsExhausted(let n): return "gave up after \(n) attempts"
            case .tooOld(let age): return "gave up: next attempt would be past the \(age) age limit"
            }
        }
    }

    /// Decide after a transient failure; permanent failures never come here.
    /// - Parameters:
    ///   - attemptsMade: attempts so far, the one that just failed included (1 after the first).
    ///   - age: time since the first attempt.
    ///   - retryAfter: the partner's Retry-After, a lower bound on the delay.
    public func decide<R: RandomNumberGenerator>(
        attemptsMade: Int, age: Duration, retryAfter: Duration? = nil, using random: inout R
    ) -> Decision {
        if attemptsMade >= maxAttempts { return .giveUp(.attemptsExhausted(attemptsMade)) }
        let ceiling = ceiling(afterAttempt: attemptsMade)
        var delay = Duration.milliseconds(
            Int64.random(in: 0...Self.milliseconds(ceiling), using: &random))
        if let retryAfter, retryAfter > delay { delay = retryAfter }
        if age + delay > maxAge { return .giveUp(.tooOld(maxAge: maxAge)) }
        return .retry(after: delay)
    }

    public func decide(attemptsMade: Int, age: Duration, retryAfter: Duration? = nil) -> Decision {
        var random = SizedSystemRandom()
        return decide(attemptsMade: attemptsMade, age: age, retryAfter: retryAfter, using: &random)
    }

    /// `SystemRandomNumberGenerator` with one byte of storage. Passing the empty system generator
    /// `inout` to the generic `decide` crashes ThreadSanitizer's runtime (a SEGV in the daemon on
    /// its first retry decision): Swift instruments the inout access of a zero-sized value with
    /// an address that has no storage behind it (swiftlang/swift#66099, open). Same numbers, and
    /// `scripts/sanitizers.sh thread` can run the daemon.
    private struct SizedSystemRandom: RandomNumberGenerator {
        private var system = SystemRandomNumberGenerator()
        private var storage: UInt8 = 0
        mutating func next() -> UInt64 { system.next() }
    }

    /// The largest delay jitter may pick after `attemptsMade` attempts: min(cap, base·2ⁿ⁻¹).
    public func ceiling(afterAttempt attemptsMade: Int) -> Duration {
        let doublings = max(0, attemptsMade - 1)
        var ceiling = base
        for _ in 0..<min(doublings, 64) {
            ceiling = ceiling * 2
            if ceiling >= cap { return cap }
        }
        return min(ceiling, cap)
    }

    private static func milliseconds(_ d: Duration) -> Int64 {
        let (seconds, attoseconds) = d.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
