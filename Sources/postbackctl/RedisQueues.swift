import PostbackCore
import PostbackRedis
import PostbackSpool

/// The queues of `source = redis`, as `postbackctl spool` and `dead-letters` read and requeue
/// them: each stream of `redis_stream`, its consumer group and its companion keys
/// (`RedisKeys`, the names the daemon writes). The counts come from Redis's own bookkeeping
/// (the group's lag and pending list, the sets' and streams' lengths), so reading them costs
/// a few commands per stream, not a walk over every entry; only the retries are read whole,
/// for their age, which their scores (due times) do not tell.
struct RedisQueues {
    let streams: [RedisKeys]
    /// Whether `redis_stream` may stand for more than one stream (several names, or a
    /// pattern): then a dead letter's handle names its stream, whatever matches today.
    let severalStreams: Bool
    let group: String
    /// `redis_url` as configured, for messages.
    let urls: String
    private let nodes: RedisNodes

    /// A pattern in `redis_stream` stands for the streams it matches now, as the daemon reads
    /// them (companion streams left out, and in a cluster streams without a hash tag); one
    /// that cannot be matched (Redis away) is kept as written, so the first read fails
    /// naming the node.
    init(_ settings: Settings) {
        group = settings.redisGroup
        urls = settings.redisURLs.joined(separator: ",")
        let nodes = RedisNodes(urls: settings.redisURLs)
        self.nodes = nodes
        var names: [String] = []
        for name in settings.redisStreams {
            if RedisKeys.isPattern(name), let found = try? nodes.streams(matching: name) {
                let known = names
                names += found.filter { stream in
                    !known.contains(stream) && RedisKeys.found(stream, inCluster: nodes.isCluster) == .records
                }
            } else if !names.contains(name) {
                names.append(name)
            }
        }
        streams = names.map(RedisKeys.init(stream:))
        severalStreams = settings.redisStreams.count > 1 || settings.redisStreams.contains(where: RedisKeys.isPattern)
    }

    struct Queue: Equatable {
        var count = 0
        /// Seconds since the oldest item's time; 0 when empty.
        var oldestAgeSeconds: Double = 0
    }

    /// One stream's queues, in the spool's terms.
    struct Status: Equatable {
        var stream: String
        /// Entries not yet delivered to the group (its lag), oldest = the first after the
        /// group's last-delivered id; with no group yet, every entry (the daemon makes the
        /// group at id 0, so it reads them all).
        var incoming = Queue()
        /// Entries delivered to a consumer and not acknowledged (`XPENDING`).
        var active = Queue()
        /// Retries waiting (`<prefix>:retries`) and being retried (`<prefix>:retries:taken`),
        /// oldest = since the earliest last attempt among them.
        var deferred = Queue()
        /// Retries whose due time has passed.
        var deferredDue = 0
        /// Retries a daemon has taken and not ended.
        var deferredTaken = 0
        var failed = Queue()
        var bad = Queue()
    }

    /// A dead letter of a stream: its entry and the fire in it, or why the fire is unreadable.
    struct DeadLetter {
        var keys: RedisKeys
        var entryID: String
        var fire: DeferredFire?
        /// Why `fire` is nil: a `fire` field that does not decode, or an entry without one
        /// (the daemon dead-letters a retry it cannot decode as `unreadable`).
        var unreadable: String?
        /// The stored bytes of the fire (or of the first field), for `--json`.
        var raw: [UInt8]
    }

    // MARK: status

    /// Every stream's queues at `now` (Unix ms), in `redis_stream`'s order.
    func status(now: Int64) throws(RedisQueueError) -> [Status] {
        var result: [Status] = []
        for keys in streams { result.append(try status(keys, now: now)) }
        return result
    }

    private func status(_ keys: RedisKeys, now: Int64) throws(RedisQueueError) -> Status {
        var status = Status(stream: keys.stream)
        if try checked(keys, ["EXISTS", keys.stream]).integer == 1 {
            let groups = try checked(keys, ["XINFO", "GROUPS", keys.stream])
            if let info = groups.elements.map(Self.fields).first(where: { $0["name"]?.text == group }) {
                let lastDelivered = info["last-delivered-id"]?.text ?? "0-0"
                let next = try checked(keys, ["XRANGE", keys.stream, "(" + lastDelivered, "+", "COUNT", "1"]).elements
                if let first = next.first?.elements.first?.text {
                    // `lag` is null when Redis cannot tell (entries deleted from the middle):
                    // then the entries after the last delivered one are counted.
                    let lag: Int
                    if let known = info["lag"]?.integer { lag = Int(known) } else { lag = try count(keys, after: lastDelivered) }
                    status.incoming = Queue(count: lag, oldestAgeSeconds: RedisEntryID.ageSeconds(first, now: now))
                }
                let pending = try checked(keys, ["XPENDING", keys.stream, group]).elements
                if let n = pending.first?.integer, n > 0, pending.count > 1, let oldest = pending[1].text {
                    status.active = Queue(count: Int(n), oldestAgeSeconds: RedisEntryID.ageSeconds(oldest, now: now))
                }
            } else {
                status.incoming = try streamQueue(keys, keys.stream, now: now)
            }
        }
        status.deferredDue = Int(try checked(keys, ["ZCOUNT", keys.retries, "-inf", String(now)]).integer ?? 0)
        status.deferredTaken = Int(try checked(keys, ["ZCARD", keys.retriesTaken]).integer ?? 0)
        status.deferred = try retriesQueue(keys, now: now)
        status.failed = try streamQueue(keys, keys.deadLetters, now: now)
        status.bad = try streamQueue(keys, keys.rejected, now: now)
        return status
    }

    /// A stream's length and its first entry's age.
    private func streamQueue(_ keys: RedisKeys, _ stream: String, now: Int64) throws(RedisQueueError) -> Queue {
        let length = Int(try checked(keys, ["XLEN", stream]).integer ?? 0)
        guard length > 0 else { return Queue() }
        let first = try checked(keys, ["XRANGE", stream, "-", "+", "COUNT", "1"]).elements.first?.elements.first?.text
        return Queue(count: length, oldestAgeSeconds: first.map { RedisEntryID.ageSeconds($0, now: now) } ?? 0)
    }

    /// Entries after `id`, counted a page at a time (only when the group's lag is unknown).
    private func count(_ keys: RedisKeys, after id: String) throws(RedisQueueError) -> Int {
        var total = 0
        var cursor = id
        while true {
            let page = try checked(keys, ["XRANGE", keys.stream, "(" + cursor, "+", "COUNT", "1000"]).elements
            total += page.count
            guard page.count == 1000, let last = page.last?.elements.first?.text else { return total }
            cursor = last
        }
    }

    /// Both retry sets, counted; oldest = since the earliest last attempt of a member (its
    /// first attempt when it has no history), the time a `deferred/` file's mtime tells in the
    /// spool. The scores are due times, which say nothing of age, so the members are read a
    /// page at a time, as the spool's status stats every file.
    private func retriesQueue(_ keys: RedisKeys, now: Int64) throws(RedisQueueError) -> Queue {
        var queue = Queue()
        var oldest = Int64.max
        try forEachRetry(keys) { set, member in
            queue.count += 1
            guard let bytes = member.bytes, let fire = try? DeferredFire.decode(bytes, path: set) else { return }
            oldest = min(oldest, fire.history.last.map { $0.time / 1000 } ?? fire.firstAttempt)
        }
        if queue.count > 0, oldest != .max { queue.oldestAgeSeconds = Double(max(0, now - oldest)) / 1000 }
        return queue
    }

    /// Every retry waiting or being retried (both sorted sets), decoded; for `fires`, which
    /// looks for one transaction's. The key names where each was found.
    func retries() throws(RedisQueueError) -> [(key: String, fire: DeferredFire)] {
        var result: [(key: String, fire: DeferredFire)] = []
        for keys in streams {
            try forEachRetry(keys) { set, member in
                guard let bytes = member.bytes, let fire = try? DeferredFire.decode(bytes, path: set) else { return }
                result.append((set, fire))
            }
        }
        return result
    }

    /// Each member of a stream's two retry sets (`retries`, then `retries:taken`) with the set
    /// holding it, read a page of 1,000 at a time (`ZRANGE` by rank).
    private func forEachRetry(_ keys: RedisKeys, _ body: (_ set: String, _ member: RedisReply) -> Void) throws(RedisQueueError) {
        for set in [keys.retries, keys.retriesTaken] {
            var start = 0
            while true {
                let page = try checked(keys, ["ZRANGE", set, String(start), String(start + 999)]).elements
                for member in page { body(set, member) }
                guard page.count == 1000 else { break }
                start += 1000
            }
        }
    }

    // MARK: dead letters

    /// Every dead letter of every stream, oldest first within a stream.
    func deadLetters() throws(RedisQueueError) -> [DeadLetter] {
        var result: [DeadLetter] = []
        for keys in streams {
            var cursor = "-"
            while true {
                let page = try checked(keys, ["XRANGE", keys.deadLetters, cursor, "+", "COUNT", "1000"]).elements
                result += page.compactMap { Self.deadLetter($0, of: keys) }
                guard page.count == 1000, let last = page.last?.elements.first?.text else { break }
                cursor = "(" + last
            }
        }
        return result
    }

    /// One dead letter by its entry id, nil when the stream has no such entry.
    func deadLetter(_ entryID: String, of keys: RedisKeys) throws(RedisQueueError) -> DeadLetter? {
        let found = try checked(keys, ["XRANGE", keys.deadLetters, entryID, entryID]).elements
        return found.first.flatMap { Self.deadLetter($0, of: keys) }
    }

    /// Moves a dead letter to the retries, due `now`, with a fresh budget
    /// (`DeferredFire.requeued`), in one script (`RedisKeys.requeueScript`). False when the
    /// entry was gone by then (another operator requeued it first).
    func requeue(_ letter: DeadLetter, fire: DeferredFire, now: Int64) throws(RedisQueueError) -> Bool {
        let keys = letter.keys
        let arguments = [Array("EVAL".utf8), Array(RedisKeys.requeueScript.utf8), Array("2".utf8),
                         Array(keys.deadLetters.utf8), Array(keys.retries.utf8),
                         Array(letter.entryID.utf8), Array(String(now).utf8), fire.requeued(now: now).encoded()]
        return try checked(keys, arguments).integer == 1
    }

    /// `[id, [field, value, ...]]` as a dead letter; nil for a reply that is not an entry.
    static func deadLetter(_ entry: RedisReply, of keys: RedisKeys) -> DeadLetter? {
        guard let (id, fields) = entry.streamEntry else { return nil }
        guard let stored = fields.first(where: { $0.name == "fire" })?.value else {
            return DeadLetter(keys: keys, entryID: id, fire: nil,
                              unreadable: "no fire field (fields: \(fields.map(\.name).joined(separator: ", ")))",
                              raw: fields.first?.value ?? [])
        }
        do {
            return DeadLetter(keys: keys, entryID: id, fire: try DeferredFire.decode(stored, path: keys.deadLetters),
                              unreadable: nil, raw: stored)
        } catch {
            return DeadLetter(keys: keys, entryID: id, fire: nil, unreadable: "its fire field is not a fire's JSON", raw: stored)
        }
    }

    // MARK: commands

    /// A reply as a field → value map (`XINFO GROUPS`' flat `[name, value, ...]` per group).
    private static func fields(_ reply: RedisReply) -> [String: RedisReply] {
        var result: [String: RedisReply] = [:]
        for (name, value) in reply.fieldPairs { result[name] = value }
        return result
    }

    private func checked(_ keys: RedisKeys, _ arguments: [String]) throws(RedisQueueError) -> RedisReply {
        try checked(keys, arguments.map { Array($0.utf8) })
    }

    /// Sends a command to the node of `keys`' stream (every companion key shares its slot);
    /// an error reply throws, naming the command and the node.
    private func checked(_ keys: RedisKeys, _ arguments: [[UInt8]]) throws(RedisQueueError) -> RedisReply {
        let answer = try reply(keys, arguments)
        if let error = answer.errorMessage {
            let name = String(decoding: arguments[0], as: UTF8.self)
            let command = name == "EVAL" ? "the requeue script" : arguments.prefix(2).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            throw RedisQueueError(message: "\(urls): \(command): \(error)")
        }
        return answer
    }

    private func reply(_ keys: RedisKeys, _ arguments: [[UInt8]]) throws(RedisQueueError) -> RedisReply {
        do {
            return try nodes.connection(forSlot: RedisSlot.of(keys.stream)).command(arguments)
        } catch {
            throw RedisQueueError(message: "\(error)")
        }
    }
}

/// Redis could not be reached or refused a command: says which node and what.
struct RedisQueueError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
