import Foundation
import Logging
import PostbackSystemd
import Testing

extension SerializedAroundEnvironment {
/// Writes to the real journald and reads the entries back with journalctl.
/// In CI a missing journald fails these tests (run `.ci/start-journald.sh` first); on a
/// developer machine without one they are skipped.
@Suite(.enabled(if: journalAvailable || runningInCI, "no journald socket at \(JournalLogHandler.journalSocketPath); run .ci/start-journald.sh as root"))
struct JournalLogHandlerTests {
    @Test func fieldsPriorityAndIdentifierReachTheJournal() throws {
        try requireJournal()
        let transaction = "test-\(UUID().uuidString)"
        var logger = Logger(label: "journal-test") { _ in JournalLogHandler(identifier: "postbackd") }
        logger[metadataKey: "partner_id"] = "7"
        struct Refused: Error, CustomStringConvertible { var description: String { "address refused" } }

        logger.warning(
            "fire deferred",
            error: Refused(),
            metadata: [
                "postback_id": "17", "offer_id": "3", "transaction_id": "\(transaction)",
                "http_status": "503", "attempt": .stringConvertible(2), "latency_us": "48211",
                "outcome": "deferred", "detail": "first line\nsecond line",
            ])

        let entry = try #require(try readEntries(transactionID: transaction, count: 1).first)
        #expect(entry["MESSAGE"] as? String == "fire deferred")
        #expect(entry["PRIORITY"] as? String == "4")
        #expect(entry["SYSLOG_IDENTIFIER"] as? String == "postbackd")
        #expect(entry["POSTBACK_ID"] as? String == "17")
        #expect(entry["PARTNER_ID"] as? String == "7")
        #expect(entry["OFFER_ID"] as? String == "3")
        #expect(entry["TRANSACTION_ID"] as? String == transaction)
        #expect(entry["HTTP_STATUS"] as? String == "503")
        #expect(entry["ATTEMPT"] as? String == "2")
        #expect(entry["LATENCY_US"] as? String == "48211")
        #expect(entry["OUTCOME"] as? String == "deferred")
        #expect(entry["DETAIL"] as? String == "first line\nsecond line")
        #expect(entry["ERROR"] as? String == "address refused")
        #expect((entry["CODE_FILE"] as? String)?.hasSuffix("JournalLogHandlerTests.swift") == true)
        #expect(entry["CODE_FUNC"] as? String != nil)
        #expect(Int(entry["CODE_LINE"] as? String ?? "") != nil)
    }

    @Test func everyLevelGetsItsSyslogPriority() throws {
        try requireJournal()
        let transaction = "test-\(UUID().uuidString)"
        var logger = Logger(label: "journal-test") { _ in JournalLogHandler(identifier: "postbackd") }
        logger.logLevel = .trace
        logger[metadataKey: "transaction_id"] = "\(transaction)"
        let expected: [(Logger.Level, String)] = [
            (.trace, "7"), (.debug, "7"), (.info, "6"), (.notice, "5"), (.warning, "4"), (.error, "3"),
            (.critical, "2"),
        ]
        for (level, _) in expected { logger.log(level: level, "\(level)") }

        let entries = try readEntries(transactionID: transaction, count: expected.count)
        let priorities = Dictionary(
            entries.map { ($0["MESSAGE"] as? String ?? "", $0["PRIORITY"] as? String ?? "") },
            uniquingKeysWith: { first, _ in first })
        for (level, priority) in expected {
            #expect(priorities[level.rawValue] == priority, "\(level)")
        }
    }

    private func requireJournal() throws {
        try #require(
            journalAvailable,
            "CI=true but no journald socket at \(JournalLogHandler.journalSocketPath): CI must run .ci/start-journald.sh before swift test")
    }

    /// Polls journalctl for up to ten seconds: journald writes asynchronously.
    /// The form FireLog logs each fire's outcome in: the same fields reach the journal as
    /// through `Logger`, and a handler with metadata of its own declines it (nothing is sent).
    @Test func orderedFieldsReachTheJournalAndAHandlerWithMetadataDeclines() throws {
        try requireJournal()
        let transaction = "test-\(UUID().uuidString)"
        let handler = JournalLogHandler(identifier: "postbackd")
        let sent = handler.log(
            level: .notice, message: "postback 17 deferred",
            orderedFields: [("ATTEMPT", "2"), ("POSTBACK_ID", "17"), ("TRANSACTION_ID", transaction), ("url", "http://p.test/?a=1")],
            file: #fileID, function: #function, line: #line)
        #expect(sent)
        var withMetadata = JournalLogHandler(identifier: "postbackd")
        withMetadata[metadataKey: "partner_id"] = "7"
        #expect(!withMetadata.log(
            level: .notice, message: "declined", orderedFields: [("TRANSACTION_ID", transaction)],
            file: #fileID, function: #function, line: #line))

        let entries = try readEntries(transactionID: transaction, count: 1)
        #expect(entries.count == 1)
        let entry = try #require(entries.first)
        #expect(entry["MESSAGE"] as? String == "postback 17 deferred")
        #expect(entry["PRIORITY"] as? String == "5")
        #expect(entry["ATTEMPT"] as? String == "2")
        #expect(entry["POSTBACK_ID"] as? String == "17")
        #expect(entry["URL"] as? String == "http://p.test/?a=1")
        #expect(entry["CODE_FILE"] as? String == "PostbackSystemdTests/JournalLogHandlerTests.swift")
    }

    private func readEntries(transactionID: String, count: Int) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(10)
        var entries: [[String: Any]] = []
        var lastError = ""
        while Date() < deadline {
            let result = try run(["journalctl", "--no-pager", "-o", "json", "TRANSACTION_ID=\(transactionID)"])
            lastError = result.standardError
            entries = result.standardOutput.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }
            if entries.count >= count { return entries }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("journalctl found \(entries.count) of \(count) entries for \(transactionID) in 10 s; stderr: \(lastError)")
        return entries
    }
}

}

let journalAvailable = JournalLogHandler.detectDestination() == .journal
