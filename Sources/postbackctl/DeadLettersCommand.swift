import ArgumentParser
import PostbackCore
import PostbackSpool

/// `postbackctl dead-letters list|requeue`: the fires the daemon gave up on, and sending them
/// again once the partner has fixed their endpoint.
struct DeadLettersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List dead letters (failed/, or Redis's dead-letter streams) and requeue them.",
        discussion: """
            With source = redis in the config (and no --spool), the dead letters are the
            entries of each stream's <prefix>:dead-letters stream; a dead letter's ID is its
            entry id, or <stream>/<entry id> when redis_stream names several streams. An
            entry whose fire does not decode is listed as unreadable (and not requeued).
            Requeue moves the entry to <prefix>:retries in one Lua script, so two operators
            requeuing the same id make one retry.

            Example: postbackctl dead-letters list --config /etc/postbackd/postbackd.conf
            """,
        subcommands: [List.self, Requeue.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per dead letter, oldest first.",
            discussion: """
                Columns: ID (the handle requeue takes), POSTBACK, TRANSACTION, ATTEMPTS,
                FAILED AT (UTC), LAST ERROR. Prints "no dead letters" when failed/ is empty.
                --json prints one array with each dead letter's record and attempt history.

                Example: postbackctl dead-letters list --spool /var/lib/postbackd/spool --json
                """)

        @OptionGroup var location: SpoolOptions

        @Flag(help: "One JSON array, with each dead letter's record and attempt history.")
        var json = false

        func run() throws {
            let settings = try location.settings()
            if let redis = location.redis(settings) { return try runRedis(redis) }
            let spool = try location.open(settings)
            let letters = try DeadLettersCommand.read(spool)
            if json {
                Output.line("[" + letters.map(DeadLettersCommand.json).joined(separator: ",\n") + "]")
            } else if letters.isEmpty {
                Output.line("no dead letters")
            } else {
                var rows = [["ID", "POSTBACK", "TRANSACTION", "ATTEMPTS", "FAILED AT", "LAST ERROR"]]
                for letter in letters {
                    let f = letter.fire
                    rows.append([letter.id, String(f.postbackID), DeadLettersCommand.transaction(of: f) ?? "-",
                                 String(f.attempts), f.failedAt.map { TextTable.time(millis: $0) } ?? "-",
                                 f.lastError.isEmpty ? "-" : f.lastError])
                }
                TextTable.print(rows)
            }
            Output.flush()
        }

        func runRedis(_ queues: RedisQueues) throws {
            let letters = try DeadLettersCommand.readRedis(queues)
            if json {
                Output.line("[" + letters.map { DeadLettersCommand.json($0, in: queues) }.joined(separator: ",\n") + "]")
            } else if letters.isEmpty {
                Output.line("no dead letters")
            } else {
                TextTable.print([["ID", "POSTBACK", "TRANSACTION", "ATTEMPTS", "FAILED AT", "LAST ERROR"]]
                    + letters.map { DeadLettersCommand.row($0, in: queues) })
            }
            Output.flush()
        }
    }

    struct Requeue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move dead letters back to deferred/ (or Redis's retries), due now, with a fresh attempt budget.",
            discussion: """
                Prints `requeued <id>: postback <id>, transaction <id>` per dead letter moved;
                the running daemon fires them at its next pass (or run postbackd run --once).
                An id that is not in failed/ (or the dead-letter stream) is reported on stderr
                and the exit status is 1 (the others are still requeued).

                Example: postbackctl dead-letters requeue 1764256000123-1764256000123456.812_1.9f3a.json
                Example: postbackctl dead-letters requeue --all
                """)

        @OptionGroup var location: SpoolOptions

        @Argument(help: "Dead letter ids, as `dead-letters list` shows them.")
        var ids: [String] = []

        @Flag(help: "Requeue every dead letter.")
        var all = false

        func validate() throws {
            if all == !ids.isEmpty { throw ValidationError("name the dead letters to requeue, or --all (not both)") }
        }

        func run() throws {
            let settings = try location.settings()
            if let redis = location.redis(settings) {
                return try DeadLettersCommand.requeueRedis(redis, handles: all ? nil : ids, now: SpoolTime.unixMillis())
            }
            let spool = try location.open(settings)
            let letters = try DeadLettersCommand.read(spool)
            let byID = Dictionary(letters.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let chosen = all ? letters.map(\.id) : ids
            if all && chosen.isEmpty { Output.line("no dead letters") }
            var unknown = 0
            for id in chosen {
                let moved: Bool
                do {
                    moved = try spool.requeue(id, now: SpoolTime.unixMillis())
                } catch {
                    Output.error("\(id): \(error)")
                    throw ExitCode.failure
                }
                if moved, let letter = byID[id] {
                    Output.line("requeued \(id): postback \(letter.fire.postbackID), transaction "
                        + (DeadLettersCommand.transaction(of: letter.fire) ?? "-"))
                } else if moved {
                    Output.line("requeued \(id)")
                } else {
                    Output.error("\(id): no such dead letter in \(spool.path(of: .failed))")
                    unknown += 1
                }
            }
            Output.flush()
            if unknown > 0 { throw ExitCode.failure }
        }
    }

    static func read(_ spool: Spool) throws(ExitCode) -> [DeadLetter] {
        do {
            return try spool.deadLetters()
        } catch {
            Output.error("spool: \(error)")
            throw ExitCode.failure
        }
    }

    /// The record's transaction id, or nil when the stored line no longer parses.
    static func transaction(of fire: DeferredFire) -> String? {
        var bytes = fire.record
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard case .success(let record) = RecordParser.parse(line: String(decoding: bytes, as: UTF8.self)) else { return nil }
        return record.transactionID
    }

    static func json(_ letter: DeadLetter) -> String {
        json(id: letter.id, fire: letter.fire)
    }

    static func json(id: String, fire f: DeferredFire) -> String {
        let history = f.history.map(attemptJSON).joined(separator: ",")
        return "{\"id\":\(JSONText.quote(id)),\"postback\":\(f.postbackID),"
            + "\"transaction_id\":\(transaction(of: f).map(JSONText.quote) ?? "null"),\"attempts\":\(f.attempts),"
            + "\"failed_at_ms\":\(f.failedAt.map(String.init) ?? "null"),\"last_error\":\(JSONText.quote(f.lastError)),"
            + "\"source\":\(JSONText.quote(f.source)),\"line\":\(f.line),"
            + "\"record\":\(JSONText.quote(String(decoding: f.record, as: UTF8.self))),\"history\":[\(history)]}"
    }

    /// One attempt as the ledger spells it (`t` in µs, `status`, `latency_us`, `answer`).
    static func attemptJSON(_ a: FireAttempt) -> String {
        "{\"t\":\(a.time),\"url\":\(JSONText.quote(a.url)),\"status\":\(a.httpStatus),"
            + "\"error\":\(JSONText.quote(a.error)),\"latency_us\":\(a.latencyMicros),"
            + "\"answer\":\(JSONText.quote(String(decoding: a.answerPrefix, as: UTF8.self)))}"
    }
}
