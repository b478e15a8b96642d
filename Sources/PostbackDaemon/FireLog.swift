import Logging
import PostbackCore
import PostbackFiring
import PostbackSystemd

/// One journal entry per final outcome of every fire (and per retry), with the structured
/// fields an operator filters on: `journalctl POSTBACK_ID=17 TRANSACTION_ID=t-1001`.
struct FireLog: Sendable {
    let logger: Logger
    /// The logger's handler in its ordered-fields form (journald's and standard error's have
    /// one): one entry per fire is logged without a metadata dictionary.
    private let fieldsHandler: (any OrderedFieldsLogging)?

    init(logger: Logger) {
        self.logger = logger
        self.fieldsHandler = logger.orderedFieldsHandler
    }

    /// The identity of a fire, carried from dispatch to its outcome.
    struct Subject: Sendable {
        var postbackID: Int64
        var partnerID: Int64
        var offerID: Int64
        var transactionID: String
        var source: String
        var line: Int
    }

    enum Outcome: String {
        case succeeded, deferred, failed, skipped
    }

    func record(_ outcome: Outcome, _ subject: Subject, attempt: Int, result: FireResult?, detail: String) {
        let level: Logger.Level
        switch outcome {
        case .succeeded, .skipped: level = .info
        case .deferred: level = .notice
        case .failed: level = .warning
        }
        guard logger.logLevel <= level else { return }
        // In key order, as the handlers' ordered-fields form takes them (StderrLine prints keys
        // sorted); optional ones where they sort.
        var fields: [(key: String, value: String)] = []
        fields.reserveCapacity(13)
        if let result, !result.bodyPrefix.isEmpty { fields.append(("ANSWER", String(result.bodyText.prefix(128)))) }
        fields.append(("ATTEMPT", String(attempt)))
        if let result { fields.append(("HTTP_STATUS", String(result.status ?? 0))) }
        if let result { fields.append(("LATENCY_US", String(result.latency.microseconds))) }
        fields.append(("LINE", String(subject.line)))
        fields.append(("OFFER_ID", String(subject.offerID)))
        fields.append(("OUTCOME", outcome.rawValue))
        fields.append(("PARTNER_ID", String(subject.partnerID)))
        fields.append(("POSTBACK_ID", String(subject.postbackID)))
        if !detail.isEmpty { fields.append(("REASON", detail)) }
        fields.append(("SPOOL_FILE", subject.source))
        fields.append(("TRANSACTION_ID", subject.transactionID))
        if let result { fields.append(("URL", result.url)) }
        // A failure says why it failed: the last status alone can mislead. A fire refused at a
        // redirect's target (169.254.169.254, file://) ends on the partner's 302, and
        // "failed: HTTP 302" would hide the refusal from whoever reads the journal.
        let what = detail.isEmpty ? result.map { $0.status.map { "HTTP \($0)" } ?? $0.verdict.reason } ?? "" : detail
        let message = "postback \(subject.postbackID) \(outcome.rawValue) for transaction \(subject.transactionID) (attempt \(attempt)): \(what)"
        if let handler = fieldsHandler,
           handler.log(level: level, message: message, orderedFields: fields, file: #fileID, function: #function, line: #line) {
            return
        }
        logger.log(
            level: level, "\(message)",
            metadata: Logger.Metadata(uniqueKeysWithValues: fields.lazy.map { ($0.key, .string($0.value)) }))
    }
}

extension Duration {
    var microseconds: Int64 {
        components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000
    }

    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
