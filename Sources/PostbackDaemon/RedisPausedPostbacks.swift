import Dispatch
import Logging
import PostbackCore
import PostbackRedis
import PostbackSpool
import Synchronization

/// The auto-paused postbacks of `source = redis`: the hash `<prefix>:paused` of each stream
/// (`RedisKeys.paused`; field = postback id, value = `PausedPostbacksFile.Entry.json`), shared
/// by every daemon of the group. A pause one daemon makes stops the others firing that
/// postback within `followEvery`, and `postbackctl resume` (HDEL) lifts it everywhere, since
/// every daemon reads the hashes again on that timer as well as at start and on reload.
///
/// A pause is written to every stream's hash, and the union of them is read, so daemons whose
/// `redis_stream` lists differ still agree on a postback both fire. The Redis connections are
/// touched only on `queue`, so the recorder that adds a pause never waits for Redis: the pause
/// holds here at once and is written in the background, again on each tick until Redis takes it.
final class RedisPausedPostbacks: PausedPostbackStore, @unchecked Sendable {
    // @unchecked: `nodes`, `timer` and `outage` are touched only on `queue`.
    private let nodes: RedisNodes
    /// The distinct hashes, with the stream whose slot holds each.
    private let hashes: [(key: String, stream: String)]
    private let logger: Logger
    private let queue = DispatchQueue(label: "postbackd-paused")
    private var timer: DispatchSourceTimer?
    private var outage = false
    private let state = Mutex(State())

    /// How often the hashes are read again: within this a pause or resume made elsewhere holds.
    static let followEvery: Duration = .seconds(2)

    struct State {
        /// As last read, with this daemon's own pauses added.
        var entries: [Int64: PausedPostbacksFile.Entry] = [:]
        /// Pauses made here that Redis has not taken yet.
        var unsaved: [Int64: PausedPostbacksFile.Entry] = [:]
    }

    /// Reads the hashes once; a Redis that does not answer now is logged and read again on
    /// the timer (the feed cannot read records from it meanwhile either).
    init(settings: Settings, logger: Logger) {
        self.logger = logger
        nodes = RedisNodes(urls: settings.redisURLs)
        hashes = RedisKeys.distinctPausedHashes(settings.redisStreams).map { ($0.paused, $0.stream) }
        queue.sync { _ = try? read() }  // a failure is logged there
    }

    var location: String { hashes.map(\.key).joined(separator: ", ") }

    var ids: Set<Int64> { state.withLock { Set($0.entries.keys) } }

    func add(_ id: Int64, reason: String) throws -> Set<Int64> {
        let ids = state.withLock { state -> Set<Int64> in
            if state.entries[id] == nil {
                let entry = PausedPostbacksFile.Entry(id: id, sinceMs: SpoolTime.unixMillis(), reason: reason)
                state.entries[id] = entry
                state.unsaved[id] = entry
            }
            return Set(state.entries.keys)
        }
        queue.async { [self] in saveUnsaved() }
        return ids
    }

    func reload() throws -> Set<Int64> {
        try queue.sync { () throws -> Set<Int64> in try read() }
    }

    func follow(_ changed: @escaping @Sendable (Set<Int64>) -> Void) {
        queue.sync {
            guard timer == nil else { return }
            let made = DispatchSource.makeTimerSource(queue: queue)
            let every = DispatchTimeInterval.milliseconds(Int(Self.followEvery.milliseconds))
            made.schedule(deadline: .now() + every, repeating: every)
            made.setEventHandler { [self] in
                saveUnsaved()
                let before = ids
                guard let after = try? read(), after != before else { return }
                changed(after)
            }
            made.resume()
            timer = made
        }
    }

    func close() {
        queue.sync {
            timer?.cancel()
            timer = nil
            saveUnsaved()
        }
    }

    // MARK: on `queue`

    /// Reads every hash, keeps their union with the pauses not saved yet, logs what changed
    /// elsewhere, and returns every paused id. Throws (keeping the last read) when Redis does
    /// not answer.
    private func read() throws -> Set<Int64> {
        var read: [PausedPostbacksFile.Entry] = []
        do {
            for hash in hashes {
                let reply = try nodes.connection(forSlot: RedisSlot.of(hash.stream)).command("HGETALL", hash.key)
                if let error = reply.errorMessage { throw RedisRefusal(message: "HGETALL \(hash.key): \(error)") }
                for (field, value) in reply.fieldPairs {
                    do {
                        read.append(try PausedPostbacksFile.Entry.decode(value.bytes ?? [], source: "\(hash.key) field \(field)"))
                    } catch {
                        logger.warning("redis: paused postbacks: \(error); field ignored")
                    }
                }
            }
        } catch {
            if !outage {
                logger.error("redis: cannot read the paused postbacks (\(location)): \(error); reading again every \(Self.followEvery)")
            }
            outage = true
            throw error
        }
        if outage { logger.notice("redis: the paused postbacks are read again from \(location)") }
        outage = false
        let (ids, change) = state.withLock { state -> (Set<Int64>, PausedChange) in
            let merged = PausedChange.merge(read, unsaved: Array(state.unsaved.values))
            let change = PausedChange(from: state.entries, to: merged)
            state.entries = merged
            return (Set(merged.keys), change)
        }
        for entry in change.paused {
            logger.warning("postback \(entry.id) paused by another daemon: \(entry.reason ?? "no reason given")",
                           metadata: ["POSTBACK_ID": "\(entry.id)", "OUTCOME": "paused"])
        }
        for id in change.lifted {
            logger.notice("postback \(id): auto-pause lifted (postbackctl resume)", metadata: ["POSTBACK_ID": "\(id)"])
        }
        return ids
    }

    /// Writes the pauses made here to every hash; those Redis took are saved.
    private func saveUnsaved() {
        let waiting = state.withLock { Array($0.unsaved.values) }
        for entry in waiting {
            do {
                for hash in hashes {
                    let reply = try nodes.connection(forSlot: RedisSlot.of(hash.stream))
                        .command("HSETNX", hash.key, String(entry.id), entry.json)
                    if let error = reply.errorMessage { throw RedisRefusal(message: "HSETNX \(hash.key): \(error)") }
                }
                _ = state.withLock { $0.unsaved.removeValue(forKey: entry.id) }
            } catch {
                logger.error("redis: cannot record the pause of postback \(entry.id) in \(location): \(error); trying again every \(Self.followEvery)")
            }
        }
    }
}

/// What a fresh read of the shared pauses changed: pure, so the rules are tested without Redis.
struct PausedChange: Equatable {
    /// Paused elsewhere since the last read.
    var paused: [PausedPostbacksFile.Entry] = []
    /// Lifted since the last read (`postbackctl resume`), in id order.
    var lifted: [Int64] = []

    init(from old: [Int64: PausedPostbacksFile.Entry], to new: [Int64: PausedPostbacksFile.Entry]) {
        paused = new.values.filter { old[$0.id] == nil }.sorted { $0.id < $1.id }
        lifted = old.keys.filter { new[$0] == nil }.sorted()
    }

    /// One entry per id: the read hashes' (the earliest pause when several streams' hashes
    /// hold one), then this daemon's own pauses that Redis has not taken yet.
    static func merge(_ read: [PausedPostbacksFile.Entry], unsaved: [PausedPostbacksFile.Entry]) -> [Int64: PausedPostbacksFile.Entry] {
        var result = PausedPostbacksFile.Entry.earliestByID(read)
        for entry in unsaved where result[entry.id] == nil { result[entry.id] = entry }
        return result
    }
}
