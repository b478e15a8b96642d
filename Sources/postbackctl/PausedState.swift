import ArgumentParser
import Foundation
import PostbackCore
import PostbackRedis
import PostbackSpool

/// The daemon's auto-pauses, where its settings say it keeps them:
/// `<state_directory>/paused.json` (`{"paused":[{"id":17,"since_ms":1764256000000,"reason":"…"}]}`)
/// with `source = spool`, or each stream's `<prefix>:paused` hash (field = id, value = the
/// same entry's JSON) with `source = redis`, shared by every daemon of the group.
///
/// The daemon pauses a postback there, never in the catalog file (DESIGN "Partner health"), so a
/// platform re-export of the catalog cannot silently undo it; `resume` lifts it and `list` shows
/// it. The format is `PausedPostbacksFile`, and the keys `RedisKeys`, shared with the daemon.
struct PausedState: Sendable, Equatable {
    typealias Entry = PausedPostbacksFile.Entry

    enum Place: Sendable, Equatable {
        case file(stateDirectory: String)
        /// The settings' nodes and each stream's hash (`RedisKeys.paused`), with the stream
        /// whose slot holds it.
        case redis(urls: [String], hashes: [RedisHash])
    }

    struct RedisHash: Sendable, Equatable {
        var key: String
        var stream: String
    }

    var place: Place
    var entries: [Entry] = []

    /// Where `settings` keep the pauses: Redis with `source = redis`, else the state directory.
    static func place(_ settings: Settings) -> Place {
        guard settings.source == "redis" else { return .file(stateDirectory: settings.stateDirectory) }
        let hashes = RedisKeys.distinctPausedHashes(settings.redisStreams).map { RedisHash(key: $0.paused, stream: $0.stream) }
        return .redis(urls: settings.redisURLs, hashes: hashes)
    }

    /// The auto-pauses; none when nothing was ever paused there.
    static func read(stateDirectory: String) throws(ExitCode) -> PausedState {
        try read(.file(stateDirectory: stateDirectory))
    }

    static func read(_ place: Place) throws(ExitCode) -> PausedState {
        switch place {
        case .file(let stateDirectory):
            do {
                return PausedState(place: place, entries: try PausedPostbacksFile.read(stateDirectory: stateDirectory))
            } catch {
                Output.error("\(error)")
                throw ExitCode.failure
            }
        case .redis(let urls, let hashes):
            var read: [Entry] = []
            for hash in hashes {
                for (field, value) in try command(urls, hash, ["HGETALL", hash.key]).fieldPairs {
                    do {
                        read.append(try Entry.decode(value.bytes ?? [], source: "\(hash.key) field \(field)"))
                    } catch {
                        Output.error("\(error)")
                        throw ExitCode.failure
                    }
                }
            }
            // Several streams' hashes may hold one id: the earliest pause is kept.
            return PausedState(place: place, entries: Entry.earliestByID(read).values.sorted { $0.id < $1.id })
        }
    }

    func entry(_ id: Int64) -> Entry? { entries.first { $0.id == id } }

    var ids: Set<Int64> { Set(entries.map(\.id)) }

    /// Lifts one pause: the file replaced atomically, in the one format the daemon shares, or
    /// the field deleted from every stream's hash.
    mutating func lift(_ id: Int64) throws(ExitCode) {
        entries.removeAll { $0.id == id }
        switch place {
        case .file(let stateDirectory):
            do {
                try PausedPostbacksFile.write(entries, stateDirectory: stateDirectory)
            } catch {
                Output.error("\(error)")
                throw ExitCode.failure
            }
        case .redis(let urls, let hashes):
            for hash in hashes { _ = try Self.command(urls, hash, ["HDEL", hash.key, String(id)]) }
        }
    }

    /// Where, for messages: the file, or the hashes and their Redis.
    var location: String {
        switch place {
        case .file(let stateDirectory): PausedPostbacksFile.path(stateDirectory: stateDirectory)
        case .redis(let urls, let hashes): hashes.map(\.key).joined(separator: ", ") + " in " + urls.joined(separator: ",")
        }
    }

    /// One command on the node of `hash`; a lost connection or an error reply is said on
    /// stderr with the node and the key, and exits 1.
    private static func command(_ urls: [String], _ hash: RedisHash, _ arguments: [String]) throws(ExitCode) -> RedisReply {
        let nodes = RedisNodes(urls: urls)
        let reply: RedisReply
        do {
            reply = try nodes.connection(forSlot: RedisSlot.of(hash.stream)).command(arguments.map { Array($0.utf8) })
        } catch {
            Output.error("paused postbacks: \(error)")
            throw ExitCode.failure
        }
        if let error = reply.errorMessage {
            Output.error("paused postbacks: \(urls.joined(separator: ",")): \(arguments[0]) \(hash.key): \(error)")
            throw ExitCode.failure
        }
        return reply
    }
}
