import Foundation
import Logging
import PostbackCore
import PostbackRedis
import PostbackSpool
import PostbackSystemd
import Synchronization

/// Redis Streams as a source (`source = redis`): reads entries through a consumer group
/// (`XREADGROUP`), takes over entries a dead consumer left pending (`XAUTOCLAIM` after
/// `redis_claim_idle`), takes due retries from a sorted set, and hands each to the
/// `Planner`, which blocks this loop while the pool is full, so waiting work stays in Redis.
/// Outcomes go back through `StreamEntryRecords` and `RedisCommitter` on the recorder's
/// queue. Runs on a thread of its own with a connection of its own.
final class RedisFeed: RecordFeed, @unchecked Sendable {
    // @unchecked: `nodes`, `groupsMade`, `takeoverCursor` are touched only on the feed's thread.
    let planner: Planner
    let committer: RedisCommitter
    let notifier: SystemdNotifier
    let logger: Logger
    let health: RedisHealth
    private let nodes: RedisNodes
    /// Each stream's companion keys: the names of `redis_stream` in its order, then the
    /// streams its patterns found, as they were found.
    private var streams: [RedisKeys]
    /// The patterns of `redis_stream` (`{shard*}:records`), matched again every
    /// `discoverEvery`, so a shard ingest adds later is read without a restart.
    private let patterns: [String]
    /// Streams a pattern found that cannot be read (untagged in a cluster), said once.
    private var refusedStreams: Set<String> = []
    private let group: String
    let consumer: String
    private let claimIdle: Duration
    private let counters: SpoolCounters
    private let configuration: SpoolConfiguration
    private var groupsMade: Set<String> = []
    private var takeoverCursor: [String: String] = [:]

    /// Entries asked for per read: enough to keep the pool busy between round trips.
    static let readCount = 256
    /// How long a read waits for new entries on one node (split between the nodes of a
    /// cluster); also how often the loop looks at retries, takeovers and the watchdog when idle.
    static let blockFor: Duration = .milliseconds(500)
    /// How often `redis_stream`'s patterns are matched again.
    static let discoverEvery: Duration = .seconds(5)

    /// `recorderQueue`: where the committer runs (every outcome is recorded there).
    init(settings: Settings, planner: Planner, recorderQueue: DispatchQueue, notifier: SystemdNotifier, logger: Logger,
         counters: SpoolCounters, configuration: SpoolConfiguration) {
        self.planner = planner
        self.notifier = notifier
        self.logger = logger
        self.health = RedisHealth()
        self.nodes = Self.nodes(settings)
        self.streams = settings.redisStreams.filter { !RedisKeys.isPattern($0) }.map(RedisKeys.init(stream:))
        self.patterns = settings.redisStreams.filter(RedisKeys.isPattern)
        self.group = settings.redisGroup
        self.consumer = settings.redisConsumer.isEmpty
            ? "\(ProcessInfo.processInfo.hostName)-\(getpid())" : settings.redisConsumer
        self.claimIdle = settings.redisClaimIdle
        self.counters = counters
        self.configuration = configuration
        self.committer = RedisCommitter(
            nodes: Self.nodes(settings), group: settings.redisGroup, logger: logger, health: health,
            inHand: InHandEntries(), queue: recorderQueue)
    }

    /// The settings' nodes: each owner (this feed, the committer) gets its own connections.
    private static func nodes(_ settings: Settings) -> RedisNodes {
        RedisNodes(urls: settings.redisURLs)
    }

    /// Nil, or why these settings cannot run: in a cluster (several `redis_url`) each
    /// stream's companion keys must share its slot, which takes a hash tag in its name (in a
    /// pattern's too).
    static func problem(_ settings: Settings) -> String? {
        guard settings.redisURLs.count > 1 else { return nil }
        // A pattern is held to the same rule as a name: `{shard*}:records` can only match
        // streams whose tag holds their companions' slot, `shard*:records` cannot.
        let untagged = settings.redisStreams.filter { !RedisKeys(stream: $0).shareTheStreamsSlot }
        guard !untagged.isEmpty else { return nil }
        return "redis_stream: in a cluster each stream needs a hash tag, such as {shard1}:records (and each pattern, "
            + "such as {shard*}:records), so its retries and dead letters share its slot; not so: \(untagged.joined(separator: ", "))"
    }

    func stop() { planner.stop() }
    func update(rescanInterval: Duration) {}
    var isStopping: Bool { planner.isStopping }

    var statusPrefix: String {
        health.outage.map { "REDIS UNREACHABLE (\($0)), waiting; " } ?? ""
    }

    // MARK: the loop

    /// Reads until stopped. With `once`, returns when the streams have no new entry and no
    /// retry due at the start remains. A node that does not answer is waited for (and said
    /// in STATUS= and the log) while the others' streams go on.
    func run(once: Bool, onIdle: () -> Void) {
        let startMillis = SpoolTime.unixMillis()
        var lastPing = ContinuousClock.now
        let pingEvery = notifier.watchdogPingInterval ?? .seconds(1)
        var lastTakeover = ContinuousClock.now - claimIdle
        var ownPendingRead: Set<String> = []
        var lastDiscovery = ContinuousClock.now - Self.discoverEvery
        var discoveryProblem: String?
        while !isStopping {
            if ContinuousClock.now - lastPing >= pingEvery {
                try? notifier.watchdog()
                lastPing = .now
            }
            if !patterns.isEmpty && ContinuousClock.now - lastDiscovery >= Self.discoverEvery {
                lastDiscovery = .now
                discoveryProblem = discover()
            }
            if streams.isEmpty {
                // Only patterns, and none matches yet: nothing to read until ingest adds a
                // shard. A Redis that cannot be asked is said as any outage is.
                report(outage: discoveryProblem)
                if once { return }
                onIdle()
                Thread.sleep(forTimeInterval: discoveryProblem == nil ? 0.5 : 1)
                continue
            }
            var worked = false
            var outage: String?
            let takeover = ContinuousClock.now - lastTakeover >= min(claimIdle / 2, .seconds(5))
            if takeover { lastTakeover = .now }
            let byNode = streamsByNode()
            let block = byNode.count > 1 ? Self.blockFor / byNode.count : Self.blockFor
            for (node, keys) in byNode where !isStopping {
                do {
                    let connection = nodes.connection(to: node)
                    for stream in keys where !groupsMade.contains(stream.stream) {
                        try makeGroup(stream.stream, on: connection)
                        groupsMade.insert(stream.stream)
                    }
                    if !ownPendingRead.contains(node.description) {
                        // A consumer name kept across restarts (`redis_consumer`) gets back its
                        // own pending entries at once, without waiting for the takeover.
                        worked = try read(keys, from: "0", on: connection) > 0 || worked
                        ownPendingRead.insert(node.description)
                    }
                    if takeover {
                        for stream in keys { worked = try takeOver(stream, on: connection) > 0 || worked }
                    }
                    for stream in keys {
                        worked = try takeDueRetries(stream, upTo: once ? startMillis : SpoolTime.unixMillis(), on: connection) > 0 || worked
                    }
                    worked = try read(keys, from: ">", block: once || worked ? nil : block, on: connection) > 0 || worked
                } catch let error as RedisConnectionError {
                    outage = "\(error)"
                } catch let refusal as RedisRefusal where refusal.message.contains("MOVED") {
                    nodes.forgetSlots()
                } catch {
                    logger.error("redis \(node): \(error)")
                    outage = "\(node): \(error)"
                }
            }
            report(outage: outage)
            if once && !worked { return }
            if !worked {
                onIdle()
                if outage != nil { Thread.sleep(forTimeInterval: 1) }
            }
        }
    }

    /// Said once per outage, in the journal and STATUS=, and once when it ends.
    private func report(outage: String?) {
        if let outage {
            if health.failed(outage) { logger.error("redis unreachable: \(outage); waiting, trying again every second") }
        } else if health.answered() {
            logger.notice("redis answers again: reading resumes")
        }
    }

    /// Matches the patterns on every master and adds the streams not read yet, in name
    /// order. A stream a pattern finds is read like a named one, except a companion stream
    /// (some stream's dead letters or rejected lines, which a pattern such as `{shard*}:*`
    /// matches too) and, in a cluster, one without a hash tag (said once). Returns why a
    /// node could not be asked, nil when every one answered; that node's new streams are
    /// found once it answers.
    private func discover() -> String? {
        let masters: [RedisNodes.Node]
        do {
            masters = try nodes.masters()
        } catch {
            return "\(error)"
        }
        var found: Set<String> = []
        var problem: String?
        for node in masters {
            do {
                for pattern in patterns { found.formUnion(try nodes.streams(matching: pattern, on: node)) }
            } catch {
                problem = "\(error)"
            }
        }
        var added: [String] = []
        for name in found.sorted() where !streams.contains(where: { $0.stream == name }) {
            switch RedisKeys.found(name, inCluster: nodes.isCluster) {
            case .records:
                streams.append(RedisKeys(stream: name))
                added.append(name)
            case .companion:
                continue
            case .untaggedInCluster:
                if refusedStreams.insert(name).inserted {
                    logger.error("redis_stream: \(name) matches \(patterns.joined(separator: ", ")) but is not read: in a cluster a stream needs a hash tag, such as {shard1}:records")
                }
            }
        }
        if !added.isEmpty {
            logger.notice("redis_stream \(patterns.joined(separator: ", ")): reading \(added.joined(separator: ", "))")
        }
        return problem
    }

    /// The streams grouped by the node that holds them, in `streams`' order. A cluster
    /// whose slots cannot be looked up now leaves the streams on their seed, to fail there
    /// and be said.
    private func streamsByNode() -> [(node: RedisNodes.Node, streams: [RedisKeys])] {
        var result: [(node: RedisNodes.Node, streams: [RedisKeys])] = []
        for keys in streams {
            let node = (try? nodes.node(forSlot: RedisSlot.of(keys.stream))) ?? nodes.seeds[0]
            if let i = result.firstIndex(where: { $0.node == node }) {
                result[i].streams.append(keys)
            } else {
                result.append((node, [keys]))
            }
        }
        return result
    }

    /// `XGROUP CREATE ... 0 MKSTREAM`: a group made now reads what ingest added before it;
    /// one that exists (BUSYGROUP) is left as it is.
    private func makeGroup(_ stream: String, on connection: RedisConnection) throws {
        let reply = try connection.command("XGROUP", "CREATE", stream, group, "0", "MKSTREAM")
        if let error = reply.errorMessage, !error.hasPrefix("BUSYGROUP") {
            throw RedisRefusal(message: "XGROUP CREATE \(stream) \(group): \(error)")
        }
    }

    /// One `XREADGROUP` over a node's streams; plans each entry. Returns how many there were.
    private func read(_ keys: [RedisKeys], from id: String, block: Duration? = nil, on connection: RedisConnection) throws -> Int {
        var arguments = ["XREADGROUP", "GROUP", group, consumer, "COUNT", String(Self.readCount)]
        if let block { arguments += ["BLOCK", String(max(1, block.milliseconds))] }
        arguments.append("STREAMS")
        arguments += keys.map(\.stream)
        arguments += Array(repeating: id, count: keys.count)
        let reply = try connection.command(arguments.map { Array($0.utf8) })
        if let error = reply.errorMessage {
            if error.hasPrefix("NOGROUP") { groupsMade.removeAll() }
            throw RedisRefusal(message: "XREADGROUP: \(error)")
        }
        var count = 0
        for perStream in reply.elements {
            let parts = perStream.elements
            guard parts.count == 2, let name = parts[0].text, let stream = keys.first(where: { $0.stream == name }) else { continue }
            for entry in parts[1].elements where !isStopping {
                if plan(entry, from: stream, on: connection) { count += 1 }
            }
        }
        return count
    }

    /// `XAUTOCLAIM`: entries pending with any consumer for longer than `redis_claim_idle`
    /// (a daemon that died, or this one before a restart) become ours.
    private func takeOver(_ stream: RedisKeys, on connection: RedisConnection) throws -> Int {
        var count = 0
        let name = stream.stream
        let cursor = takeoverCursor[name] ?? "0-0"
        // Taken before the command: an entry this daemon acknowledges while XAUTOCLAIM is on
        // its way is still in the reply but no longer in hand, and would be fired again.
        // Only this thread adds to the set, so the copy holds all that is in hand at the check.
        let held = committer.inHand.snapshot()
        let reply = try connection.command(
            "XAUTOCLAIM", name, group, consumer, String(claimIdle.milliseconds), cursor, "COUNT", String(Self.readCount))
        if let error = reply.errorMessage { throw RedisRefusal(message: "XAUTOCLAIM \(name): \(error)") }
        let parts = reply.elements
        guard parts.count >= 2 else { return 0 }
        takeoverCursor[name] = parts[0].text ?? "0-0"
        for entry in parts[1].elements where !isStopping {
            guard let id = entry.elements.first?.text, !held.contains(name + "/" + id) else { continue }
            if plan(entry, from: stream, on: connection) {
                count += 1
                logger.notice("redis: took over entry \(name)/\(id), pending longer than redis_claim_idle")
            }
        }
        return count
    }

    /// Plans one entry (`[id, [field, value, ...]]`); an entry without a record field is
    /// rejected whole, with its reason, and acknowledged.
    private func plan(_ entry: RedisReply, from keys: RedisKeys, on connection: RedisConnection) -> Bool {
        let stream = keys.stream
        guard let (id, fields) = entry.streamEntry else { return false }
        guard let records = StreamEntryRecords(
            stream: stream, id: id, fields: fields, committer: committer, counters: counters,
            configuration: configuration, keys: keys)
        else {
            rejectWhole(keys, id: id, fields: fields, on: connection)
            return true
        }
        committer.inHand.insert(records.name)
        planner.plan(records)
        return true
    }

    private func rejectWhole(_ keys: RedisKeys, id: String, fields: [(name: String, value: [UInt8])], on connection: RedisConnection) {
        let stream = keys.stream
        let reason = "entry has neither a record nor a records field (fields: \(fields.map(\.name).joined(separator: ", ")))"
        let raw = fields.first?.value ?? []
        logger.warning("redis entry \(stream)/\(id) rejected: \(reason)", metadata: ["OUTCOME": "rejected"])
        do {
            if let refused = try connection.transaction([
                RedisCommitter.rejection(keys, stream: stream, id: id, line: 0, reason: reason, raw: raw),
                [Array("XACK".utf8), Array(stream.utf8), Array(group.utf8), Array(id.utf8)],
            ]) {
                logger.error("redis: rejecting entry \(stream)/\(id): \(refused)")
            }
            counters.count(.rejected, newRecord: true)
        } catch {
            // Left pending: taken over and rejected again after redis_claim_idle.
            logger.error("redis: rejecting entry \(stream)/\(id): \(error)")
        }
    }

    // MARK: retries

    /// Takes due retries from the stream's sorted set (and puts back those a dead daemon took).
    private func takeDueRetries(_ keys: RedisKeys, upTo now: Int64, on connection: RedisConnection) throws -> Int {
        let staleBefore = SpoolTime.unixMillis() - claimIdle.milliseconds
        let reply = try connection.command(
            "EVAL", RedisKeys.takeDueScript, "2", keys.retries, keys.retriesTaken, String(now), "256", String(staleBefore))
        if let error = reply.errorMessage { throw RedisRefusal(message: "taking due retries: \(error)") }
        var count = 0
        for member in reply.elements {
            guard let bytes = member.bytes else { continue }
            count += 1
            let fire: DeferredFire
            do {
                fire = try DeferredFire.decode(bytes, path: keys.retries)
            } catch {
                logger.error("redis: a member of \(keys.retries) is not a fire: \(error); moved to \(keys.deadLetters)")
                _ = try? connection.transaction([
                    [Array("ZREM".utf8), Array(keys.retriesTaken.utf8), bytes],
                    [Array("XADD".utf8), Array(keys.deadLetters.utf8), [UInt8(ascii: "*")], Array("unreadable".utf8), bytes],
                ])
                continue
            }
            planner.plan(RedisRetry(member: bytes, fire: fire, committer: committer, keys: keys, counters: counters,
                                    configuration: configuration))
        }
        return count
    }
}
