import ArgumentParser
import PostbackCore
import PostbackSpool

/// `dead-letters list|requeue` with `source = redis`: the `<prefix>:dead-letters` streams,
/// in the spool's columns and JSON. A dead letter's handle is its entry id, or
/// `<stream>/<entry id>` when `redis_stream` names several streams or a pattern.
extension DeadLettersCommand {
    static func readRedis(_ queues: RedisQueues) throws(ExitCode) -> [RedisQueues.DeadLetter] {
        do {
            return try queues.deadLetters()
        } catch {
            Output.error("dead-letters: \(error)")
            throw ExitCode.failure
        }
    }

    /// The handle `list` prints and `requeue` takes.
    static func handle(_ letter: RedisQueues.DeadLetter, in queues: RedisQueues) -> String {
        queues.severalStreams ? letter.keys.stream + "/" + letter.entryID : letter.entryID
    }

    /// The stream and entry id a handle names, nil when it names none of `redis_stream`.
    static func resolve(_ handle: String, in queues: RedisQueues) -> (keys: RedisKeys, entryID: String)? {
        if !queues.severalStreams, !handle.contains("/") { return (queues.streams[0], handle) }
        guard let slash = handle.lastIndex(of: "/"),
              let keys = queues.streams.first(where: { $0.stream == handle[..<slash] }) else { return nil }
        return (keys, String(handle[handle.index(after: slash)...]))
    }

    static func row(_ letter: RedisQueues.DeadLetter, in queues: RedisQueues) -> [String] {
        let id = handle(letter, in: queues)
        guard let f = letter.fire else {
            let at = RedisEntryID.millis(letter.entryID).map { TextTable.time(millis: $0) } ?? "-"
            return [id, "-", "-", "-", at, "unreadable: \(letter.unreadable ?? "?")"]
        }
        return [id, String(f.postbackID), transaction(of: f) ?? "-", String(f.attempts),
                f.failedAt.map { TextTable.time(millis: $0) } ?? "-", f.lastError.isEmpty ? "-" : f.lastError]
    }

    /// The spool's JSON of a dead letter, or for an unreadable one
    /// `{"id":...,"unreadable":"why","raw":"the stored text"}`.
    static func json(_ letter: RedisQueues.DeadLetter, in queues: RedisQueues) -> String {
        let id = handle(letter, in: queues)
        guard let fire = letter.fire else {
            return "{\"id\":\(JSONText.quote(id)),\"unreadable\":\(JSONText.quote(letter.unreadable ?? "?")),"
                + "\"raw\":\(JSONText.quote(String(decoding: letter.raw, as: UTF8.self)))}"
        }
        return json(id: id, fire: fire)
    }

    /// Requeues each handle; prints what moved, names on stderr what could not, and exits 1
    /// when any could not (the others still move), as the spool's requeue does.
    static func requeueRedis(_ queues: RedisQueues, handles: [String]?, now: Int64) throws {
        let chosen: [String]
        if let handles {
            chosen = handles
        } else {
            let letters = try readRedis(queues)
            if letters.isEmpty { Output.line("no dead letters") }
            chosen = letters.map { handle($0, in: queues) }
        }
        var refused = 0
        for id in chosen {
            guard let (keys, entryID) = resolve(id, in: queues) else {
                Output.error("\(id): not a dead letter id of redis_stream \(queues.streams.map(\.stream).joined(separator: ",")); "
                    + "with several streams, ids are <stream>/<entry id>")
                refused += 1
                continue
            }
            let moved: Bool
            let letter: RedisQueues.DeadLetter?
            do {
                letter = try queues.deadLetter(entryID, of: keys)
                if let letter, let fire = letter.fire {
                    moved = try queues.requeue(letter, fire: fire, now: now)
                } else {
                    moved = false
                }
            } catch {
                Output.error("\(id): \(error)")
                throw ExitCode.failure
            }
            if let letter, letter.fire == nil {
                Output.error("\(id): unreadable dead letter (\(letter.unreadable ?? "?")), left in \(keys.deadLetters)")
                refused += 1
            } else if moved, let fire = letter?.fire {
                Output.line("requeued \(id): postback \(fire.postbackID), transaction " + (transaction(of: fire) ?? "-"))
            } else {
                Output.error("\(id): no such dead letter in \(keys.deadLetters) (\(queues.urls))")
                refused += 1
            }
        }
        Output.flush()
        if refused > 0 { throw ExitCode.failure }
    }
}
