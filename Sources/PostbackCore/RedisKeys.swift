/// The names a Redis source uses beside one record stream, and the scripts that move fires
/// between them atomically. Every daemon of the group and `postbackctl` share them, so any
/// one can retry, take over, dead-letter or requeue what another left; they live here, in
/// the module both executables use, so the two cannot name a key differently.
///
/// They are named after the stream without its last `:part` (`postbackd:records` gives
/// `postbackd:retries`, `postbackd:rejected`, ...), so a stream with a hash tag
/// (`{shard1}:records`) has them in its own cluster slot: one transaction can then
/// acknowledge its entries and write their retries together.
public struct RedisKeys: Sendable, Equatable {
    public let stream: String
    /// Retries waiting for their due time: a sorted set, score = due Unix ms, member = the
    /// fire's JSON (`DeferredFire`, as a `deferred/` file holds it).
    public let retries: String
    /// Retries a daemon has taken and not ended, score = when taken: a daemon that dies
    /// leaves them here, and any daemon moves them back once `redis_claim_idle` has passed.
    public let retriesTaken: String
    /// Dead letters: a stream, one entry per fire (`fire` = its JSON).
    public let deadLetters: String
    /// Rejected records: a stream, one entry per refused line, with its reason.
    public let rejected: String
    /// Postbacks a daemon auto-paused: a hash, field = postback id, value = the entry's JSON
    /// (`PausedPostbacksFile.Entry`, as `paused.json` holds it), read by every daemon.
    public let paused: String

    public init(stream: String) {
        self.stream = stream
        let prefix = stream.lastIndex(of: ":").map { String(stream[..<$0]) } ?? stream
        retries = prefix + ":retries"
        retriesTaken = prefix + ":retries:taken"
        deadLetters = prefix + ":dead-letters"
        rejected = prefix + ":rejected"
        paused = prefix + ":paused"
    }

    /// The keys of `streams` with one per distinct `paused` hash (the first stream naming
    /// it): streams sharing a prefix share their pauses, which are read and written once.
    public static func distinctPausedHashes(_ streams: [String]) -> [RedisKeys] {
        var seen: Set<String> = []
        return streams.map(RedisKeys.init(stream:)).filter { seen.insert($0.paused).inserted }
    }

    /// Whether a `redis_stream` name is a pattern (a Redis glob character: `*`, `?`, `[`),
    /// standing for the streams whose names it matches rather than for one stream.
    public static func isPattern(_ name: String) -> Bool {
        name.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }

    /// Whether a stream a pattern found is some stream's companion (its dead letters or its
    /// rejected lines, the only companions that are streams), which is never read as records.
    public static func isCompanion(_ name: String) -> Bool {
        name.hasSuffix(":dead-letters") || name.hasSuffix(":rejected")
    }

    /// What a stream a `redis_stream` pattern found is, by the one rule the daemon reads by
    /// and postbackctl reports by.
    public enum FoundStream: Sendable, Equatable {
        /// Read as records.
        case records
        /// Some stream's dead letters or rejected lines (`isCompanion`): never read.
        case companion
        /// In a cluster, a stream without a hash tag: its companions could sit on other
        /// nodes, so it is not read (the daemon says so).
        case untaggedInCluster
    }

    public static func found(_ name: String, inCluster: Bool) -> FoundStream {
        if isCompanion(name) { return .companion }
        if inCluster && !RedisKeys(stream: name).shareTheStreamsSlot { return .untaggedInCluster }
        return .records
    }

    /// True when every companion key is in the stream's slot (needed in a cluster).
    public var shareTheStreamsSlot: Bool {
        let slot = RedisSlot.of(stream)
        return [retries, retriesTaken, deadLetters, rejected, paused].allSatisfy { RedisSlot.of($0) == slot }
    }

    /// KEYS: retries, taken. ARGV: now (ms), most to take, taken before this (ms) is stale.
    /// Moves stale taken fires back as due now, then moves up to ARGV[2] due fires into
    /// taken and returns them: in one script, so two daemons never take the same fire.
    public static let takeDueScript = """
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

    /// KEYS: dead letters, retries. ARGV: the dead letter's entry id, due (ms), the fire's
    /// JSON. Removes the dead letter and adds the retry only when the removal happened, in one
    /// script, so two operators requeuing one dead letter at once make one retry, not two.
    public static let requeueScript = """
        if redis.call('XDEL', KEYS[1], ARGV[1]) == 1 then
          redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
          return 1
        end
        return 0
        """
}
