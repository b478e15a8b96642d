import Foundation
import PostbackCore
import PostbackSpool

/// One ledger entry as `ActiveFile` writes it: `{"line":L,"pb":P,"outcome":"…","t":µs,…}`.
///
/// Decoded with Foundation rather than `LedgerReplay`, which reads only the fixed prefix it
/// needs for a restart; an operator wants the attempt too (URL, status, answer).
struct LedgerEntry: Decodable, Sendable {
    var line: Int
    var pb: Int64
    /// succeeded, deferred, failed, no_match, rejected, or attempt (history only, not final).
    var outcome: String
    var t: Int64?
    var url: String?
    var status: Int?
    var error: String?
    var latencyUs: Int64?
    var answer: String?
    var reason: String?
    var nextDueMs: Int64?

    enum CodingKeys: String, CodingKey {
        case line, pb, outcome, t, url, status, error, latencyUs = "latency_us", answer, reason, nextDueMs = "next_due_ms"
    }

    var isFinal: Bool { outcome != "attempt" }
    var isFire: Bool { outcome == "succeeded" || outcome == "deferred" || outcome == "failed" }
}

/// A spool file's ledger, in `active/` (being fired) or `done/` (kept for `done_retention`),
/// with the spool file's records when the file is still beside it.
struct LedgerFile: Sendable {
    var queue: Spool.Queue
    /// The spool file's name; the ledger is `NAME.ledger`.
    var name: String
    var entries: [LedgerEntry]
    /// Lines that are not entries: the torn tail of a crash, or damage. Reported, not fatal.
    var unreadable: Int
    /// Line number → transaction id, for lines of the spool file that are records; empty when
    /// the spool file is gone (finished while we read, or removed by hand).
    var transactions: [Int: String]
    var hasSpoolFile: Bool

    /// Every ledger in `active/` and `done/`, by queue then name.
    static func all(in spool: Spool, withRecords: Bool) -> [LedgerFile] {
        var result: [LedgerFile] = []
        for queue in [Spool.Queue.active, .done] {
            let dir = spool.path(of: queue)
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
            for ledgerName in names where ledgerName.hasSuffix(".ledger") && !ledgerName.hasPrefix(".") {
                guard let bytes = FileManager.default.contents(atPath: dir + "/" + ledgerName) else { continue }
                let name = String(ledgerName.dropLast(".ledger".count))
                var file = LedgerFile(queue: queue, name: name, entries: [], unreadable: 0, transactions: [:], hasSpoolFile: false)
                let decoder = JSONDecoder()
                for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
                    if let entry = try? decoder.decode(LedgerEntry.self, from: Data(line)) {
                        file.entries.append(entry)
                    } else {
                        file.unreadable += 1
                    }
                }
                if withRecords, let contents = FileManager.default.contents(atPath: dir + "/" + name) {
                    file.hasSpoolFile = true
                    RecordParser.parseLines([UInt8](contents)) { line, result in
                        if case .success(let record) = result { file.transactions[line] = record.transactionID }
                    }
                }
                result.append(file)
            }
        }
        return result
    }
}

/// What the ledgers on disk say happened, in the shape of the daemon's `--once` summary and
/// with the same rules (`SpoolTally`): a record counts once, at its first final outcome.
struct LedgerAccounting: Sendable {
    var ledgers = 0
    var tally = SpoolTally()
    var unreadable = 0

    init(_ files: [LedgerFile]) {
        for file in files {
            ledgers += 1
            unreadable += file.unreadable
            var seen: Set<Int> = []
            for entry in file.entries where entry.isFinal {
                let newRecord = seen.insert(entry.line).inserted
                if newRecord { tally.records += 1 }
                switch entry.outcome {
                case "no_match": tally.noMatch += 1
                case "rejected": tally.rejected += 1
                default:
                    if newRecord { tally.recordsFired += 1 }
                    tally.fires += 1
                    if entry.outcome == "succeeded" { tally.succeeded += 1 }
                    else if entry.outcome == "deferred" { tally.deferred += 1 }
                    else { tally.failed += 1 }
                }
            }
        }
    }
}
