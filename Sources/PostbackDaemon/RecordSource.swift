import PostbackSpool

// The source seam: what the stages after the claim (planning, firing, recording) need from
// where records come from. The spool (`SpoolFeed`, claiming files by rename) is one source;
// another (a stream with consumer groups) feeds `Planner` the same two kinds of work and
// takes the same outcomes back, without planning, firing or recording knowing which.

/// Claimed records whose fires are being planned and sent: a spool file and its ledger, or
/// a batch of stream entries. It takes each fire's final outcome as it happens and answers
/// what an earlier owner already recorded, so work taken over after a crash fires only
/// what has no outcome.
///
/// Called from the planner (reading) and the recorder's queue (outcomes, finishing), never
/// from two recorders at once.
protocol ClaimedRecords: AnyObject, Sendable {
    /// Names the records in logs and in each fire's identity (`fire_id`): stable across
    /// owners, so a retry and a takeover give the same name.
    var name: String { get }
    /// Lines longer than this arrive as `tooLong`.
    var maxLineBytes: Int { get }
    /// Whether outcomes recorded before a `release` survive it for the next owner
    /// (`hasOutcome`). Only then may a drain stop planning part-way; records that forget
    /// them are planned to their end first, or the next owner would fire again what was
    /// already sent.
    var releaseKeepsOutcomes: Bool { get }

    /// Each record in order until `body` returns false; a line's bytes are valid during the call.
    func forEachLine(_ body: (SpoolLine) -> Bool) throws
    /// A line's bytes again (kept with a deferred fire or a dead letter).
    func bytes(_ range: Range<Int>) throws -> [UInt8]
    /// True when an earlier owner recorded this fire's outcome (postback 0: the line's own,
    /// for rejected and unmatched lines).
    func hasOutcome(line: Int, postbackID: Int64) -> Bool

    func succeeded(line: Int, postbackID: Int64, attempt: FireAttempt) throws
    /// To be retried at `nextDue` (Unix ms); `attempt` is nil when nothing was sent.
    func deferred(line: Int, postbackID: Int64, record: [UInt8], attempt: FireAttempt?, nextDue: Int64, error: String) throws
    func failed(line: Int, postbackID: Int64, record: [UInt8], attempt: FireAttempt?, error: String) throws
    func noMatch(line: Int) throws
    /// The line was refused by the parser: kept with its reason, alone.
    func rejected(line: Int, reason: String, raw: [UInt8]) throws
    /// Makes outcomes recorded so far durable if they have waited long enough.
    func flushIfDue() throws

    /// Every outcome is in: hands the records back as done. True when the end still needs
    /// `syncFinishedGroup` to be durable, which the recorder calls once for all the records
    /// it finished in one group (one sync for many small files, not one each).
    func finishInGroup() throws -> Bool
    /// Makes the ends of every record set finished in this group durable; called on any one.
    func syncFinishedGroup() throws
    /// Lets go unfinished (a drain, a write error): the next owner resumes from the outcomes.
    func release() throws
}

/// A fire taken from where retries wait (the spool's `deferred/`), for its next attempt. It
/// ends in exactly one of its three outcomes, each durable when it returns.
protocol DueFire: AnyObject, Sendable {
    /// Names it in logs.
    var name: String { get }
    /// The fire: its record, postback, attempts so far and history.
    var fire: DeferredFire { get }

    func succeeded(attempt: FireAttempt) throws
    /// Failed again transiently (or held back unsent, `attempt` nil): due again at `nextDue`.
    func reschedule(nextDue: Int64, attempt: FireAttempt?, error: String) throws
    func deadLetter(attempt: FireAttempt?, error: String) throws
}
