/// A spool file's ledger as tools read it: in `active/` (being fired) or `done/` (kept for
/// `done_retention`), every line decoded, with the spool file's bytes when asked for and the
/// file is still beside it.
public struct LedgerFile: Sendable {
    public var queue: Spool.Queue
    /// The spool file's name (not the ledger's).
    public var name: String
    public var entries: [LedgerEntry]
    /// Lines that are not entries: the torn tail of a crash, or damage. Reported, not fatal.
    public var unreadable: Int
    /// The spool file's bytes; nil when not asked for, or when it is gone (finished while we
    /// read, or removed by hand).
    public var spoolFile: [UInt8]?
}

extension Spool {
    /// Every ledger in `active/` and `done/`, by queue then name, for `postbackctl spool` and
    /// `fires`. A ledger that vanishes while listing (its file finished) is skipped.
    public func ledgers(withSpoolFiles: Bool) throws(SpoolError) -> [LedgerFile] {
        var result: [LedgerFile] = []
        for queue in [Queue.active, .done] {
            let dir = dir(queue)
            for ledgerName in try System.list(dir).sorted()
            where ledgerName.hasSuffix(ActiveFile.ledgerSuffix) && !ledgerName.hasPrefix(".") {
                guard let bytes = try readFile(dir, ledgerName, limit: .max) else { continue }
                let name = String(ledgerName.dropLast(ActiveFile.ledgerSuffix.count))
                var file = LedgerFile(queue: queue, name: name, entries: [], unreadable: 0, spoolFile: nil)
                for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
                    if let entry = LedgerEntry.decode(line) { file.entries.append(entry) } else { file.unreadable += 1 }
                }
                if withSpoolFiles { file.spoolFile = try readFile(dir, name, limit: .max) }
                result.append(file)
            }
        }
        return result
    }
}

/// What the ledgers on disk say happened, in the shape of the daemon's `--once` summary and
/// counted by the same rule (`SpoolTally.count`): a record counts once, at its first final
/// outcome.
public struct LedgerAccounting: Sendable {
    public var ledgers = 0
    public var tally = SpoolTally()
    public var unreadable = 0

    public init(_ files: [LedgerFile]) {
        for file in files {
            ledgers += 1
            unreadable += file.unreadable
            var seen: Set<Int> = []
            for entry in file.entries {
                guard let outcome = entry.outcome else { continue }
                tally.count(outcome, newRecord: seen.insert(entry.line).inserted)
            }
        }
    }
}
