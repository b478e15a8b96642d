import ArgumentParser
import PostbackCore
import PostbackSpool

/// `postbackctl spool`: how full each queue is, how old its oldest item, and what the ledgers
/// on disk say happened; the first thing to look at when fires seem late.
struct SpoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Queue counts, oldest ages and an accounting of the ledgers on disk (or Redis's queues).",
        discussion: """
            One line per queue (incoming, active, deferred, failed, bad, done) with its count
            and the age of its oldest item, then one accounting line counting the outcomes in
            the ledgers of active/ and done/ (records = fired + no_match + rejected; fires =
            succeeded + deferred + failed). The spool is --spool, else the one in the config
            file. Exit 0, or 1 when the spool or config cannot be read.

            With source = redis in the config (and no --spool), the queues are Redis's: one
            block per stream of redis_stream, headed `stream <name> (group <group>)`.
            incoming = entries not yet delivered to the group (its lag; oldest from the entry
            id), active = delivered and not acknowledged (XPENDING), deferred = the sorted
            sets <prefix>:retries and :retries:taken (oldest since a retry's last attempt),
            failed = the <prefix>:dead-letters stream, bad = <prefix>:rejected. There is no
            done queue and no ledger accounting: acknowledged entries are done and the
            journal has the history. --json gives {"source":"redis","group":...,"streams":
            [{"stream":...,"queues":{...}}]}. Exit 1 when Redis cannot be reached.

            Example: postbackctl spool --config /etc/postbackd/postbackd.conf
            """)

    @OptionGroup var location: SpoolOptions

    @Flag(help: "One JSON object, for scripts and alerts.")
    var json = false

    /// Unix milliseconds to measure ages from; tests pin it so ages are exact.
    @Option(help: .hidden)
    var now: Int64?

    func run() throws {
        let settings = try location.settings()
        let now = self.now ?? SpoolTime.unixMillis()
        if let redis = location.redis(settings) { return try runRedis(redis, now: now) }
        let spool = try location.open(settings)
        let status: SpoolStatus
        do {
            status = try spool.status(now: now)
        } catch {
            Output.error("spool: \(error)")
            throw ExitCode.failure
        }
        let accounting = LedgerAccounting((try? spool.ledgers(withSpoolFiles: false)) ?? [])
        if json {
            Output.line(Self.json(status, accounting, root: spool.root))
        } else {
            for line in Self.table(status, accounting, doneRetention: settings.doneRetention) { Output.line(line) }
        }
        Output.flush()
    }

    static func table(_ s: SpoolStatus, _ a: LedgerAccounting, doneRetention: Duration) -> [String] {
        func row(_ name: String, _ q: SpoolStatus.Queue, _ note: String = "") -> [String] {
            let cells = [name, String(q.count), TextTable.age(seconds: q.oldestAgeSeconds, empty: q.count == 0)]
            return note.isEmpty ? cells : cells + [note]
        }
        var rows = [["QUEUE", "COUNT", "OLDEST"]]
        rows.append(row("incoming", s.incoming))
        rows.append(row("active", s.active, s.activeFires.count > 0 ? "+\(s.activeFires.count) deferred fires being retried" : ""))
        rows.append(row("deferred", s.deferred, s.deferred.count > 0 ? "\(s.deferredDue) due" : ""))
        rows.append(row("failed", s.failed, s.failed.count > 0 ? "dead letters: postbackctl dead-letters list" : ""))
        rows.append(row("bad", s.bad))
        rows.append(row("done", s.done))
        var lines = TextTable.lines(rows)
        let t = a.tally
        if a.ledgers == 0 {
            lines.append("accounting: no ledgers in active/ or done/"
                + (doneRetention == .zero ? " (finished files are not kept: done_retention = 0; the journal has the history)" : ""))
        } else {
            lines.append("accounting: \(t.records) records (\(t.recordsFired) fired, \(t.noMatch) no_match, \(t.rejected) rejected), "
                + "\(t.fires) fires (\(t.succeeded) succeeded, \(t.deferred) deferred, \(t.failed) failed) "
                + "in \(a.ledgers) \(a.ledgers == 1 ? "ledger" : "ledgers") of active/ and done/"
                + (a.unreadable > 0 ? "; \(a.unreadable) unreadable ledger lines" : ""))
        }
        return lines
    }

    static func json(_ s: SpoolStatus, _ a: LedgerAccounting, root: String) -> String {
        func queue(_ q: SpoolStatus.Queue, _ extra: String = "") -> String {
            "{\"count\":\(q.count),\"oldest_age_seconds\":\(TextTable.number(q.oldestAgeSeconds))\(extra)}"
        }
        let t = a.tally
        return "{\"spool\":\(JSONText.quote(root)),\"queues\":{"
            + "\"incoming\":\(queue(s.incoming)),"
            + "\"active\":\(queue(s.active, ",\"deferred_fires\":\(s.activeFires.count)")),"
            + "\"deferred\":\(queue(s.deferred, ",\"due\":\(s.deferredDue)")),"
            + "\"failed\":\(queue(s.failed)),\"bad\":\(queue(s.bad)),\"done\":\(queue(s.done))},"
            + "\"accounting\":{\"ledgers\":\(a.ledgers),\"records\":\(t.records),\"records_fired\":\(t.recordsFired),"
            + "\"no_match\":\(t.noMatch),\"rejected\":\(t.rejected),\"fires\":\(t.fires),\"succeeded\":\(t.succeeded),"
            + "\"deferred\":\(t.deferred),\"failed\":\(t.failed),\"unreadable_lines\":\(a.unreadable)}}"
    }
}
