import Testing
@testable import PostbackCore

@Suite("Macro expansion and encoding")
struct MacroExpansionTests {
    static let context = URLTemplate.Context(postbackID: 17, arrivalTime: 1_700_000_000, random: 42)

    static let hostileValues = [
        "a&b=c", "x=y", "frag#ment", "what?", "a/b", "with space", "1+1", "100%", "\"quoted'", "line\nbreak",
        "€", "£", "¥", "US$", "🎉", "https://evil.example/?a=1&b=2#x", "",
    ]

    /// Splits a URL into its shape: everything but the parameter values.
    static func shape(_ url: String) -> (path: String, names: [String], values: [String]) {
        let parts = url.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let pairs = parts.count > 1 ? parts[1].split(separator: "&", omittingEmptySubsequences: false) : []
        return (String(parts[0]),
                pairs.map { String($0.split(separator: "=", maxSplits: 1).first ?? "") },
                pairs.map { String($0.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).dropFirst().first ?? "") })
    }

    static func decode(_ s: String) -> String {
        var bytes: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let b = u.first {
            if b == UInt8(ascii: "%"), u.count >= 3, let v = UInt8(String(decoding: u.dropFirst().prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                u = u.dropFirst(3)
            } else {
                bytes.append(b)
                u = u.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test(arguments: hostileValues, [
        "https://p.example/pb/conv?click={sub1}&cur={currency}&amt={payout_amount}",
        "https://p.example/pb/conv?cur={currency}&click={sub1}&amt={payout_amount}",
        "https://p.example/pb/conv?amt={payout_amount}&click={sub1}&cur={currency}",
    ])
    func hostileValueKeepsTheShape(value: String, template: String) throws {
        let compiled = try URLTemplate.compile(template)
        var record = Record(kind: .conversion, transactionID: "t", partnerID: 1, offerID: 2)
        record[.sub1] = value
        record[.currency] = value
        record[.payout] = "1.50"
        let url = compiled.expand(record, context: Self.context)
        let expected = Self.shape(template)
        let got = Self.shape(url)
        #expect(got.path == expected.path)
        #expect(got.names == expected.names)
        for (name, v) in zip(got.names, got.values) {
            #expect(Self.decode(v) == (name == "amt" ? "1.50" : value), "parameter \(name)")
        }
        #expect(!url.contains(" ") && !url.contains("\n") && url.unicodeScalars.allSatisfy { $0.isASCII })
    }

    @Test(arguments: [
        ("abcXYZ019-._~", "abcXYZ019-._~"),
        ("a b", "a%20b"),
        ("a&b=c#d?e/f+g%h", "a%26b%3Dc%23d%3Fe%2Ff%2Bg%25h"),
        ("€", "%E2%82%AC"),
        ("£", "%C2%A3"),
        ("¥", "%C2%A5"),
        ("US$", "US%24"),
        ("🎉", "%F0%9F%8E%89"),
        ("\"'<>", "%22%27%3C%3E"),
        ("\r\n", "%0D%0A"),
    ])
    func percentEncoding(_ value: String, _ encoded: String) {
        #expect(PercentEncoding.encode(value) == encoded)
    }

    @Test func everyMacroExpands() throws {
        var record = try Fixtures.record(#"""
            {"kind":"event","transaction_id":"T1","partner_id":7,"offer_id":3,"event_id":12,
             "sub1":"s1","sub2":"s2","sub3":"s3","sub4":"s4","sub5":"s5","source_id":"src",
             "payout":"1.50","sale_amount":19.90,"currency":"EUR","conversion_id":"c9","order_id":"o8",
             "coupon_code":"SAVE10","adv1":"a1","adv2":"a2","adv3":"a3","adv4":"a4","adv5":"a5","timestamp":1690000000,
             "sub6":"s6","sub7":"s7","sub8":"s8","sub9":"s9","sub10":"s10","adv6":"a6","adv7":"a7","adv8":"a8",
             "adv9":"a9","adv10":"a10","event_name":"buy now"}
            """#)
        let template = try URLTemplate.compile("https://p.example/x?" + Macro.allCases.map { "\($0.rawValue)={\($0.rawValue)}" }.joined(separator: "&"))
        var context = Self.context
        context.fireID = "fire_1"
        let url = template.expand(record, context: context)
        #expect(url == "https://p.example/x?transaction_id=T1&affiliate_id=7&offer_id=3&sub1=s1&sub2=s2&sub3=s3&sub4=s4&sub5=s5"
            + "&source_id=src&event_id=12&payout_amount=1.50&sale_amount=19.90&currency=EUR&conversion_id=c9&order_id=o8"
            + "&coupon_code=SAVE10&adv1=a1&adv2=a2&adv3=a3&adv4=a4&adv5=a5&timestamp=1690000000&postback_id=17&random=42"
            + "&sub6=s6&sub7=s7&sub8=s8&sub9=s9&sub10=s10&adv6=a6&adv7=a7&adv8=a8&adv9=a9&adv10=a10&event_name=buy%20now&fire_id=fire_1")
        record[.timestamp] = nil
        #expect(try URLTemplate.compile("https://p/?t={timestamp}&c={sub1}").expand(record, context: Self.context)
            == "https://p/?t=1700000000&c=s1")
    }

    @Test func absentValuesExpandToEmpty() throws {
        let record = try Fixtures.record(#"{"kind":"conversion","transaction_id":"T","partner_id":7,"offer_id":3}"#)
        let url = try URLTemplate.compile("https://p/?c={sub1}&cur={currency}&t={transaction_id}").expand(record, context: Self.context)
        #expect(url == "https://p/?c=&cur=&t=T")
    }

    @Test func payoutPrintsAsSent() throws {
        let template = try URLTemplate.compile("https://p/?c={sub1}&p={payout_amount}&s={sale_amount}")
        for (sent, printed) in [("\"1.50\"", "1.50"), ("1.5", "1.5"), ("0.1", "0.1"), ("1.10", "1.10"), ("100", "100"), ("\"-2.25\"", "-2.25")] {
            let record = try Fixtures.record(#"{"kind":"conversion","transaction_id":"T","partner_id":7,"offer_id":3,"payout":\#(sent),"sale_amount":\#(sent)}"#)
            #expect(template.expand(record, context: Self.context) == "https://p/?c=&p=\(printed)&s=\(printed)")
        }
    }

    @Test func templatesKeepLiteralsVerbatim() throws {
        let source = "https://p.example:8443/a%20b/{sub1}?x=%7B&y={sub2}#frag"
        var record = Record(kind: .conversion, transactionID: "t", partnerID: 1, offerID: 2)
        record[.sub1] = "v/1"
        record[.sub2] = "v 2"
        #expect(try URLTemplate.compile(source).expand(record, context: Self.context)
            == "https://p.example:8443/a%20b/v%2F1?x=%7B&y=v%202#frag")
    }
}
