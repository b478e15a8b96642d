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

    /// Reads a ledger's bytes. Only the fixed prefix `{"line":L,"pb":P,"outcome":"X"` of each
    /// line is parsed: the writer always puts those first, so replay needs no JSON parser.
    public init(bytes: [UInt8]) {
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                tornBytes = bytes.count - start
                break
            }
            if newline > start {
                if let (key, outcome) = LedgerReplay.parse(bytes[start..<newline]) {
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

    /// nil when the line is not an entry; `(key, nil)` for a history-only attempt.
    static func parse(_ line: ArraySlice<UInt8>) -> (FireKey, FireOutcome?)? {
        var rest = line[...]
        func expect(_ literal: StaticString) -> Bool {
            let matched = literal.withUTF8Buffer { lit in rest.starts(with: lit) }
            if matched { rest = rest.dropFirst(literal.utf8CodeUnitCount) }
            return matched
        }
        func number() -> Int64? {
            let digits = rest.prefix { $0 >= 0x30 && $0 <= 0x39 }
            guard !digits.isEmpty, digits.count <= 18 else { return nil }
            rest = rest.dropFirst(digits.count)
            return digits.reduce(0) { $0 * 10 + Int64($1 - 0x30) }
        }
        guard expect("{\"line\":"), let lineNumber = number(),
              expect(",\"pb\":"), let postbackID = number(),
              expect(",\"outcome\":\"") else { return nil }
        let word = rest.prefix { $0 != UInt8(ascii: "\"") }
        rest = rest.dropFirst(word.count)
        guard expect("\""), rest.last == UInt8(ascii: "}") else { return nil }
        let key = FireKey(line: Int(lineNumber), postbackID: postbackID)
        if word.elementsEqual("attempt".utf8) { return (key, nil) }
        guard let outcome = FireOutcome(name: word) else { return nil }
        return (key, outcome)
    }
}
