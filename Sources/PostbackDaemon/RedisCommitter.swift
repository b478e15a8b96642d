import Foundation
import Logging
import PostbackRedis
import Synchronization

/// The Redis side of recording, on the recorder's queue: it owns that queue's connection,
/// collects the writes and acknowledgements of entries finished in one group, and sends them
/// as one `MULTI`/`EXEC` (one round trip, all or nothing). While Redis does not answer it
/// waits and tries again, which holds the recorder and through it the firing (the bound on
/// unrecorded fires): work waits in Redis, nothing is acknowledged unrecorded.
final class RedisCommitter: @unchecked Sendable {
    // @unchecked: `connection`, `writes`, `acks` are touched only on the recorder's queue.
    private let connection: RedisConnection
    private let group: String
    private let logger: Logger
    private let health: RedisHealth
    /// Entries planned and not yet acknowledged or released, shared with the feed so a
    /// takeover pass does not claim back what this daemon still holds.
    let inHand: InHandEntries
    /// True once the daemon drains: an outage is then waited out for `drainPatience` only.
    private let stopping: @Sendable () -> Bool
    private var writes: [[[UInt8]]] = []
    private var acks: [String: [String]] = [:]
    private var acked: [String] = []

    static let drainPatience: Duration = .seconds(10)

    init(connection: RedisConnection, group: String, logger: Logger, health: RedisHealth, inHand: InHandEntries,
         stopping: @escaping @Sendable () -> Bool) {
        self.connection = connection
        self.group = group
        self.logger = logger
        self.health = health
        self.inHand = inHand
        self.stopping = stopping
    }

    /// An entry whose outcomes are all in: its writes and its `XACK` join the next commit.
    func add(_ entryWrites: [[[UInt8]]], acknowledging id: String, in stream: String) {
        writes += entryWrites
        acks[stream, default: []].append(id)
        acked.append(stream + "/" + id)
    }

    /// An entry (`STREAM/ID`) let go unacknowledged.
    func forget(_ name: String) {
        inHand.remove([name])
    }

    /// Sends every collected write and acknowledgement in one transaction.
    func commit() throws {
        guard !acked.isEmpty || !writes.isEmpty else { return }
        var commands = writes
        for (stream, ids) in acks.sorted(by: { $0.key < $1.key }) {
            commands.append([Array("XACK".utf8), Array(stream.utf8), Array(group.utf8)] + ids.map { Array($0.utf8) })
        }
        let done = acked
        writes.removeAll(keepingCapacity: true)
        acks.removeAll(keepingCapacity: true)
        acked.removeAll(keepingCapacity: true)
        defer { inHand.remove(done) }
        if !(try transaction(commands, what: "acknowledging \(done.count) entries")) {
            logger.error("redis: \(done.count) entries not acknowledged: they stay pending and are fired again after redis_claim_idle")
        }
    }

    /// Runs `commands` as one `MULTI`/`EXEC`, trying again while Redis does not answer. False
    /// when it gave up (a drain that waited `drainPatience`); throws when Redis refused a
    /// command (a bug or a wrong key type, not an outage).
    @discardableResult
    func transaction(_ commands: [[[UInt8]]], what: String) throws -> Bool {
        var pipeline: [[[UInt8]]] = [[Array("MULTI".utf8)]]
        pipeline += commands
        pipeline.append([Array("EXEC".utf8)])
        var stopSeen: ContinuousClock.Instant?
        while true {
            do {
                let replies = try connection.pipeline(pipeline)
                if health.answered() { logger.notice("redis answers again: recording resumes") }
                let exec = replies[replies.count - 1]
                if let refused = replies.lazy.compactMap(\.errorMessage).first ?? exec.elements.lazy.compactMap(\.errorMessage).first {
                    throw RedisRefusal(message: "\(what): \(refused)")
                }
                return true
            } catch let error as RedisConnectionError {
                if health.failed("\(error)") {
                    logger.error("redis unreachable while \(what): \(error); waiting, trying again every second")
                }
                if stopping() {
                    let since = stopSeen ?? .now
                    stopSeen = since
                    if ContinuousClock.now - since >= Self.drainPatience { return false }
                }
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    /// `XADD rejected * ...` for a refused line (or an entry without a record field, line 0).
    static func rejection(_ keys: RedisKeys, stream: String, id: String, line: Int, reason: String, raw: [UInt8]) -> [[UInt8]] {
        [Array("XADD".utf8), Array(keys.rejected.utf8), [UInt8(ascii: "*")],
         Array("stream".utf8), Array(stream.utf8), Array("entry".utf8), Array(id.utf8),
         Array("line".utf8), Array(String(line).utf8), Array("reason".utf8), Array(reason.utf8),
         Array("raw".utf8), raw]
    }
}

/// Redis answered a command with an error.
struct RedisRefusal: Error, CustomStringConvertible {
    var message: String
    var description: String { "redis refused: \(message)" }
}

/// The entries (`STREAM/ID`) this daemon is working on.
final class InHandEntries: Sendable {
    private let ids = Mutex<Set<String>>([])

    func insert(_ id: String) { ids.withLock { _ = $0.insert(id) } }
    func remove(_ done: [String]) { ids.withLock { for id in done { $0.remove(id) } } }
    func contains(_ id: String) -> Bool { ids.withLock { $0.contains(id) } }
}
