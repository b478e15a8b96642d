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
    // @unchecked: `connection` and `takeoverCursor` are touched only on the feed's thread.
    let planner: Planner
    let committer: RedisCommitter
    let notifier: SystemdNotifier
    let logger: Logger
    let health: RedisHealth
    private let connection: RedisConnection
    private let streams: [String]
    private let group: String
    let consumer: String
    private let claimIdle: Duration
    private let keys = RedisKeys()
    private let counters: SpoolCounters
    private let configuration: SpoolConfiguration
    private var takeoverCursor: [String: String] = [:]

    /// Entries asked for per read: enough to keep the pool busy between round trips.
    static let readCount = 256
    /// How long a read waits for new entries; also how often the loop looks at retries,
    /// takeovers and the watchdog when idle.
    static let blockFor: Duration = .milliseconds(500)

    init(settings: Settings, planner: Planner, recorderConnection: RedisConnection, notifier: SystemdNotifier,
         logger: Logger, counters: SpoolCounters, configuration: SpoolConfiguration) {
        let address = RedisAddress(url: settings.redisURLs[0])!  // validated with the settings
        self.planner = planner
        self.notifier = notifier
        self.logger = logger
        self.health = RedisHealth()
        self.connection = RedisConnection(host: address.host, port: address.port)
        self.streams = settings.redisStreams
        self.group = settings.redisGroup
        self.consumer = settings.redisConsumer.isEmpty
            ? "\(ProcessInfo.processInfo.hostName)-\(getpid())" : settings.redisConsumer
        self.claimIdle = settings.redisClaimIdle
        self.counters = counters
        self.configuration = configuration
        self.committer = RedisCommitter(
            connection: recorderConnection, group: settings.redisGroup, logger: logger, health: health,
            inHand: InHandEntries(), stopping: { [planner] in planner.isStopping })
    }

    static func recorderConnection(_ settings: Settings) -> RedisConnection {
        let address = RedisAddress(url: settings.redisURLs[0])!
        return RedisConnection(host: address.host, port: address.port)
    }

    func stop() { planner.stop() }
    func update(rescanInterval: Duration) {}
    var isStopping: Bool { planner.isStopping }

    var statusPrefix: String {
        health.outage.map { "REDIS UNREACHABLE (\($0)), waiting; " } ?? ""
    }

    // MARK: the loop

    /// Reads until stopped. With `once`, returns when the streams have no new entry and no
    /// retry due at the start remains.
    func run(once: Bool, onIdle: () -> Void) {
        let startMillis = SpoolTime.unixMillis()
        var lastPing = ContinuousClock.now
        let pingEvery = notifier.watchdogPingInterval ?? .seconds(1)
        var lastTakeover = ContinuousClock.now - claimIdle
        var groupsMade = false
        var ownPendingRead = false
        while !isStopping {
            if ContinuousClock.now - lastPing >= pingEvery {
                try? notifier.watchdog()
                lastPing = .now
            }
            do {
                if !groupsMade {
                    try makeGroups()
                    groupsMade = true
                }
                var worked = false
                if !ownPendingRead {
                    // A consumer name kept across restarts (`redis_consumer`) gets back its
                    // own pending entries at once, without waiting for the takeover.
                    worked = try read(from: "0") > 0
                    ownPendingRead = true
                }
                if ContinuousClock.now - lastTakeover >= min(claimIdle / 2, .seconds(5)) {
                    worked = try takeOver() > 0 || worked
                    lastTakeover = .now
                }
                worked = try takeDueRetries(upTo: once ? startMillis : SpoolTime.unixMillis()) > 0 || worked
                worked = try read(from: ">", block: once || worked ? nil : Self.blockFor) > 0 || worked
                if health.answered() { logger.notice("redis answers again: reading resumes") }
                if once && !worked { return }
                if !worked { onIdle() }
            } catch let error as RedisConnectionError {
                if health.failed("\(error)") {
                    logger.error("redis unreachable: \(error); waiting, trying again every second")
                }
                if once { return }
                onIdle()
                Thread.sleep(forTimeInterval: 1)
            } catch {
                logger.error("redis: \(error)")
                if once { return }
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    /// `XGROUP CREATE ... 0 MKSTREAM` for each stream: a group made now reads what ingest
    /// added before it; one that exists (BUSYGROUP) is left as it is.
    private func makeGroups() throws {
        for stream in streams {
            let reply = try connection.command("XGROUP", "CREATE", stream, group, "0", "MKSTREAM")
            if let error = reply.errorMessage, !error.hasPrefix("BUSYGROUP") {
                throw RedisRefusal(message: "XGROUP CREATE \(stream) \(group): \(error)")
            }
        }
    }

    /// One `XREADGROUP` over every stream; plans each entry. Returns how many there were.
    private func read(from id: String, block: Duration? = nil) throws -> Int {
        var arguments = ["XREADGROUP", "GROUP", group, consumer, "COUNT", String(Self.readCount)]
        if let block { arguments += ["BLOCK", String(block.milliseconds)] }
        arguments.append("STREAMS")
        arguments += streams
        arguments += Array(repeating: id, count: streams.count)
        let reply = try connection.command(arguments.map { Array($0.utf8) })
        if let error = reply.errorMessage {
            if error.hasPrefix("NOGROUP") { try makeGroups() }
            throw RedisRefusal(message: "XREADGROUP: \(error)")
        }
        var count = 0
        for perStream in reply.elements {
            let parts = perStream.elements
            guard parts.count == 2, let stream = parts[0].text else { continue }
            for entry in parts[1].elements where !isStopping {
                if plan(entry, from: stream) { count += 1 }
            }
        }
        return count
    }

    /// `XAUTOCLAIM` on every stream: entries pending with any consumer for longer than
    /// `redis_claim_idle` (a daemon that died, or this one before a restart) become ours.
    private func takeOver() throws -> Int {
        var count = 0
        for stream in streams {
            let cursor = takeoverCursor[stream] ?? "0-0"
            let reply = try connection.command(
                "XAUTOCLAIM", stream, group, consumer, String(claimIdle.milliseconds), cursor, "COUNT", String(Self.readCount))
            if let error = reply.errorMessage { throw RedisRefusal(message: "XAUTOCLAIM \(stream): \(error)") }
            let parts = reply.elements
            guard parts.count >= 2 else { continue }
            takeoverCursor[stream] = parts[0].text ?? "0-0"
            for entry in parts[1].elements where !isStopping {
                guard let id = entry.elements.first?.text, !committer.inHand.contains(stream + "/" + id) else { continue }
                if plan(entry, from: stream) {
                    count += 1
                    logger.notice("redis: took over entry \(stream)/\(id), pending longer than redis_claim_idle")
                }
            }
        }
        return count
    }

    /// Plans one entry (`[id, [field, value, ...]]`); an entry without a record field is
    /// rejected whole, with its reason, and acknowledged.
    private func plan(_ entry: RedisReply, from stream: String) -> Bool {
        let parts = entry.elements
        guard parts.count == 2, let id = parts[0].text else { return false }
        let flat = parts[1].elements
        var fields: [(name: String, value: [UInt8])] = []
        var i = 0
        while i + 1 < flat.count {
            fields.append((flat[i].text ?? "", flat[i + 1].bytes ?? []))
            i += 2
        }
        guard let records = StreamEntryRecords(
            stream: stream, id: id, fields: fields, committer: committer, counters: counters,
            configuration: configuration, keys: keys)
        else {
            rejectWhole(stream: stream, id: id, fields: fields)
            return true
        }
        committer.inHand.insert(records.name)
        planner.plan(records)
        return true
    }

    private func rejectWhole(stream: String, id: String, fields: [(name: String, value: [UInt8])]) {
        let reason = "entry has neither a record nor a records field (fields: \(fields.map(\.name).joined(separator: ", ")))"
        let raw = fields.first?.value ?? []
        logger.warning("redis entry \(stream)/\(id) rejected: \(reason)", metadata: ["OUTCOME": "rejected"])
        do {
            let replies = try connection.pipeline([
                [Array("MULTI".utf8)],
                RedisCommitter.rejection(keys, stream: stream, id: id, line: 0, reason: reason, raw: raw),
                [Array("XACK".utf8), Array(stream.utf8), Array(group.utf8), Array(id.utf8)],
                [Array("EXEC".utf8)],
            ])
            if let refused = replies.lazy.compactMap(\.errorMessage).first {
                logger.error("redis: rejecting entry \(stream)/\(id): \(refused)")
            }
            counters.count(.rejected, newRecord: true)
        } catch {
            // Left pending: taken over and rejected again after redis_claim_idle.
            logger.error("redis: rejecting entry \(stream)/\(id): \(error)")
        }
    }

    // MARK: retries

    /// Takes due retries from the sorted set (and puts back those a dead daemon took).
    private func takeDueRetries(upTo now: Int64) throws -> Int {
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
                _ = try? connection.pipeline([
                    [Array("MULTI".utf8)],
                    [Array("ZREM".utf8), Array(keys.retriesTaken.utf8), bytes],
                    [Array("XADD".utf8), Array(keys.deadLetters.utf8), [UInt8(ascii: "*")], Array("unreadable".utf8), bytes],
                    [Array("EXEC".utf8)],
                ])
                continue
            }
            planner.plan(RedisRetry(member: bytes, fire: fire, committer: committer, keys: keys, counters: counters,
                                    configuration: configuration))
        }
        return count
    }
}
