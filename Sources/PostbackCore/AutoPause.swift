/// Decides when the daemon pauses a postback on its own: `threshold` permanent failures in a
/// row within `window` (DESIGN.md, Partner health: 10 within 72 h). A success in between, or
/// a run that takes longer than the window, starts the count again.
///
/// Pure and clock-free (times are passed in), so the rule is tested exactly; the daemon keeps
/// the paused ids in its state directory, never in the catalog file.
public struct AutoPause: Sendable {
    public var threshold: Int
    public var window: Duration

    struct Run: Sendable {
        var count: Int
        var firstMillis: Int64
    }

    var runs: [Int64: Run] = [:]

    public init(threshold: Int = 10, window: Duration = .seconds(72 * 3600)) {
        self.threshold = threshold
        self.window = window
    }

    /// A fire of `postbackID` succeeded: its failure run is over.
    public mutating func succeeded(_ postbackID: Int64) {
        runs[postbackID] = nil
    }

    /// `postbackID` was paused or resumed elsewhere (another daemon, `postbackctl resume`): the
    /// run counted here before that is over, so a resumed postback is paused again only after
    /// `threshold` new failures, not by the first failure after it.
    public mutating func forget(_ postbackID: Int64) {
        runs[postbackID] = nil
    }

    /// A fire of `postbackID` failed permanently at `nowMillis`. True when this failure makes
    /// the postback reach the threshold, i.e. the daemon should pause it now.
    public mutating func failedPermanently(_ postbackID: Int64, nowMillis: Int64) -> Bool {
        let windowMillis = window.components.seconds * 1000 + window.components.attoseconds / 1_000_000_000_000_000
        var run = runs[postbackID] ?? Run(count: 0, firstMillis: nowMillis)
        if nowMillis - run.firstMillis > windowMillis { run = Run(count: 0, firstMillis: nowMillis) }
        run.count += 1
        if run.count >= threshold {
            runs[postbackID] = nil
            return true
        }
        runs[postbackID] = run
        return false
    }

    /// A fire of `postbackID` failed permanently at `nowMillis` with `status` (nil when no
    /// answer came): why the daemon should pause the postback now, or nil. An answer of
    /// `410 Gone` pauses it at once: the partner says the endpoint is gone for good, and the
    /// Standard Webhooks spec asks senders to stop then ("Disabling endpoints"); otherwise
    /// `threshold` failures in a row do, as `failedPermanently`.
    public mutating func pauseReason(_ postbackID: Int64, nowMillis: Int64, status: Int?, verdict: String) -> String? {
        if status == 410 {
            runs[postbackID] = nil
            return "the partner answered HTTP 410 Gone"
        }
        guard failedPermanently(postbackID, nowMillis: nowMillis) else { return nil }
        return "\(threshold) permanent failures in a row, the last: \(verdict)"
    }

    /// Failures counted so far in the current run (for status and tests).
    public func failures(of postbackID: Int64) -> Int { runs[postbackID]?.count ?? 0 }
}
