import Foundation

/// A fire waiting for a later attempt, or (with `failedAt`) a dead letter.
///
/// It carries its raw record line rather than a reference to its spool file, because the
/// spool file is finished (removed) as soon as every fire in it has an outcome; a deferred
/// fire must be re-resolvable and re-expandable on its own, possibly by another daemon.
public struct DeferredFire: Sendable, Equatable, Codable {
    /// `deferred/NAME.fire` (also while taken, in `active/`).
    static let fileSuffix = ".fire"
    /// `failed/NAME.json`.
    static let deadLetterSuffix = ".json"

    /// The spool file the record came from, for history and logs.
    public var source: String
    /// The record's 1-based line in `source`.
    public var line: Int
    public var postbackID: Int64
    /// The record's raw line bytes, parsed again when the fire is retried.
    public var record: [UInt8]
    /// Attempts made so far (the retry budget counts these).
    public var attempts: Int
    /// Unix milliseconds of the first attempt (the 24 h budget counts from here).
    public var firstAttempt: Int64
    /// Unix milliseconds when the next attempt is due.
    public var nextDue: Int64
    public var lastError: String
    /// The latest attempts, oldest first, bounded by `SpoolConfiguration.historyLimit`.
    public var history: [FireAttempt]
    /// Unix milliseconds when the fire was dead-lettered; nil while it is still deferred.
    public var failedAt: Int64?

    public init(source: String, line: Int, postbackID: Int64, record: [UInt8], attempts: Int,
                firstAttempt: Int64, nextDue: Int64, lastError: String, history: [FireAttempt] = [],
                failedAt: Int64? = nil) {
        self.source = source
        self.line = line
        self.postbackID = postbackID
        self.record = record
        self.attempts = attempts
        self.firstAttempt = firstAttempt
        self.nextDue = nextDue
        self.lastError = lastError
        self.history = history
        self.failedAt = failedAt
    }

    /// Adds an attempt to the history, dropping the oldest past `limit`.
    public mutating func remember(_ attempt: FireAttempt?, limit: Int, answerLimit: Int) {
        guard var attempt else { return }
        if attempt.answerPrefix.count > answerLimit { attempt.answerPrefix = Array(attempt.answerPrefix.prefix(answerLimit)) }
        history.append(attempt)
        if history.count > limit { history.removeFirst(history.count - limit) }
    }

    /// The fire an operator sends back from the dead letters: due `now`, with a fresh attempt
    /// budget (the partner fixed their endpoint; the old attempts say nothing about the new
    /// one), its history kept for whoever looks at it later. One rule for the spool's
    /// `failed/` and Redis's dead-letter stream.
    public func requeued(now: Int64) -> DeferredFire {
        var fire = self
        fire.attempts = 0
        fire.firstAttempt = now
        fire.nextDue = now
        fire.failedAt = nil
        return fire
    }

    enum CodingKeys: String, CodingKey {
        case source, line, postbackID = "postback_id", record, recordBase64 = "record_base64"
        case attempts, firstAttempt = "first_attempt_ms", nextDue = "next_due_ms"
        case lastError = "last_error", history, failedAt = "failed_at_ms"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try c.decode(String.self, forKey: .source)
        line = try c.decode(Int.self, forKey: .line)
        postbackID = try c.decode(Int64.self, forKey: .postbackID)
        if let text = try c.decodeIfPresent(String.self, forKey: .record) {
            record = Array(text.utf8)
        } else {
            let encoded = try c.decode(String.self, forKey: .recordBase64)
            guard let data = Data(base64Encoded: encoded) else {
                throw DecodingError.dataCorruptedError(forKey: .recordBase64, in: c, debugDescription: "not base64")
            }
            record = Array(data)
        }
        attempts = try c.decode(Int.self, forKey: .attempts)
        firstAttempt = try c.decode(Int64.self, forKey: .firstAttempt)
        nextDue = try c.decode(Int64.self, forKey: .nextDue)
        lastError = try c.decodeIfPresent(String.self, forKey: .lastError) ?? ""
        history = try c.decodeIfPresent([FireAttempt].self, forKey: .history) ?? []
        failedAt = try c.decodeIfPresent(Int64.self, forKey: .failedAt)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(source, forKey: .source)
        try c.encode(line, forKey: .line)
        try c.encode(postbackID, forKey: .postbackID)
        // Readable when it is text (almost always); base64 keeps any other bytes exact.
        if let text = String(validating: record, as: UTF8.self) {
            try c.encode(text, forKey: .record)
        } else {
            try c.encode(Data(record).base64EncodedString(), forKey: .recordBase64)
        }
        try c.encode(attempts, forKey: .attempts)
        try c.encode(firstAttempt, forKey: .firstAttempt)
        try c.encode(nextDue, forKey: .nextDue)
        try c.encode(lastError, forKey: .lastError)
        try c.encode(history, forKey: .history)
        try c.encodeIfPresent(failedAt, forKey: .failedAt)
    }

    /// The JSON of a `deferred/` or `failed/` file (and of a retry kept elsewhere).
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        return Array(try! encoder.encode(self)) + [UInt8(ascii: "\n")]
    }

    public static func decode(_ bytes: [UInt8], path: String) throws(SpoolError) -> DeferredFire {
        do {
            return try JSONDecoder().decode(DeferredFire.self, from: Data(bytes))
        } catch {
            throw SpoolError(code: .corrupt, operation: "decode", path: path, detail: "not a deferred fire: \(error)")
        }
    }

    /// `deferred/` names start with the due time, zero-padded, so the queue can be listed by
    /// due time without opening a file.
    func deferredFileName() -> String {
        let due = String(max(0, nextDue))
        return String(repeating: "0", count: max(0, 15 - due.utf8.count)) + due + "-" + UniqueName.make() + DeferredFire.fileSuffix
    }

    static func due(fromFileName name: String) -> Int64? {
        guard name.hasSuffix(fileSuffix), let dash = name.firstIndex(of: "-") else { return nil }
        return Int64(name[..<dash])
    }

    func deadLetterFileName() -> String {
        "\(failedAt ?? 0)-\(UniqueName.make())" + DeferredFire.deadLetterSuffix
    }
}
