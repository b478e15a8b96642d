import PostbackSystemd
import Testing

@Suite struct JournalFieldNameTests {
    static let cases: [(key: String, field: String)] = [
        ("postback_id", "POSTBACK_ID"),
        ("TRANSACTION_ID", "TRANSACTION_ID"),
        ("latency_us", "LATENCY_US"),
        ("http.status", "HTTP_STATUS"),
        ("partner-id", "PARTNER_ID"),
        ("message_id", "MESSAGE_ID"),
        ("_private", "PRIVATE"),
        ("__4xx", "X_4XX"),
        ("3ds", "X_3DS"),
        ("", "X_"),
        ("___", "X_"),
        ("message", "X_MESSAGE"),
        ("Priority", "X_PRIORITY"),
        ("syslog_identifier", "X_SYSLOG_IDENTIFIER"),
        ("clé", "CL_"),
        ("日本", "X_"),
        (String(repeating: "a", count: 100), String(repeating: "A", count: 64)),
        ("9" + String(repeating: "b", count: 100), "X_9" + String(repeating: "B", count: 61)),
    ]

    @Test(arguments: cases)
    func mapsMetadataKeys(key: String, field: String) {
        #expect(JournalFieldName.sanitize(key) == field)
    }

    @Test(arguments: cases)
    func everyResultIsAFieldJournaldKeeps(key: String, field: String) {
        let name = JournalFieldName.sanitize(key)
        let bytes = Array(name.utf8)
        #expect((1...64).contains(bytes.count))
        #expect(bytes.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 })
        #expect(bytes.first != UInt8(ascii: "_") && !(48...57).contains(bytes.first ?? 48))
    }
}
