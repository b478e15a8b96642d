import Testing
@testable import PostbackCore

@Suite("Records: JSON Lines, each bad line rejected alone")
struct RecordParserTests {
    static func reason(_ line: String) -> String? {
        if case .failure(let f) = RecordParser.parse(line: line) { return f.message }
        return nil
    }

    @Test(arguments: [
        (#"{"transaction_id":"t","partner_id":7,"offer_id":3}"#, "kind: missing (conversion, event or click)"),
        (#"{"kind":"conversion","partner_id":7,"offer_id":3}"#, "transaction_id: missing"),
        (#"{"kind":"conversion","transaction_id":"t","offer_id":3}"#, "partner_id: missing"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":7}"#, "offer_id: missing"),
        (#"{"kind":"event","transaction_id":"t","partner_id":7,"offer_id":3}"#, "event_id: missing (required for events)"),
        (#"{"kind":"sale","transaction_id":"t","partner_id":7,"offer_id":3}"#, "kind: \"sale\" is not one of conversion, event, click"),
        (#"{"kind":1,"transaction_id":"t","partner_id":7,"offer_id":3}"#, "kind: expected a string, got a number (1)"),
        (#"{"kind":"conversion","transaction_id":"","partner_id":7,"offer_id":3}"#, "transaction_id: is empty"),
        (#"{"kind":"conversion","transaction_id":12,"partner_id":7,"offer_id":3}"#, "transaction_id: expected a string, got a number (12)"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":"seven","offer_id":3}"#, "partner_id: expected an integer, got a string (\"seven\")"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":7.5,"offer_id":3}"#, "partner_id: expected an integer, got a number (7.5)"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":[3]}"#, "offer_id: expected an integer, got an array"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":99999999999999999999,"offer_id":3}"#, "partner_id: expected an integer, got a number (99999999999999999999)"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3,"payout":"1,50"}"#, "payout: expected a decimal amount such as 1.50, got a string (\"1,50\")"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3,"payout":true}"#, "payout: expected a decimal amount, got a boolean (true)"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3,"sub1":{"a":1}}"#, "sub1: expected a string, got an object"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3,"timestamp":"soon"}"#, "timestamp: expected Unix seconds as an integer, got a string (\"soon\")"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3,"sub1":"a","sub1":"b"}"#, "sub1: appears twice"),
        (#"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3"#, "invalid JSON at column 70: the input ended inside an object"),
        (#"{"kind":"conversion",}"#, "invalid JSON at column 22: expected a member name in quotes but found '}'"),
        (#"[1,2]"#, "not a JSON object; each line must be one record {...}"),
        (#"{"kind":"conversion"} {}"#, "invalid JSON at column 23: unexpected '{' after the end of the value"),
    ])
    func rejects(_ line: String, _ expected: String) {
        #expect(Self.reason(line) == expected)
    }

    @Test func acceptsNumbersAsStringsAndKeepsTheirText() throws {
        let r = try Fixtures.record(#"{"kind":"event","transaction_id":"t","partner_id":"007","offer_id":"3","event_id":"12","payout":1.50,"sale_amount":"20","sub3":12345,"timestamp":"1700000000","extra":{"ignored":[1,2,{"deep":null}]}}"#)
        #expect(r.partnerID == 7 && r.offerID == 3 && r.eventID == 12)
        #expect(r[.partnerID] == "7")
        #expect(r[.payout] == "1.50" && r[.saleAmount] == "20" && r[.sub3] == "12345" && r[.timestamp] == "1700000000")
    }

    @Test func unicodeAndEscapes() throws {
        let r = try Fixtures.record(#"{"kind":"conversion","transaction_id":"t\u00e9\n","partner_id":1,"offer_id":2,"currency":"€","sub1":"\ud83c\udf89"}"#)
        #expect(r.transactionID == "té\n" && r[.currency] == "€" && r[.sub1] == "🎉")
        #expect(Self.reason(#"{"kind":"conversion","transaction_id":"\ud83c","partner_id":1,"offer_id":2}"#)?.contains("unpaired surrogate") == true)
    }

    @Test func nullOptionalIsAbsent() throws {
        let r = try Fixtures.record(#"{"kind":"conversion","transaction_id":"t","partner_id":1,"offer_id":2,"sub1":null}"#)
        #expect(r[.sub1] == nil)
    }

    /// Runs `parseLines` and returns what it saw, line by line.
    static func lines(_ bytes: [UInt8]) -> [String] {
        var seen: [String] = []
        RecordParser.parseLines(bytes) { n, result in
            switch result {
            case .success(let r): seen.append("\(n) ok \(r.transactionID)")
            case .failure(let f): seen.append("\(f)")
            }
        }
        return seen
    }

    @Test func fileWithBadLinesBlankLinesCRLFAndBOM() {
        let file = "\u{FEFF}" + #"{"kind":"conversion","transaction_id":"a","partner_id":1,"offer_id":2}"# + "\r\n"
            + "\r\n   \n"
            + "not json\r\n"
            + #"{"kind":"conversion","transaction_id":"b","partner_id":1,"offer_id":2}"# + "\n"
            + #"{"kind":"conversion","transaction_id":"c","partner_id":1}"#  // no final newline
        #expect(Self.lines(Array(file.utf8)) == [
            "1 ok a",
            "line 4: not a JSON object; each line must be one record {...}",
            "5 ok b",
            "line 6: offer_id: missing",
        ])
    }

    @Test func invalidUTF8IsRejectedAlone() {
        var bytes = Array(#"{"kind":"conversion","transaction_id":"a"#.utf8) + [0xC3, 0x28] + Array(#"","partner_id":1,"offer_id":2}"#.utf8)
        bytes += [0x0A] + Array(#"{"kind":"conversion","transaction_id":"b","partner_id":1,"offer_id":2}"#.utf8)
        #expect(Self.lines(bytes) == ["line 1: not valid UTF-8 text", "2 ok b"])
    }

    /// Strings take an ASCII fast path in the scanner; the rest must still be decoded exactly,
    /// and invalid UTF-8 refused wherever it is, an ignored field included.
    @Test func nonASCIIValuesAreExactAndInvalidOnesRefusedEverywhere() throws {
        let r = try Fixtures.record(#"{"kind":"conversion","transaction_id":"tö-1","partner_id":1,"offer_id":2,"currency":"€","sub1":"日本"}"#)
        #expect(r.transactionID == "tö-1" && r[.currency] == "€" && r[.sub1] == "日本")
        let unknownField = Array(#"{"kind":"conversion","transaction_id":"a","partner_id":1,"offer_id":2,"x":""#.utf8) + [0xE2, 0x82] + Array(#""}"#.utf8)
        #expect(Self.lines(unknownField) == ["line 1: not valid UTF-8 text"])
        let key = Array(#"{"kind":"conversion","transaction_id":"a","partner_id":1,"offer_id":2,""#.utf8) + [0xFF] + Array(#"":1}"#.utf8)
        #expect(Self.lines(key) == ["line 1: not valid UTF-8 text"])
    }

    @Test func nulByteIsRejected() {
        let bytes = Array(#"{"kind":"conversion","transaction_id":"a"#.utf8) + [0x00] + Array(#"","partner_id":1,"offer_id":2}"#.utf8)
        #expect(Self.lines(bytes) == ["line 1: invalid JSON at column 41: control character byte 0x0 inside a string; it must be escaped"])
    }

    @Test func oneMegabyteLine() throws {
        let big = String(repeating: "x", count: 1 << 20)
        let r = try Fixtures.record(#"{"kind":"conversion","transaction_id":"t","partner_id":1,"offer_id":2,"adv1":"\#(big)"}"#)
        #expect(r[.adv1]?.utf8.count == 1 << 20)
    }

    @Test func deepNestingInAnUnknownFieldIsRejected() {
        let deep = String(repeating: "[", count: 10_000)
        #expect(Self.reason(#"{"kind":"conversion","x":\#(deep)"#)?.contains("nesting deeper than 64 levels") == true)
    }
}
