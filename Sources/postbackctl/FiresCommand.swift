import ArgumentParser
import Foundation
import PostbackCore
import PostbackSpool

/// `postbackctl fires --transaction ID`: "did partner P get transaction T, and what did they
/// say?", answered from everything that remembers a fire.
///
/// With `source = redis` the retry sets and dead-letter streams stand for `deferred/` and
/// `failed/`, and there are no ledgers.
///
/// The spool remembers a fire in three places (the ledger beside its spool file, a deferred
/// fire's file, a dead letter's file, each with attempts) and the journal remembers every final
/// outcome. They overlap: one attempt is often in a ledger, a dead letter's history and the
/// journal. Attempts are merged on (postback, URL as sent, status, latency in µs), which no two
/// real attempts share, and each line says where it was seen.
struct FiresCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fires",
        abstract: "Every fire and attempt known for one transaction.",
        discussion: """
            Looks in the ledgers of active/ and done/ (joined with their spool file's lines),
            in deferred/ and failed/, and in the journal (journalctl SYSLOG_IDENTIFIER=postbackd
            TRANSACTION_ID=<id>) unless --no-journal. One line per attempt, oldest first: time
            (UTC; from the journal, the log time less the latency), postback, attempt number,
            outcome, HTTP status or error, latency, where it was seen, the URL as sent and the
            first bytes of the answer; then fires still waiting in deferred/ and dead letters.
            With source = redis in the config (and no --spool) the waiting fires and dead
            letters are read from the <prefix>:retries sets and <prefix>:dead-letters streams;
            Redis keeps no ledgers. Exit 0 when something was found, 1 when nothing was.

            Example: postbackctl fires --transaction t-1001 --config /etc/postbackd/postbackd.conf
            """)

    @Option(help: "The platform's transaction id (the record's transaction_id).")
    var transaction: String

    @OptionGroup var location: SpoolOptions

    @Flag(help: "Do not search the journal.")
    var noJournal = false

    @Flag(help: "One JSON object, for scripts.")
    var json = false

    /// One attempt, as merged from every place that saw it.
    struct Sighting {
        var postbackID: Int64
        var attempt: Int?
        /// When it was sent, Unix µs.
        var time: Int64?
        /// succeeded, deferred, failed, skipped, or attempt (not final).
        var outcome: String?
        /// True when only a deferred fire's history implies the outcome; a ledger or the journal says it.
        var outcomeImplied = false
        var url: String
        var status: Int
        var error: String
        var latency: Int64?
        var answer: String
        var seenIn: [String]

        /// Two sightings of one attempt share these; entries without a URL never merge.
        var key: String? {
            guard !url.isEmpty, let latency else { return nil }
            return "\(postbackID) \(status) \(latency) \(url)"
        }

        /// The status, and the error beside it when there is one: a fire refused at a redirect's
        /// target has the redirect's status (say 302) and the refusal, and the refusal is the news.
        var result: String {
            let http = "HTTP \(status)"
            switch (status > 0, error.isEmpty) {
            case (true, false) where !error.hasPrefix(http): return "\(http): \(error)"
            case (true, _): return http
            case (false, false): return error
            case (false, true): return "-"
            }
        }
    }

    struct Waiting {
        var id: String
        var fire: DeferredFire
        /// Where it waits, as the table says it: `deferred/<file>`, or the Redis retry set.
        var place: String
    }

    func run() async throws {
        let settings = try location.settings()
        let redis = location.redis(settings)
        let spool = redis == nil ? try location.open(settings) : nil
        var sightings: [Sighting] = []
        var notes: [String] = []

        func add(_ s: Sighting) {
            if let key = s.key, let i = sightings.firstIndex(where: { $0.key == key }) {
                var merged = sightings[i]
                merged.seenIn.append(contentsOf: s.seenIn.filter { !merged.seenIn.contains($0) })
                merged.attempt = merged.attempt ?? s.attempt
                merged.time = merged.time ?? s.time
                if s.outcome != nil, merged.outcome == nil || (merged.outcomeImplied && !s.outcomeImplied) {
                    merged.outcome = s.outcome
                    merged.outcomeImplied = s.outcomeImplied
                }
                if merged.answer.isEmpty { merged.answer = s.answer }
                if merged.error.isEmpty { merged.error = s.error }
                sightings[i] = merged
            } else {
                sightings.append(s)
            }
        }

        // Ledgers: the first attempt of every fire of a spool file still in active/ or kept in done/.
        for file in (try? spool?.ledgers(withSpoolFiles: true)) ?? [] {
            // Line number → transaction id, for the lines of the spool file that are records.
            var transactions: [Int: String] = [:]
            if let contents = file.spoolFile {
                RecordParser.parseLines(contents) { line, result in
                    if case .success(let record) = result { transactions[line] = record.transactionID }
                }
            }
            for entry in file.entries where entry.postbackID != 0 && transactions[entry.line] == transaction {
                let a = entry.attempt
                add(Sighting(
                    postbackID: entry.postbackID, attempt: entry.isFinal && a != nil ? 1 : nil, time: a?.time,
                    outcome: entry.outcomeName, url: a?.url ?? "", status: a?.httpStatus ?? 0,
                    error: a.flatMap { $0.error.isEmpty ? nil : $0.error } ?? entry.reason ?? "", latency: a?.latencyMicros,
                    answer: a.map { String(decoding: $0.answerPrefix, as: UTF8.self) } ?? "",
                    seenIn: ["\(file.queue.rawValue)/\(file.name):\(entry.line)"]))
            }
        }

        // Deferred fires and dead letters carry their recent attempts.
        // With source = redis they are the retry sets and the dead-letter streams (Redis keeps
        // no ledger: an acknowledged entry's first attempts are in the journal alone).
        var waiting: [Waiting] = []
        var dead: [Waiting] = []
        var stored: [(queue: Spool.Queue, id: String, fire: DeferredFire)] = []
        if let redis {
            do {
                stored += try redis.retries().map { (.deferred, $0.key, $0.fire) }
                stored += try redis.deadLetters().compactMap { letter in
                    letter.fire.map { (.failed, DeadLettersCommand.handle(letter, in: redis), $0) }
                }
            } catch {
                Output.error("fires: \(error)")
                throw ExitCode.failure
            }
        } else if let spool {
            for queue in [Spool.Queue.deferred, .failed] {
                stored += ((try? spool.storedFires(in: queue)) ?? []).map { (queue, $0.id, $0.fire) }
            }
        }
        for (queue, name, fire) in stored {
            guard DeadLettersCommand.transaction(of: fire) == transaction else { continue }
            let seen = redis == nil ? "\(queue.rawValue)/\(name)" : name
            if queue == .deferred {
                waiting.append(Waiting(id: name, fire: fire, place: seen))
            } else {
                dead.append(Waiting(id: name, fire: fire, place: seen))
            }
            // Numbers are certain only when the history is whole and no requeue reset the count.
            let numbered = fire.attempts == fire.history.count
            for (i, a) in fire.history.enumerated() {
                let last = i == fire.history.count - 1
                add(Sighting(
                    postbackID: fire.postbackID, attempt: numbered ? i + 1 : nil, time: a.time,
                    outcome: queue == .failed && last ? "failed" : "deferred", outcomeImplied: true, url: a.url,
                    status: a.httpStatus, error: a.error, latency: a.latencyMicros,
                    answer: String(decoding: a.answerPrefix, as: UTF8.self), seenIn: [seen]))
            }
        }

        // The journal: every final outcome, including retries whose files are gone.
        if noJournal {
            notes.append("journal not searched (--no-journal)")
        } else {
            switch await Journal.entries(transaction: transaction) {
            case .success(let entries):
                for e in entries { add(e) }
            case .failure(let reason):
                notes.append("journal not searched: \(reason)")
            }
        }
        if redis != nil {
            notes.append("source = redis keeps no ledgers: an acknowledged entry's attempts are in the journal")
        } else if settings.doneRetention == .zero {
            notes.append("finished files are not kept (done_retention = 0); the journal has the history")
        }

        sightings.sort { ($0.time ?? .max, $0.postbackID) < ($1.time ?? .max, $1.postbackID) }
        let found = !sightings.isEmpty || !waiting.isEmpty || !dead.isEmpty
        if json {
            Output.line(jsonReport(sightings, waiting: waiting, dead: dead, notes: notes))
        } else {
            printTable(sightings, waiting: waiting, dead: dead, notes: notes)
        }
        Output.flush()
        if !found { throw ExitCode.failure }
    }

    func printTable(_ sightings: [Sighting], waiting: [Waiting], dead: [Waiting], notes: [String]) {
        if sightings.isEmpty && waiting.isEmpty && dead.isEmpty {
            Output.line("no fires found for transaction \(transaction)")
        } else {
            let fires = Set(sightings.map(\.postbackID)).union(waiting.map(\.fire.postbackID)).union(dead.map(\.fire.postbackID))
            Output.line("transaction \(transaction): \(fires.count) \(fires.count == 1 ? "fire" : "fires"), "
                + "\(sightings.count) \(sightings.count == 1 ? "attempt" : "attempts")")
            if !sightings.isEmpty {
                var rows = [["TIME", "POSTBACK", "ATTEMPT", "OUTCOME", "RESULT", "LATENCY", "SEEN IN", "URL", "ANSWER"]]
                for s in sightings {
                    rows.append([
                        s.time.map { TextTable.time(millis: $0 / 1000) } ?? "-", String(s.postbackID),
                        s.attempt.map(String.init) ?? "-", s.outcome ?? "-", s.result,
                        s.latency.map { TextTable.latency(micros: $0) } ?? "-", s.seenIn.joined(separator: ","),
                        s.url.isEmpty ? "-" : s.url, s.answer.isEmpty ? "-" : JSONText.quote(s.answer),
                    ])
                }
                TextTable.print(rows)
            }
            for w in waiting {
                Output.line("waiting: postback \(w.fire.postbackID), \(w.fire.attempts) attempts so far, next due "
                    + "\(TextTable.time(millis: w.fire.nextDue)), last error \(w.fire.lastError.isEmpty ? "-" : w.fire.lastError) (\(w.place))")
            }
            for d in dead {
                Output.line("dead letter: postback \(d.fire.postbackID), \(d.fire.attempts) attempts, failed at "
                    + "\(d.fire.failedAt.map { TextTable.time(millis: $0) } ?? "-"), last error \(d.fire.lastError.isEmpty ? "-" : d.fire.lastError) "
                    + "(requeue: postbackctl dead-letters requeue \(d.id))")
            }
        }
        for note in notes { Output.line("note: \(note)") }
    }

    func jsonReport(_ sightings: [Sighting], waiting: [Waiting], dead: [Waiting], notes: [String]) -> String {
        let attempts = sightings.map { s in
            "{\"time_us\":\(s.time.map(String.init) ?? "null"),\"postback\":\(s.postbackID),"
                + "\"attempt\":\(s.attempt.map(String.init) ?? "null"),\"outcome\":\(s.outcome.map(JSONText.quote) ?? "null"),"
                + "\"status\":\(s.status),\"error\":\(JSONText.quote(s.error)),\"latency_us\":\(s.latency.map(String.init) ?? "null"),"
                + "\"url\":\(JSONText.quote(s.url)),\"answer\":\(JSONText.quote(s.answer)),"
                + "\"seen_in\":[\(s.seenIn.map(JSONText.quote).joined(separator: ","))]}"
        }
        func fire(_ w: Waiting) -> String {
            "{\"id\":\(JSONText.quote(w.id)),\"postback\":\(w.fire.postbackID),\"attempts\":\(w.fire.attempts),"
                + "\"next_due_ms\":\(w.fire.nextDue),\"failed_at_ms\":\(w.fire.failedAt.map(String.init) ?? "null"),"
                + "\"last_error\":\(JSONText.quote(w.fire.lastError))}"
        }
        return "{\"transaction_id\":\(JSONText.quote(transaction)),\"attempts\":[\(attempts.joined(separator: ","))],"
            + "\"waiting\":[\(waiting.map(fire).joined(separator: ","))],\"dead_letters\":[\(dead.map(fire).joined(separator: ","))],"
            + "\"notes\":[\(notes.map(JSONText.quote).joined(separator: ","))]}"
    }
}
