import PostbackCore
import PostbackSpool

/// A retry taken from Redis's sorted set of due fires (`RedisKeys.retries`, now in
/// `retriesTaken`), for its next attempt. Each ending is one transaction on the recorder's
/// connection: off the taken set and, unless it succeeded, into the retries again or the
/// dead letters.
final class RedisRetry: DueFire {
    let fire: DeferredFire
    /// The member exactly as stored, to remove it from the taken set.
    private let member: [UInt8]
    private let committer: RedisCommitter
    private let keys: RedisKeys
    private let counters: SpoolCounters
    private let configuration: SpoolConfiguration

    var name: String { "\(fire.source) line \(fire.line) postback \(fire.postbackID)" }

    init(member: [UInt8], fire: DeferredFire, committer: RedisCommitter, keys: RedisKeys, counters: SpoolCounters,
         configuration: SpoolConfiguration) {
        self.member = member
        self.fire = fire
        self.committer = committer
        self.keys = keys
        self.counters = counters
        self.configuration = configuration
    }

    private var untake: [[UInt8]] { [Array("ZREM".utf8), Array(keys.retriesTaken.utf8), member] }

    func succeeded(attempt: FireAttempt) throws {
        committer.transaction([untake], on: keys.stream, what: "recording a retry's success")
        counters.count(.succeeded, newRecord: false)
    }

    func reschedule(nextDue: Int64, attempt: FireAttempt?, error: String) throws {
        var next = fire
        if attempt != nil { next.attempts += 1 }
        next.nextDue = nextDue
        next.lastError = error
        next.remember(attempt, limit: configuration.historyLimit, answerLimit: configuration.answerPrefixBytes)
        committer.transaction(
            [untake, [Array("ZADD".utf8), Array(keys.retries.utf8), Array(String(nextDue).utf8), next.encoded()]],
            on: keys.stream, what: "rescheduling a retry")
        counters.count(.deferred, newRecord: false)
    }

    func deadLetter(attempt: FireAttempt?, error: String) throws {
        var dead = fire
        if attempt != nil { dead.attempts += 1 }
        dead.lastError = error
        dead.failedAt = SpoolTime.unixMillis()
        dead.remember(attempt, limit: configuration.historyLimit, answerLimit: configuration.answerPrefixBytes)
        committer.transaction(
            [untake, [Array("XADD".utf8), Array(keys.deadLetters.utf8), [UInt8(ascii: "*")], Array("fire".utf8), dead.encoded()]],
            on: keys.stream, what: "dead-lettering a retry")
        counters.count(.failed, newRecord: false)
    }
}
