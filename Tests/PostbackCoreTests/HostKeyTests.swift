import Testing

@testable import PostbackCore

@Suite("PostbackCoreTests: one host key")
struct HostKeyTests {
    @Test(arguments: [
        ("http://partner.example/pb?x=1", "partner.example"),
        ("https://User:pw@Partner.Example:8443/pb", "partner.example:8443"),
        ("http://127.0.0.1:18080?click=1", "127.0.0.1:18080"),
        ("http://a.example#frag", "a.example"),
        ("HTTP://Example.com", "example.com"),
        ("https://example.com:443/pb", "example.com"),
        ("http://example.com:80/pb", "example.com"),
        ("http://example.com:443/pb", "example.com"),
        ("http://example.com:0080/pb", "example.com"),
        ("http://example.com:08080/pb", "example.com:8080"),
        ("http://example.com:/pb", "example.com"),
        ("http://[::1]/pb", "[::1]"),
        ("http://[::1]:8080/pb", "[::1]:8080"),
        ("HTTP://[::1]:80/", "[::1]"),
        ("http://[FE80::1%25eth0]:8080/", "[fe80::1%25eth0]:8080"),
        ("http://[::1]x/", "[::1]x"),
        ("http://a@b@Host.example:9/", "host.example:9"),
        ("http://BÜCHER.example/", "bücher.example"),
        ("no scheme", "no scheme"),
    ])
    func key(url: String, key: String) {
        #expect(HostKey.of(url) == key)
    }

    /// Each row is one destination as libcurl sees it (one connection bundle: host, port),
    /// written two ways. The old keys named them apart: the engine's (authority as written,
    /// ASCII lower-cased) and the template's (authority as written, Unicode lower-cased), so
    /// the per-host cap let 2 × per_host fires into one curl bundle (the excess waiting in
    /// curl's unbounded queue) and a breaker opened by one spelling did not hold back the other.
    @Test(arguments: [
        ("https://example.com/pb?c=1", "https://example.com:443/pb?c=1"),
        ("https://example.com/pb?c=1", "HTTPS://Example.COM:443/pb?c=1"),
        ("http://example.com/pb?c=1", "http://example.com:80/pb?c=1"),
        ("https://example.com/pb?c=1", "http://example.com:443/pb?c=1"),
        ("http://example.com:8080/pb?c=1", "http://example.com:08080/pb?c=1"),
        ("http://[::1]/pb?c=1", "http://[::1]:80/pb?c=1"),
        ("http://u:p@example.com/pb?c=1", "http://example.com/pb?c=1"),
    ])
    func spellingsOfOneDestinationShareTheKey(a: String, b: String) {
        #expect(HostKey.of(a) == HostKey.of(b))
    }

    @Test(arguments: [
        ("http://example.com:8080/", "http://example.com:8081/"),
        ("http://example.com/", "http://example.org/"),
        ("http://[::1]:8080/", "http://[::2]:8080/"),
    ])
    func differentDestinationsStayApart(a: String, b: String) {
        #expect(HostKey.of(a) != HostKey.of(b))
    }

    /// The daemon keys the breaker by the template's key, the engine the cap and the slow-host
    /// rule by the expanded URL's: the same function, so the same name for every template.
    @Test(arguments: [
        "https://Example.com:443/pb?c={sub1}",
        "http://example.com:80/pb?c={sub1}",
        "HTTP://BÜCHER.example/pb?c={sub1}",
        "http://user:pw@[::1]:8080/pb?c={sub1}",
        "http://127.0.0.1:18080?c={sub1}&p={payout_amount}",
        "http://[::1]?c={sub1}",
    ])
    func templateAndExpandedURLAgree(source: String) throws {
        let template = try URLTemplate.compile(source)
        var record = Record(kind: .conversion, transactionID: "t/@:?#[]", partnerID: 1, offerID: 2)
        record[.sub1] = "evil.example:443/@x"
        let url = template.expand(record, context: .init(postbackID: 1, arrivalTime: 0, random: 0))
        #expect(template.hostKey == HostKey.of(url), "\(url)")
    }
}
