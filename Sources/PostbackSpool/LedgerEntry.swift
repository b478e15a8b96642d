import Foundation

/// One ledger line: the one codec of `active/NAME.ledger`, written by `ActiveFile`, replayed
/// by `LedgerReplay` and read whole by `postbackctl spool|fires` (through `Spool.ledgers()`).
///
/// On disk, one JSON object per line, the key prefix always first and in this order:
/// `{"line":L,"pb":P,"outcome":"succeeded|deferred|failed|no_match|rejected|attempt"` then,
/// when something was sent, the attempt (`t` µs, `url`, `status`, `error`, `latency_us`,
/// `answer`), then `reason` when it says more than the attempt's error, and `next_due_ms`
/// for a deferral. Replay reads only the fixed prefix (no JSON parser on a restart); tools
/// decode the whole line.
public struct LedgerEntry: Sendable, Equatable {
    public var line: Int
    /// 0 for record-level outcomes (`no_match`, `rejected`).
    public var postbackID: Int64
    /// nil for `attempt`: history only, not final (replay fires it again).
    public var outcome: FireOutcome?
    /// What was sent and answered; nil when nothing was sent.
    public var attempt: FireAttempt?
    /// Why, when it is not the attempt's own error (an open breaker, a rejected line's reason).
    public var reason: String?
    /// A deferral's next attempt, Unix ms.
    public var nextDue: Int64?

    public init(line: Int, postbackID: Int64, outcome: FireOutcome?, attempt: FireAttempt? = nil,
                reason: String? = nil, nextDue: Int64? = nil) {
        self.line = line
        self.postbackID = postbackID
        self.outcome = outcome
        self.attempt = attempt
        self.reason = reason
        self.nextDue = nextDue
    }

    /// True when a restart does not send this fire (or record) again.
    public var isFinal: Bool { outcome != nil }

    /// The word in the `outcome` field.
    public var outcomeName: String { outcome?.name ?? LedgerEntry.attemptWord }

    static let attemptWord = "attempt"

    // MARK: writing (the daemon's hot path: no Foundation, no intermediate strings)

    /// Appends one line. `reason` is written only when non-empty and not the attempt's error.
    @inline(__always)
    static func append(line: Int, postbackID: Int64, outcome: FireOutcome?, attempt: FireAttempt?,
                       reason: String, nextDue: Int64?, answerLimit: Int, to out: inout JSONBytes) {
        out.raw("{\"line\":"); out.int(line)
        out.raw(",\"pb\":"); out.int(postbackID)
        out.raw(",\"outcome\":\"")
        if let outcome { outcome.name.utf8.withContiguousStorageIfAvailable { out.bytes.append(contentsOf: $0) } }
        else { out.raw("attempt") }
        out.raw("\"")
        if let attempt {
            out.raw(",\"t\":"); out.int(attempt.time)
            out.raw(",\"url\":"); out.string(attempt.url)
            out.raw(",\"status\":"); out.int(attempt.httpStatus)
            if !attempt.error.isEmpty { out.raw(",\"error\":"); out.string(attempt.error) }
            out.raw(",\"latency_us\":"); out.int(attempt.latencyMicros)
            if !attempt.answerPrefix.isEmpty {
                out.raw(",\"answer\":"); out.string(bytes: attempt.answerPrefix, limit: answerLimit)
            }
        }
        if !reason.isEmpty, reason != attempt?.error { out.raw(",\"reason\":"); out.string(reason) }
        if let nextDue { out.raw(",\"next_due_ms\":"); out.int(nextDue) }
        out.raw("}\n")
    }

    // MARK: reading

    /// The fixed prefix only, for replay: nil when the line is not an entry; `(key, nil)` for a
    /// history-only attempt.
    static func key(of line: ArraySlice<UInt8>) -> (FireKey, FireOutcome?)? {
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
        if word.elementsEqual(attemptWord.utf8) { return (key, nil) }
        guard let outcome = FireOutcome(name: word) else { return nil }
        return (key, outcome)
    }

    /// The whole line, for tools; nil when it is not an entry (a torn tail, damage).
    public static func decode(_ line: some Collection<UInt8>) -> LedgerEntry? {
        try? JSONDecoder().decode(LedgerEntry.self, from: Data(line))
    }
}

extension LedgerEntry: Decodable {
    enum CodingKeys: String, CodingKey {
        case line, pb, outcome, t, reason, nextDue = "next_due_ms"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        line = try c.decode(Int.self, forKey: .line)
        postbackID = try c.decode(Int64.self, forKey: .pb)
        let word = try c.decode(String.self, forKey: .outcome)
        if word == LedgerEntry.attemptWord {
            outcome = nil
        } else if let known = FireOutcome(name: word.utf8) {
            outcome = known
        } else {
            throw DecodingError.dataCorruptedError(forKey: .outcome, in: c, debugDescription: "unknown outcome \(word)")
        }
        // The attempt's fields sit beside the key prefix, in FireAttempt's own spelling.
        attempt = c.contains(.t) ? try FireAttempt(from: decoder) : nil
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
        nextDue = try c.decodeIfPresent(Int64.self, forKey: .nextDue)
    }
}
