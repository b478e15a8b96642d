import Foundation
import Logging
import PostbackCore
import PostbackRedis
import Synchronization

/// The Redis side of recording, on the recorder's queue: it owns that queue's connections,
/// collects the writes and acknowledgements of entries finished in one group, and sends
/// them as one `MULTI`/`EXEC` per stream (a stream and its companion keys share a slot, so
/// one node runs it all or nothing).
///
/// A transaction for a node that does not answer is parked, with everything after it for
/// the same stream, and tried again every second; the recorder goes on with the other
/// streams. Its entries stay pending in Redis meanwhile, so a daemon that dies with parked
/// work loses nothing: another takes the entries over and fires them again.
final class RedisCommitter: @unchecked Sendable {
    // @unchecked: `nodes`, `pending`, `parked` and `retryScheduled` are touched only on `queue`.
    private let nodes: RedisNodes
    private let group: String
    private let logger: Logger
    private let health: RedisHealth
    /// The recorder's queue, where every method runs and parked work is retried.
    private let queue: DispatchQueue
    /// Entries planned and not yet acknowledged or released, shared with the feed so a
    /// takeover pass does not claim back what this daemon still holds.
    let inHand: InHandEntries
    /// Per stream: the writes and entry ids of the group being collected.
    private var pending: [String: (writes: [[[UInt8]]], ids: [String])] = [:]
    /// Transactions whose node did not answer, oldest first.
    private var parked: [Transaction] = []
    private var retryScheduled = false

    private struct Transaction {
        var stream: String
        var commands: [[[UInt8]]]
        /// The entries (`STREAM/ID`) it acknowledges.
        var entries: [String]
        var what: String
    }

    init(nodes: RedisNodes, group: String, logger: Logger, health: RedisHealth, inHand: InHandEntries, queue: DispatchQueue) {
        self.nodes = nodes
        self.group = group
        self.logger = logger
        self.health = health
        self.inHand = inHand
        self.queue = queue
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
    func commit() {
        guard !pending.isEmpty else { return }
        let group = pending.sorted { $0.key < $1.key }
        pending.removeAll(keepingCapacity: true)
        for (stream, work) in group {
            let ack = [Array("XACK".utf8), Array(stream.utf8), Array(self.group.utf8)] + work.ids.map { Array($0.utf8) }
            submit(Transaction(stream: stream, commands: work.writes + [ack], entries: work.ids.map { stream + "/" + $0 },
                               what: "acknowledging \(work.ids.count) entries of \(stream)"))
        }
    }

    /// Runs `commands` (keys in `stream`'s slot) as one `MULTI`/`EXEC` on the stream's
    /// node, now or, while the node does not answer, once it does.
    func transaction(_ commands: [[[UInt8]]], on stream: String, what: String) {
        submit(Transaction(stream: stream, commands: commands, entries: [], what: what))
    }

    private func submit(_ transaction: Transaction) {
        // In order per stream: behind anything of its stream already parked.
        if parked.contains(where: { $0.stream == transaction.stream }) || !attempt(transaction) {
            parked.append(transaction)
            scheduleRetry()
        }
    }

    /// True when done (or refused, which trying again would not change).
    private func attempt(_ transaction: Transaction) -> Bool {
        do {
            let refused = try nodes.connection(forSlot: RedisSlot.of(transaction.stream)).transaction(transaction.commands)
            if health.answered() { logger.notice("redis answers again: recording resumes") }
            if let refused {
                if refused.hasPrefix("MOVED") || refused.contains("MOVED ") {
                    nodes.forgetSlots()  // the cluster moved the slot: ask it again, retry there
                    return false
                }
                // Not an outage: a wrong key type or a bug. The entries stay pending and are
                // fired again after redis_claim_idle; said, not retried here.
                logger.error("redis refused \(transaction.what): \(refused)")
            }
            inHand.remove(transaction.entries)
            return true
        } catch {
            if health.failed("\(error)") {
                logger.error("redis unreachable while \(transaction.what): \(error); waiting, trying again every second")
            }
            return false
        }
    }

    private func scheduleRetry() {
        guard !retryScheduled else { return }
        retryScheduled = true
        queue.asyncAfter(deadline: .now() + 1) { [self] in
            retryScheduled = false
            let waiting = parked
            parked.removeAll()
            for transaction in waiting { submit(transaction) }
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

/// Redis answered a command with an error (the feed's reads and group creation).
struct RedisRefusal: Error, CustomStringConvertible {
    var message: String
    var description: String { "redis refused: \(message)" }
}

/// The entries (`STREAM/ID`) this daemon is working on.
final class InHandEntries: Sendable {
    private let ids = Mutex<Set<String>>([])

    func insert(_ id: String) { ids.withLock { _ = $0.insert(id) } }
    func remove(_ done: [String]) { ids.withLock { for id in done { $0.remove(id) } } }
    /// Every entry in hand now.
    func snapshot() -> Set<String> { ids.withLock { $0 } }
}
