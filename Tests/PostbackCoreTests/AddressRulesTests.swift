import Testing

@testable import PostbackCore

@Suite("AddressRules")
struct AddressRulesTests {
    // How literal URL hosts read (the inet_aton way) and how the default rules judge them.
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1", "127.0.0.1 is loopback"),
        ("2130706433", "127.0.0.1", "127.0.0.1 is loopback"),
        ("0177.0.0.1", "127.0.0.1", "127.0.0.1 is loopback"),
        ("0x7f000001", "127.0.0.1", "127.0.0.1 is loopback"),
        ("0x7f.1", "127.0.0.1", "127.0.0.1 is loopback"),
        ("127.1", "127.0.0.1", "127.0.0.1 is loopback"),
        ("127.0.1", "127.0.0.1", "127.0.0.1 is loopback"),
        ("0.0.0.0", "0.0.0.0", "0.0.0.0 is unspecified"),
        ("0", "0.0.0.0", "0.0.0.0 is unspecified"),
        ("[::]", "::", ":: is unspecified"),
        ("[::1]", "::1", "::1 is loopback"),
        ("[0:0:0:0:0:0:0:1]", "::1", "::1 is loopback"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "::ffff:127.0.0.1 is loopback (IPv4-mapped 127.0.0.1)"),
        ("[::ffff:7f00:1]", "::ffff:127.0.0.1", "::ffff:127.0.0.1 is loopback (IPv4-mapped 127.0.0.1)"),
        ("[::ffff:a9fe:a9fe]", "::ffff:169.254.169.254",
         "::ffff:169.254.169.254 is link-local (IPv4-mapped 169.254.169.254)"),
        ("[64:ff9b::10.0.0.1]", "64:ff9b::a00:1", "64:ff9b::a00:1 is private (RFC 1918) (NAT64 10.0.0.1)"),
        ("[2002:7f00:1::]", "2002:7f00:1::", "2002:7f00:1:: is loopback (6to4 127.0.0.1)"),
        ("[::127.0.0.1]", "::7f00:1", "::7f00:1 is loopback (IPv4-compatible 127.0.0.1)"),
        ("169.254.169.254", "169.254.169.254", "169.254.169.254 is link-local"),
        ("10.1.2.3", "10.1.2.3", "10.1.2.3 is private (RFC 1918)"),
        ("172.16.0.1", "172.16.0.1", "172.16.0.1 is private (RFC 1918)"),
        ("172.31.255.255", "172.31.255.255", "172.31.255.255 is private (RFC 1918)"),
        ("192.168.0.1", "192.168.0.1", "192.168.0.1 is private (RFC 1918)"),
        ("100.64.0.1", "100.64.0.1", "100.64.0.1 is shared address space (CGNAT 100.64/10)"),
        ("100.127.255.255", "100.127.255.255", "100.127.255.255 is shared address space (CGNAT 100.64/10)"),
        ("224.0.0.1", "224.0.0.1", "224.0.0.1 is multicast"),
        ("255.255.255.255", "255.255.255.255", "255.255.255.255 is broadcast"),
        ("240.0.0.1", "240.0.0.1", "240.0.0.1 is reserved"),
        ("[fe80::1]", "fe80::1", "fe80::1 is link-local"),
        ("[fe80::1%25eth0]", "fe80::1", "fe80::1 is link-local"),
        ("[febf::1]", "febf::1", "febf::1 is link-local"),
        ("[fc00::1]", "fc00::1", "fc00::1 is unique-local (fc00::/7)"),
        ("[fd12:3456::1]", "fd12:3456::1", "fd12:3456::1 is unique-local (fc00::/7)"),
        ("[ff02::1]", "ff02::1", "ff02::1 is multicast"),
    ])
    func refusedLiteralHosts(host: String, canonical: String, reason: String) throws {
        let address = try #require(IPAddress(urlHost: host[...]))
        #expect(address.description == canonical)
        #expect(AddressRules().check(address) == .refused(reason: reason))
    }

    @Test(arguments: [
        ("8.8.8.8", "8.8.8.8"),
        ("134744072", "8.8.8.8"),
        ("172.32.0.1", "172.32.0.1"),
        ("172.15.255.255", "172.15.255.255"),
        ("100.128.0.1", "100.128.0.1"),
        ("100.63.255.255", "100.63.255.255"),
        ("169.253.1.1", "169.253.1.1"),
        ("223.255.255.255", "223.255.255.255"),
        ("[2606:4700::1111]", "2606:4700::1111"),
        ("[::ffff:8.8.8.8]", "::ffff:8.8.8.8"),
        ("[64:ff9b::808:808]", "64:ff9b::808:808"),
        ("[2002:808:808::1]", "2002:808:808::1"),
        ("[fec0::1]", nil),
    ] as [(String, String?)])
    func permittedLiteralHosts(host: String, canonical: String?) throws {
        let address = try #require(IPAddress(urlHost: host[...]))
        if let canonical {
            #expect(address.description == canonical)
            #expect(AddressRules().check(address) == .permitted)
        } else {
            #expect(AddressRules().check(address) != .permitted)
        }
    }

    // Names (resolved later by DNS) and malformed spellings are not addresses.
    @Test(arguments: [
        "example.com", "localhost", "", "1.2.3.4.5", "256.0.0.1", "1.2.3.256", "08.0.0.1",
        "0x1g.0.0.1", "1..2", "1.2.3.", "4294967296", "1.16777216", "[::1", "[1::2::3]",
        "[12345::]", "[1:2:3:4:5:6:7:8:9]", "[::ffff:1.2.3]", "[g::]", "127.0.0.1 ",
    ])
    func notAnAddress(host: String) {
        #expect(IPAddress(urlHost: host[...]) == nil)
    }

    @Test(arguments: [
        ("127.0.0.1/32", "127.0.0.1", true),
        ("127.0.0.1/32", "127.0.0.2", false),
        ("10.0.0.0/8", "10.255.1.2", true),
        ("10.1.2.3/24", "10.1.2.200", true),
        ("10.1.2.3/24", "10.1.3.1", false),
        ("0.0.0.0/0", "127.0.0.1", true),
        ("127.0.0.1", "127.0.0.1", true),
        ("fd00::/8", "[fd12::1]", true),
        ("fd00::/8", "[fe80::1]", false),
        ("::1/128", "[::1]", true),
        ("::/0", "127.0.0.1", false),
        ("2001:db8::/33", "[2001:db8:7fff::1]", true),
        ("2001:db8::/33", "[2001:db8:8000::1]", false),
        ("fe80::/10", "[febf:ffff::1]", true),
    ])
    func cidrContains(cidr: String, host: String, expected: Bool) throws {
        let network = try #require(CIDR(cidr))
        let address = try #require(IPAddress(urlHost: host[...]))
        #expect(network.contains(address) == expected)
    }

    @Test(arguments: ["", "10.0.0.0/33", "::/129", "10.0.0.0/", "10/8", "10.0.0.0/-1", "fe80::1%eth0/64", "x/8", "10.0.0.0/8/8"])
    func malformedCIDR(text: String) {
        #expect(CIDR(text) == nil)
    }

    @Test func cidrDescriptionIsMasked() {
        #expect(CIDR("10.1.2.3/24")?.description == "10.1.2.0/24")
        #expect(CIDR("fd12:3456::1/16")?.description == "fd12::/16")
    }

    @Test func allowListPermitsCoveredAddressesOnly() throws {
        let rules = AddressRules(allowList: [try #require(CIDR("127.0.0.1/32")), try #require(CIDR("10.1.0.0/16"))])
        #expect(rules.check(.v4(IPv4Address(127, 0, 0, 1))) == .permitted)
        #expect(rules.check(.v4(IPv4Address(10, 1, 9, 9))) == .permitted)
        #expect(rules.check(.v4(IPv4Address(127, 0, 0, 2))) == .refused(reason: "127.0.0.2 is loopback"))
        #expect(rules.check(.v4(IPv4Address(10, 2, 0, 1))) == .refused(reason: "10.2.0.1 is private (RFC 1918)"))
        // The mapped form reaches the same IPv4 address, so the IPv4 allow-list covers it.
        let mapped = try #require(IPAddress(urlHost: "[::ffff:127.0.0.1]"))
        #expect(rules.check(mapped) == .permitted)
        #expect(rules.check(.v6(IPv6Address(high: 0, low: 1))) == .refused(reason: "::1 is loopback"))
    }

    @Test func sockaddrBytesMatchText() throws {
        let bytes: [UInt8] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        #expect(IPv6Address(bytes: bytes) == IPv6Address("fe80::1"))
    }

    @Test(arguments: [
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("1:0:0:0:2:0:0:3", "1::2:0:0:3"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("::ffff:0:1.2.3.4", "::ffff:0:102:304"),
        ("1::", "1::"),
    ])
    func ipv6CanonicalText(text: String, canonical: String) throws {
        #expect(try #require(IPv6Address(text[...])).description == canonical)
    }

    @Test func teredoAndTranslatedFormsAreJudgedByTheirIPv4() throws {
        // Teredo client 127.0.0.1 is stored inverted in the low 32 bits.
        let teredo = try #require(IPAddress(urlHost: "[2001:0:4136:e378:8000:63bf:80ff:fffe]"))
        #expect(AddressRules().check(teredo) == .refused(
            reason: "2001:0:4136:e378:8000:63bf:80ff:fffe is loopback (Teredo 127.0.0.1)"))
        let translated = try #require(IPAddress(urlHost: "[::ffff:0:a00:1]"))
        #expect(AddressRules().check(translated) == .refused(
            reason: "::ffff:0:a00:1 is private (RFC 1918) (IPv4-translated 10.0.0.1)"))
    }
}
