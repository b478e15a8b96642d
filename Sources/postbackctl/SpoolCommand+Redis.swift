import ArgumentParser
import PostbackCore

/// `postbackctl spool` with `source = redis`: the same queue table, one block per stream,
/// and the same JSON queue objects, read from Redis (`RedisQueues`).
extension SpoolCommand {
    func runRedis(_ queues: RedisQueues, now: Int64) throws {
        let status: [RedisQueues.Status]
        do {
            status = try queues.status(now: now)
        } catch {
            Output.error("spool: \(error)")
            throw ExitCode.failure
        }
        if json {
            Output.line(Self.json(status, group: queues.group))
        } else {
            for line in Self.table(status, group: queues.group) { Output.line(line) }
        }
        Output.flush()
    }

    /// A `stream NAME (group G)` line and the queue table for each stream, a blank line
    /// between streams, then one line on where the history is: Redis keeps no ledgers.
    static func table(_ streams: [RedisQueues.Status], group: String) -> [String] {
        func row(_ name: String, _ q: RedisQueues.Queue, _ note: String = "") -> [String] {
            let cells = [name, String(q.count), TextTable.age(seconds: q.oldestAgeSeconds, empty: q.count == 0)]
            return note.isEmpty ? cells : cells + [note]
        }
        var lines: [String] = []
        for s in streams {
            if !lines.isEmpty { lines.append("") }
            lines.append("stream \(s.stream) (group \(group))")
            var deferredNote: [String] = []
            if s.deferred.count > 0 { deferredNote.append("\(s.deferredDue) due") }
            if s.deferredTaken > 0 { deferredNote.append("\(s.deferredTaken) being retried") }
            lines += TextTable.lines([
                ["QUEUE", "COUNT", "OLDEST"],
                row("incoming", s.incoming),
                row("active", s.active, s.active.count > 0 ? "delivered, not acknowledged" : ""),
                row("deferred", s.deferred, deferredNote.joined(separator: ", ")),
                row("failed", s.failed, s.failed.count > 0 ? "dead letters: postbackctl dead-letters list" : ""),
                row("bad", s.bad),
            ])
        }
        lines.append("accounting: Redis keeps no ledgers; the journal has every fire's history")
        return lines
    }

    /// `{"source":"redis","group":G,"streams":[{"stream":S,"queues":{...}}]}`, each queue as
    /// the spool's JSON spells it (`count`, `oldest_age_seconds`, deferred's `due`), with
    /// deferred's `taken` (being retried now).
    static func json(_ streams: [RedisQueues.Status], group: String) -> String {
        func queue(_ q: RedisQueues.Queue, _ extra: String = "") -> String {
            "{\"count\":\(q.count),\"oldest_age_seconds\":\(TextTable.number(q.oldestAgeSeconds))\(extra)}"
        }
        let items = streams.map { s in
            "{\"stream\":\(JSONText.quote(s.stream)),\"queues\":{"
                + "\"incoming\":\(queue(s.incoming)),\"active\":\(queue(s.active)),"
                + "\"deferred\":\(queue(s.deferred, ",\"due\":\(s.deferredDue),\"taken\":\(s.deferredTaken)")),"
                + "\"failed\":\(queue(s.failed)),\"bad\":\(queue(s.bad))}}"
        }
        return "{\"source\":\"redis\",\"group\":\(JSONText.quote(group)),\"streams\":[" + items.joined(separator: ",") + "]}"
    }
}
