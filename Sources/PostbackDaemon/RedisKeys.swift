import PostbackCore

/// The names a Redis source uses beside one record stream, and the scripts that move due
/// retries atomically. Every daemon of the group shares them, so any one can retry, take
/// over or dead-letter what another left.
///
/// They are named after the stream without its last `:part` (`postbackd:records` gives
/// `postbackd:retries`, `postbackd:rejected`, ...), so a stream with a hash tag
/// (`{shard1}:records`) has them in its own cluster slot: one transaction can then
/// acknowledge its entries and write their retries together.
struct RedisKeys: Sendable, Equatable {
    let stream: String
    /// Retries waiting for their due time: a sorted set, score = due Unix ms, member = the
    /// fire's JSON (`DeferredFire`, as a `deferred/` file holds it).
    let retries: String
    /// Retries a daemon has taken and not ended, score = when taken: a daemon that dies
    /// leaves them here, and any daemon moves them back once `redis_claim_idle` has passed.
    let retriesTaken: String
    /// Dead letters: a stream, one entry per fire (`fire` = its JSON).
    let deadLetters: String
    /// Rejected records: a stream, one entry per refused line, with its reason.
    let rejected: String

    init(stream: String) {
        self.stream = stream
        let prefix = stream.lastIndex(of: ":").map { String(stream[..<$0]) } ?? stream
        retries = prefix + ":retries"
        retriesTaken = prefix + ":retries:taken"
        deadLetters = prefix + ":dead-letters"
        rejected = prefix + ":rejected"
    }

    /// True when every companion key is in the stream's slot (needed in a cluster).
    var shareTheStreamsSlot: Bool {
        let slot = RedisSlot.of(stream)
        return [retries, retriesTaken, deadLetters, rejected].allSatisfy { RedisSlot.of($0) == slot }
    }

    /// KEYS: retries, taken. ARGV: now (ms), most to take, taken before this (ms) is stale.
    /// Moves stale taken fires back as due now, then moves up to ARGV[2] due fires into
    /// taken and returns them: in one script, so two daemons never take the same fire.
    static let takeDueScript = """
        local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, 1000)
        for _, m in ipairs(stale) do
          redis.call('ZREM', KEYS[2], m)
          redis.call('ZADD', KEYS[1], ARGV[1], m)
        end
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
        for _, m in ipairs(due) do
          redis.call('ZREM', KEYS[1], m)
          redis.call('ZADD', KEYS[2], ARGV[1], m)
        end
        return due
        """
}
