import Foundation
import Logging
import PostbackCore
import PostbackRedis
import Synchronization

/// The Redis side of recording, on the recorder's queue: it owns that queue's connections,
/// collects the writes and acknowledgements of entries finished in one group, and sends
/// them as one `MULTI`/`EXEC` per stream (a stream and its companion keys share a slot, so
/// one node runs it all or nothing), all of a node's in one round trip. While Redis does not answer it
/// waits and tries again, which holds the recorder and through it the firing (the bound on
/// unrecorded fires): work waits in Redis, nothing is acknowledged unrecorded.
final class RedisCommitter: @unchecked Sendable {
    // @unchecked: `nodes` and `pending` are touched only on the recorder's queue.
    private let nodes: RedisNodes
    private let group: String
    private let logger: Logger
    private let health: RedisHealth
    /// Entries planned and not yet acknowledged or released, shared with the feed so a
    /// takeover pass does not claim back what this daemon still holds.
    let inHand: InHandEntries
    /// True once the daemon drains: an outage is then waited out for `drainPatience` only.
    private let stopping: @Sendable () -> Bool
    /// Per stream: the writes and entry ids of the group being collected.
    private var pending: [String: (writes: [[[UInt8]]], ids: [String])] = [:]

    static let drainPatience: Duration = .seconds(10)

    init(nodes: RedisNodes, group: String, logger: Logger, health: RedisHealth, inHand: InHandEntries,
         stopping: @escaping @Sendable () -> Bool) {
        self.nodes = nodes
        self.group = group
        self.logger = logger
        self.health = health
        self.inHand = inHand
        self.stopping = stopping
    }

    /// An entry whose outcomes are all in: its writes and its `XACK` join the next commit.
    func add(_ entryWrites: [[[UInt8]]], acknowledging id: String, in stream: String) {
        pending[stream, default: ([], [])].writes += entryWrites
        pending[stream, default: ([], [])].ids.append(id)
    }

    /// An entry (`STREAM/ID`) let go unacknowledged.
    func forget(_ name: String) {
        inHand.remove([name])
    }

    /// Sends every collected write and acknowledgement: one transaction per stream.
    func commit() throws {
        guard !pending.isEmpty else { return }
        let group = pending.sorted { $0.key < $1.key }
        pending.removeAll(keepingCapacity: true)
        for (stream, work) in group {
            let ack = [Array("XACK".utf8), Array(stream.utf8), Array(self.group.utf8)] + work.ids.map { Array($0.utf8) }
            defer { inHand.remove(work.ids.map { stream + "/" + $0 }) }
            if !(try transaction(work.writes + [ack], on: stream, what: "acknowledging \(work.ids.count) entries of \(stream)")) {
                logger.error("redis: \(work.ids.count) entries of \(stream) not acknowledged: they stay pending and are fired again after redis_claim_idle")
            }
        }
    }

    /// Runs `commands` (keys in `stream`'s slot) as one `MULTI`/`EXEC` on the stream's node,
    /// trying again while it does not answer. False when it gave up (a drain that waited
    /// `drainPatience`); throws when Redis refused a command (a bug or a wrong key type, not
    /// an outage).
    @discardableResult
    func transaction(_ commands: [[[UInt8]]], on stream: String, what: String) throws -> Bool {
        var pipeline: [[[UInt8]]] = [[Array("MULTI".utf8)]]
        pipeline += commands
        pipeline.append([Array("EXEC".utf8)])
        var stopSeen: ContinuousClock.Instant?
        while true {
            do {
                let replies = try nodes.connection(forSlot: RedisSlot.of(stream)).pipeline(pipeline)
                if health.answered() { logger.notice("redis answers again: recording resumes") }
                let exec = replies[replies.count - 1]
                if let refused = replies.lazy.compactMap(\.errorMessage).first ?? exec.elements.lazy.compactMap(\.errorMessage).first {
                    if refused.hasPrefix("MOVED") || refused.contains("MOVED ") {
                        // The cluster moved the slot: ask it again and retry there.
                        nodes.forgetSlots()
                        continue
                    }
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
