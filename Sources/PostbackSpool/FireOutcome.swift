/// The final word on a fire (or, for `noMatch` and `rejected`, on a whole record).
///
/// Final means: after a restart this fire is not sent again. `deferred` is final for the
/// active file because the fire now lives in `deferred/`; `failed` because it lives in `failed/`.
public enum FireOutcome: UInt8, Sendable, CaseIterable {
    case succeeded, deferred, failed, noMatch, rejected

    /// The word in the ledger and in the journal's OUTCOME field.
    public var name: String {
        switch self {
        case .succeeded: return "succeeded"
        case .deferred: return "deferred"
        case .failed: return "failed"
        case .noMatch: return "no_match"
        case .rejected: return "rejected"
        }
    }

    init?(name: some Collection<UInt8>) {
        guard let match = FireOutcome.allCases.first(where: { $0.name.utf8.elementsEqual(name) }) else { return nil }
        self = match
    }
}

/// One HTTP attempt, as history: enough to answer "what did partner P say about T, and when?".
public struct FireAttempt: Sendable, Equatable, Codable {
    /// When the request was sent, Unix microseconds.
    public var time: Int64
    /// The URL exactly as sent (macros expanded, encoded).
    public var url: String
    /// The HTTP status, or 0 when there was no answer.
    public var httpStatus: Int
    /// The transport error or refusal, empty when the partner answered.
    public var error: String
    public var latencyMicros: Int64
    /// The first bytes of the answer; the spool keeps at most `answerPrefixBytes`.
    public var answerPrefix: [UInt8]

    public init(time: Int64, url: String, httpStatus: Int, error: String = "", latencyMicros: Int64, answerPrefix: [UInt8] = []) {
        self.time = time
        self.url = url
        self.httpStatus = httpStatus
        self.error = error
        self.latencyMicros = latencyMicros
        self.answerPrefix = answerPrefix
    }

    enum CodingKeys: String, CodingKey {
        case time = "t", url, httpStatus = "status", error, latencyMicros = "latency_us", answerPrefix = "answer"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        time = try c.decode(Int64.self, forKey: .time)
        url = try c.decode(String.self, forKey: .url)
        httpStatus = try c.decodeIfPresent(Int.self, forKey: .httpStatus) ?? 0
        error = try c.decodeIfPresent(String.self, forKey: .error) ?? ""
        latencyMicros = try c.decodeIfPresent(Int64.self, forKey: .latencyMicros) ?? 0
        answerPrefix = Array((try c.decodeIfPresent(String.self, forKey: .answerPrefix) ?? "").utf8)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(time, forKey: .time)
        try c.encode(url, forKey: .url)
        try c.encode(httpStatus, forKey: .httpStatus)
        if !error.isEmpty { try c.encode(error, forKey: .error) }
        try c.encode(latencyMicros, forKey: .latencyMicros)
        // Lossy on purpose: a preview for people, with invalid UTF-8 replaced.
        if !answerPrefix.isEmpty { try c.encode(String(decoding: answerPrefix, as: UTF8.self), forKey: .answerPrefix) }
    }
}
