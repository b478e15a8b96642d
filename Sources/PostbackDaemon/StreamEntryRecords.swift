import PostbackCore
import PostbackSpool
import Synchronization

/// One Redis Streams entry claimed through the consumer group: its record (field `record`)
/// or records (field `records`, one per line), as claimed records for the stages.
///
/// Outcomes are kept with the entry until its last one is in; then the entry's writes
/// (retries, dead letters, rejected lines) and its `XACK` go to Redis in one `MULTI`/`EXEC`
/// with the rest of its group (`RedisCommitter`). So an entry is acknowledged exactly when
/// all its outcomes are durable, and a daemon that dies first leaves it pending, whole, for
/// another to take over: what can repeat is only fires sent and not yet acknowledged.
final class StreamEntryRecords: ClaimedRecords {
    let stream: String
    let id: String
    /// `STREAM/ID`: stable across consumers, so a takeover gives the same fire ids.
    let name: String
    let maxLineBytes: Int
    /// The field's bytes, read with the spool's line rules.
    private let lines: HeldLines
    private let committer: RedisCommitter
    private let counters: SpoolCounters
    private let configuration: SpoolConfiguration
    private let keys: RedisKeys
    private let state = Mutex<State>(State())

    private struct State {
        var writes: [[[UInt8]]] = []
        var countedLines: Set<Int> = []
        var ended = false
    }

    /// Nil when the entry carries neither field: the feed rejects it whole.
    init?(stream: String, id: String, fields: [(name: String, value: [UInt8])], committer: RedisCommitter,
          counters: SpoolCounters, configuration: SpoolConfiguration, keys: RedisKeys) {
        guard let body = fields.first(where: { $0.name == "record" || $0.name == "records" })?.value else { return nil }
        self.stream = stream
        self.id = id
        self.name = stream + "/" + id
        self.maxLineBytes = configuration.maxLineBytes
        self.committer = committer
        self.counters = counters
        self.configuration = configuration
        self.keys = keys
        lines = HeldLines(body)
    }

    func forEachLine(_ body: (SpoolLine) -> Bool) throws {
        lines.forEach(maxLineBytes: maxLineBytes, body)
    }

    func bytes(_ range: Range<Int>) throws -> [UInt8] { lines.bytes(range) }

    /// Nothing is recorded before the entry is acknowledged, so a taken-over entry starts afresh.
    func hasOutcome(line: Int, postbackID: Int64) -> Bool { false }

    /// A released entry is taken over whole, so a drain plans an entry it has begun to its end
    /// (an entry is one record, or the few of one batch) and acknowledges it.
    var releaseKeepsOutcomes: Bool { false }

    private func keep(_ outcome: FireOutcome, line: Int, write: [[UInt8]]?) {
        state.withLock { state in
            if let write { state.writes.append(write) }
            counters.count(outcome, newRecord: state.countedLines.insert(line).inserted)
        }
    }

    private func fire(_ line: Int, _ postbackID: Int64, _ record: [UInt8], _ attempt: FireAttempt?,
                      nextDue: Int64, error: String, failed: Bool) -> DeferredFire {
        let now = SpoolTime.unixMillis()
        var fire = DeferredFire(source: name, line: line, postbackID: postbackID, record: record,
                                attempts: attempt == nil ? 0 : 1, firstAttempt: attempt.map { $0.time / 1000 } ?? now,
                                nextDue: nextDue, lastError: error, failedAt: failed ? now : nil)
        fire.remember(attempt, limit: configuration.historyLimit, answerLimit: configuration.answerPrefixBytes)
        return fire
    }

    func succeeded(line: Int, postbackID: Int64, attempt: FireAttempt) throws {
        keep(.succeeded, line: line, write: nil)
    }

    func deferred(line: Int, postbackID: Int64, record: [UInt8], attempt: FireAttempt?, nextDue: Int64, error: String) throws {
        let retry = fire(line, postbackID, record, attempt, nextDue: nextDue, error: error, failed: false)
        keep(.deferred, line: line, write: [Array("ZADD".utf8), Array(keys.retries.utf8), Array(String(nextDue).utf8), retry.encoded()])
    }

    func failed(line: Int, postbackID: Int64, record: [UInt8], attempt: FireAttempt?, error: String) throws {
        let dead = fire(line, postbackID, record, attempt, nextDue: SpoolTime.unixMillis(), error: error, failed: true)
        keep(.failed, line: line, write: [Array("XADD".utf8), Array(keys.deadLetters.utf8), [UInt8(ascii: "*")],
                                          Array("fire".utf8), dead.encoded()])
    }

    func noMatch(line: Int) throws {
        keep(.noMatch, line: line, write: nil)
    }

    func rejected(line: Int, reason: String, raw: [UInt8]) throws {
        keep(.rejected, line: line, write: RedisCommitter.rejection(keys, stream: stream, id: id, line: line, reason: reason, raw: raw))
    }

    /// Outcomes go out with the entry's acknowledgement, not before.
    func flushIfDue() throws {}

    func finishInGroup() throws -> Bool {
        let writes = state.withLock { state in
            state.ended = true
            return state.writes
        }
        committer.add(writes, acknowledging: id, in: stream)
        return true
    }

    func syncFinishedGroup() throws {
        committer.commit()
    }

    /// Left pending in the group (a drain, a failure): taken over after `redis_claim_idle`,
    /// by this daemon's next start or another daemon, and fired again whole.
    func release() throws {
        state.withLock { $0.ended = true }
        committer.forget(name)
    }
}
