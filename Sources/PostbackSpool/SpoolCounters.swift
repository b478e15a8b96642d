import Synchronization

/// What happened to the records and fires that went through the spool, in the shape of the
/// `--once` summary.
///
/// Two ledgers that must always balance, because each outcome is counted in exactly one place:
/// - records: `records == recordsFired + noMatch + rejected`. A record (one spool line) is
///   counted once, when its first final outcome is recorded: `rejected` or `no_match` for the
///   record itself, or the first outcome of any of its fires (then it is in `recordsFired`).
/// - fires: `fires == succeeded + deferred + failed`. A fire is one (record, postback) pair;
///   a record with k postbacks contributes k fires. A deferred fire taken again later and
///   finished counts as a fire again, with its new outcome: `deferred` counts deferrals made,
///   not fires still waiting (that is `SpoolStatus.deferred`).
public struct SpoolTally: Sendable, Equatable, Codable {
    public var records = 0
    public var recordsFired = 0
    public var fires = 0
    public var succeeded = 0
    public var deferred = 0
    public var failed = 0
    public var noMatch = 0
    public var rejected = 0

    public init() {}

    /// Counts one final outcome; `newRecord` when it is its record's first. The one rule for
    /// the live counters (`SpoolCounters`) and for what ledgers on disk say (`LedgerAccounting`).
    public mutating func count(_ outcome: FireOutcome, newRecord: Bool) {
        if newRecord { records += 1 }
        switch outcome {
        case .noMatch: noMatch += 1
        case .rejected: rejected += 1
        case .succeeded, .deferred, .failed:
            if newRecord { recordsFired += 1 }
            fires += 1
            if outcome == .succeeded { succeeded += 1 }
            else if outcome == .deferred { deferred += 1 }
            else { failed += 1 }
        }
    }

    public var isBalanced: Bool {
        records == recordsFired + noMatch + rejected && fires == succeeded + deferred + failed
    }

    /// DESIGN's `--once` line: `{"records":N,"fires":N,...,"seconds":S}`.
    public func summaryJSON(seconds: Double) -> String {
        "{\"records\":\(records),\"fires\":\(fires),\"succeeded\":\(succeeded),\"deferred\":\(deferred),"
            + "\"failed\":\(failed),\"no_match\":\(noMatch),\"rejected\":\(rejected),\"seconds\":\(seconds)}"
    }

    enum CodingKeys: String, CodingKey {
        case records, recordsFired = "records_fired", fires, succeeded, deferred, failed
        case noMatch = "no_match", rejected
    }
}

/// The live tally shared by every active file and deferred fire of one `Spool`.
public final class SpoolCounters: Sendable {
    private let tally = Mutex(SpoolTally())

    public init() {}

    public var snapshot: SpoolTally { tally.withLock { $0 } }

    public func count(_ outcome: FireOutcome, newRecord: Bool) {
        tally.withLock { $0.count(outcome, newRecord: newRecord) }
    }
}
