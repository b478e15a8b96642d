import Foundation
import PostbackTestSupport
import Testing

@Suite("Every final outcome is in the journal with its fields")
struct JournalTests {
    static let journalSocket = "/run/systemd/journal/socket"

    @Test func outcomesCarryTheFieldsOperatorsFilterOn() async throws {
        guard FileManager.default.fileExists(atPath: Self.journalSocket) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("no journald at \(Self.journalSocket): CI must run scripts/setup.sh (which starts one) before swift test")
            } else {
                print("skipped: no journald running; scripts/setup.sh starts one")
            }
            return
        }
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (41, 7, 3, "specific", "\(sink.base)/status/204?click={sub1}&t={transaction_id}"),
            (42, 7, 3, "specific", "\(sink.base)/status/410?click={sub1}&t={transaction_id}"),
        ]), settings: ["log_target": "journal"])
        let transaction = "journal-\(UUID().uuidString)"
        try fixture.drop("j.jsonl", conversion(transaction, partner: 7, offer: 3) + "\n")
        let (summary, result) = try fixture.runOnce()
        #expect(result.status == 0 && summary["succeeded"] == 1 && summary["failed"] == 1)

        var entries: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(10)
        while entries.count < 2 && Date() < deadline {
            let out = try ProcessRunner.runSystem(["journalctl", "-o", "json", "--no-pager", "TRANSACTION_ID=\(transaction)"])
            entries = out.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            if entries.count < 2 { usleep(100_000) }
        }
        let byPostback = Dictionary(entries.map { ($0["POSTBACK_ID"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        let ok = try #require(byPostback["41"])
        #expect(ok["OUTCOME"] as? String == "succeeded")
        #expect(ok["HTTP_STATUS"] as? String == "204")
        #expect(ok["PARTNER_ID"] as? String == "7" && ok["OFFER_ID"] as? String == "3" && ok["ATTEMPT"] as? String == "1")
        #expect(Int(ok["LATENCY_US"] as? String ?? "") != nil)
        #expect(ok["PRIORITY"] as? String == "6" && ok["SYSLOG_IDENTIFIER"] as? String == "postbackd")
        let gone = try #require(byPostback["42"])
        #expect(gone["OUTCOME"] as? String == "failed" && gone["HTTP_STATUS"] as? String == "410")
        #expect(gone["PRIORITY"] as? String == "4")
    }
}
