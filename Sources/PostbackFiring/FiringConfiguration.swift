import PostbackCore

/// The knobs DESIGN.md makes configurable (Firing, Safety rules).
///
/// The caps and timeouts that are also settings default to `Settings`' values, the one place
/// each default is written (`config/postbackd.conf` and DESIGN say the same), so an engine
/// made without the daemon's settings (`postbackctl test-fire`, tests) cannot drift from it.
public struct FiringConfiguration: Sendable {
    /// Fires in flight at once across all hosts; callers wait beyond it (backpressure).
    public var maxConcurrent: Int
    /// Fires in flight at once to one host, so one slow partner cannot take the whole pool.
    public var perHost: Int
    public var connectTimeout: Duration
    /// The whole fire, redirects included.
    public var totalTimeout: Duration
    /// Fires per connection allowed to wait in the driver for a slot of their host and of the
    /// pool, beyond the caps. With 1, the moment a fire ends the driver starts the next on the
    /// freed keep-alive connection, in the same loop turn, instead of idling until the
    /// producer thread wakes up and hands one in; that hand-off gap cost ~15 % of throughput
    /// in Benchmarks/driver. Still bounded: at most perHost × (1 + this) per host wait or run.
    /// Time spent waiting here is not taken from `totalTimeout`, which is the partner's.
    public var queuedPerConnection: Int
    /// Redirect hops followed (DESIGN.md: 3).
    public var maxRedirects: Int
    /// How much of an answer's body is kept for the ledger and the journal.
    public var bodyCap: Int
    /// Past this many body bytes the connection is dropped instead of drained, so a partner
    /// streaming a huge answer cannot keep a slot busy until the total timeout.
    public var bodyDiscardLimit: Int
    /// Which destination addresses may be reached, checked at connect time.
    public var addressRules: AddressRules
    /// Sent as User-Agent so partners can tell our traffic apart; empty sends none.
    public var userAgent: String
    /// A host is slow when all its slots are taken and the oldest has been out this long;
    /// `submitUnlessHostSlow` then does not wait for it.
    public var slowHostAfter: Duration = .seconds(1)
    /// A PEM bundle trusted instead of the system store (curl's `--cacert`); nil trusts the
    /// system store. Peer and host name are verified either way: there is no switch for that.
    public var caFile: String?
    /// Idle keep-alive connections kept for reuse (at least `maxConcurrent`), so fires to
    /// many partners find their connection, and its TLS session, still open. curl closes one
    /// idle for more than 118 s. Each is a file descriptor: see `FileDescriptorLimit`.
    public var idleConnections = 1024
    /// Driver threads, each a curl multi handle with its share of the caps (`DriverShares`:
    /// at most 4, and no more than `perHost`). curl's work per fire is most of the engine's,
    /// so one driver is one core's worth of fires; the daemon runs one per core. Each keeps
    /// up to `idleConnections` idle, within its share of the descriptors.
    public var drivers = 1

    public init(
        maxConcurrent: Int = Settings.defaults.maxConcurrent, perHost: Int = Settings.defaults.perHost,
        connectTimeout: Duration = Settings.defaults.connectTimeout, totalTimeout: Duration = Settings.defaults.totalTimeout,
        queuedPerConnection: Int = 1, maxRedirects: Int = 3, bodyCap: Int = 1024, bodyDiscardLimit: Int = 64 * 1024,
        addressRules: AddressRules = AddressRules(), userAgent: String = "postbackd", caFile: String? = nil
    ) {
        precondition(maxConcurrent >= 1 && perHost >= 1, "concurrency caps must be at least 1")
        precondition(queuedPerConnection >= 0, "queuedPerConnection must not be negative")
        precondition(bodyCap >= 0 && bodyDiscardLimit >= bodyCap, "body discard limit below the cap")
        self.maxConcurrent = maxConcurrent
        self.perHost = perHost
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.queuedPerConnection = queuedPerConnection
        self.maxRedirects = maxRedirects
        self.bodyCap = bodyCap
        self.bodyDiscardLimit = bodyDiscardLimit
        self.addressRules = addressRules
        self.userAgent = userAgent
        self.caFile = caFile
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so a non-zero timeout never becomes "no timeout" (0).
    var curlMilliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }
}
