import Testing

@testable import PostbackFiring

@Suite("PostbackFiringTests: pure pieces")
struct PureRulesTests {
    // 1994-11-06 08:49:37 UTC
    static let sunday: Int64 = 784_111_777

    @Test(arguments: [
        ("120", 120 as Int64?),
        (" 7 ", 7),
        ("42\r\n", 42),
        ("0", 0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0),
        ("Sun, 06 Nov 1994 08:51:37 GMT", 120),
        ("Sunday, 06-Nov-94 08:50:37 GMT", 60),
        ("Sun Nov  6 08:49:47 1994", 10),
        ("Sat, 05 Nov 1994 08:49:37 GMT", 0),  // in the past: no wait
        ("Mon, 07 Nov 1994 08:49:37 GMT", 86_400),
        ("soon", nil),
        ("", nil),
        ("-5", nil),
        ("Sun, 32 Nov 1994 08:49:37 GMT", nil),
        ("Sun, 06 Foo 1994 08:49:37 GMT", nil),
    ])
    func retryAfter(value: String, seconds: Int64?) {
        #expect(RetryAfter.parse(value[...], now: Self.sunday) == seconds.map { .seconds($0) })
    }

    @Test func civilDays() {
        #expect(RetryAfter.daysFromCivil(year: 1970, month: 1, day: 1) == 0)
        #expect(RetryAfter.daysFromCivil(year: 2000, month: 3, day: 1) == 11_017)
        #expect(RetryAfter.httpDate("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
    }

    @Test(arguments: [
        ("http://partner.example/pb?x=1", "partner.example"),
        ("https://User:pw@Partner.Example:8443/pb", "partner.example:8443"),
        ("http://127.0.0.1:18080?click=1", "127.0.0.1:18080"),
        ("http://a.example#frag", "a.example"),
        ("HTTP://[::1]:80/", "[::1]"),  // was "[::1]:80": a web port is now the host's own (HostKey)
        ("no scheme", "no scheme"),
    ])
    func hostKey(url: String, key: String) {
        #expect(FiringEngine.hostKey(url) == key)
    }

    @Test(arguments: [
        (200, FireVerdict.Kind.success), (204, .success), (301, .permanent), (302, .permanent),
        (400, .permanent), (401, .permanent), (403, .permanent), (404, .permanent), (408, .transient),
        (413, .permanent), (425, .transient), (429, .transient), (451, .permanent), (500, .transient),
        (502, .transient), (503, .transient), (504, .transient), (100, .permanent), (0, .permanent),
    ])
    func statusVerdict(status: Int, kind: FireVerdict.Kind) {
        #expect(FireVerdict.classify(status: status).kind == kind)
    }

    @Test(arguments: [(1 as Int64, 1), (1500, 1500), (0, 0)] as [(Int64, Int)])
    func timeoutsRoundUp(ms: Int64, expected: Int) {
        #expect(Duration.milliseconds(ms).curlMilliseconds == expected)
        #expect(Duration.microseconds(1).curlMilliseconds == 1)
    }
}
