import Logging
import PostbackCore
import PostbackFiring

/// One journal entry per final outcome of every fire (and per retry), with the structured
/// fields an operator filters on: `journalctl POSTBACK_ID=17 TRANSACTION_ID=t-1001`.
struct FireLog: Sendable {
    let logger: Logger

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
        var metadata: Logger.Metadata = [
            "POSTBACK_ID": "\(subject.postbackID)",
            "PARTNER_ID": "\(subject.partnerID)",
            "OFFER_ID": "\(subject.offerID)",
            "TRANSACTION_ID": .string(subject.transactionID),
            "ATTEMPT": "\(attempt)",
            "OUTCOME": .string(outcome.rawValue),
            "SPOOL_FILE": .string(subject.source),
            "LINE": "\(subject.line)",
        ]
        if let result {
            metadata["URL"] = .string(result.url)
            metadata["HTTP_STATUS"] = "\(result.status ?? 0)"
            metadata["LATENCY_US"] = "\(result.latency.microseconds)"
            if !result.bodyPrefix.isEmpty { metadata["ANSWER"] = .string(String(result.bodyText.prefix(128))) }
        }
        if !detail.isEmpty { metadata["REASON"] = .string(detail) }
        // A failure says why it failed: the last status alone can mislead. A fire refused at a
        // redirect's target (169.254.169.254, file://) ends on the partner's 302, and
        // "failed: HTTP 302" would hide the refusal from whoever reads the journal.
        let what = detail.isEmpty ? result.map { $0.status.map { "HTTP \($0)" } ?? $0.verdict.reason } ?? "" : detail
        logger.log(
            level: level,
            "postback \(subject.postbackID) \(outcome.rawValue) for transaction \(subject.transactionID) (attempt \(attempt)): \(what)",
            metadata: metadata)
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
