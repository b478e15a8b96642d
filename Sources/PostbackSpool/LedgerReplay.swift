/// One fire's identity within an active file. Record-level outcomes (`no_match`, `rejected`)
/// use `postbackID` 0, which no catalog postback has.
public struct FireKey: Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var postbackID: Int64

    public init(line: Int, postbackID: Int64) {
        self.line = line
        self.postbackID = postbackID
    }

    public var description: String { "line \(line) postback \(postbackID)" }
}

/// What a ledger says is already done, so a restarted daemon fires only the rest.
public struct LedgerReplay: Sendable, Equatable {
    /// Fires and records with a final outcome.
    public private(set) var finished: Set<FireKey> = []
    /// Lines with at least one final outcome (for the record count and `finish` checks).
    public private(set) var lines: Set<Int> = []
    /// Bytes after the last newline: a write torn by a crash, ignored.
    public private(set) var tornBytes = 0
    /// Complete lines that are not ledger entries (should be 0; reported, never fatal).
    public private(set) var unreadableLines = 0
    /// Entries read, including history-only attempts.
    public private(set) var entries = 0

    public init() {}

    /// Reads a ledger's bytes. Only the fixed prefix of each line is parsed
    /// (`LedgerEntry.key(of:)`): the writer always puts it first, so replay needs no JSON parser.
    public init(bytes: [UInt8]) {
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                tornBytes = bytes.count - start
                break
            }
            if newline > start {
                if let (key, outcome) = LedgerEntry.key(of: bytes[start..<newline]) {
                    entries += 1
                    if let outcome { insert(key, outcome) }
                } else {
                    unreadableLines += 1
                }
            }
            start = newline + 1
        }
    }

    /// True when this fire must not be sent again: it, or its whole record, has an outcome.
    public func hasOutcome(line: Int, postbackID: Int64) -> Bool {
        finished.contains(FireKey(line: line, postbackID: postbackID))
            || finished.contains(FireKey(line: line, postbackID: 0))
    }

    mutating func insert(_ key: FireKey, _ outcome: FireOutcome) {
        finished.insert(key)
        lines.insert(key.line)
    }
}
