import Foundation
import PostbackTestSupport
import Testing

/// The SSRF table (issue #6): postback URLs and partner redirects aimed at the cloud metadata
/// endpoint, loopback, private networks and other schemes, through the real daemon inside a
/// network namespace, with a listener on every forbidden address.
///
/// Partners edit their own postbacks and answer with whatever redirects they like, so both are
/// hostile input (DESIGN.md, Safety rules). Each row says what must happen: the catalog is
/// refused at load naming the postback and the field, or the fire is dead-lettered with its
/// reason before any connection, or it reaches the good partner (192.0.2.10, the only
/// allow-listed address) with every record value percent-encoded. Whatever the row, the
/// forbidden listeners must count zero connections.
@Suite("Hostile URLs through postbackd inside a network namespace")
struct HostileURLTests {
    @Test(.enabled(if: NetworkNamespace.testsRun, "needs root and iproute2 (ip netns); CI runs it always"))
    func everyRowIsRefusedOrReachesOnlyTheGoodPartner() throws {
        let namespace = try NetworkNamespace(hosts: HostileURL.hosts, addresses: HostileURL.addresses)
        defer { namespace.remove() }
        let listener = try namespace.startListener(
            HostileURL.forbidden + [HostileURL.partner], routes: HostileURL.routes(HostileURL.table))
        defer { listener.stop() }

        let atLoad = HostileURL.table.filter(\.isRefusedAtLoad)
        let atFire = HostileURL.table.filter { !$0.isRefusedAtLoad }
        try refusedAtLoad(atLoad, namespace: namespace)
        try firedOrRefused(atFire, namespace: namespace, listener: listener)
        // Issue 15: the same address rules for POST fires. Every row refused at fire time
        // without a redirect, again as a signed JSON POST: each refused, none connected.
        let refusedPOSTs = atFire.filter { if case .failed = $0.expected { $0.hops.isEmpty } else { false } }
        try refusedAsPOST(refusedPOSTs, namespace: namespace)

        try listener.settle()
        let forbiddenConnections = listener.accepted.filter { $0.key != HostileURL.partner.local }
        #expect(forbiddenConnections.isEmpty, "forbidden listeners were connected to: \(forbiddenConnections)")
        let partnerRequests = listener.requests(at: HostileURL.partner)
        #expect(listener.accepted[HostileURL.partner.local, default: 0] == partnerRequests.count)
        // The daemon ran with http_proxy & co. pointing at the partner: a proxied request
        // (absolute-form target, or CONNECT) would hide its real destination from the check.
        let proxied = partnerRequests.filter { $0.line.hasPrefix("CONNECT") || $0.line.contains(" http") }
        #expect(proxied.isEmpty, "requests sent through the environment's proxy: \(proxied.map(\.line))")
        let reachedPartner = atFire.filter(\.isFired).count
        print("hostile URLs: \(HostileURL.table.count) rows: \(atLoad.count) refused at load, "
              + "\(atFire.count - reachedPartner) dead-lettered at fire time, \(reachedPartner) reached only the good partner; "
              + "\(HostileURL.forbidden.count) forbidden listeners, \(forbiddenConnections.values.reduce(0, +)) connections to them, "
              + "\(partnerRequests.count) requests to the good partner")
    }

    /// One catalog holding every row that must not load: `postbackctl validate` and the daemon
    /// both refuse it, each naming every postback and its field; nothing is claimed or fired.
    private func refusedAtLoad(_ rows: [HostileURL], namespace: NetworkNamespace) throws {
        let fixture = try SpoolFixture(catalog: HostileURL.catalog(rows), settings: HostileURL.settings)
        defer { fixture.remove() }
        try fixture.drop("refused.jsonl", HostileURL.records(rows))
        let validate = try ProcessRunner.run("postbackctl", ["validate", fixture.catalogPath])
        #expect(validate.status == 1, "validate: \(validate.stdout)")
        let run = try fixture.runOnce(in: namespace, environment: HostileURL.proxyEnvironment)
        #expect(run.result.status == 1, "the daemon loaded a catalog it must refuse: \(run.result.stdout)")
        for row in rows {
            guard case .refusedAtLoad(let message) = row.expected else { continue }
            let line = "postback \(row.id): url: \(message)"
            #expect(validate.stderr.contains(line + "\n"), "row \(row.id), \(row.what): validate said \(validate.stderr)")
            #expect(run.result.stderr.contains(line), "row \(row.id), \(row.what): the daemon said \(run.result.stderr)")
        }
        #expect(fixture.files(in: "incoming") == ["refused.jsonl"], "a refused catalog must not claim anything")
    }

    /// The rows as POST postbacks (a JSON body, a header, a signing secret): every one
    /// dead-lettered with its row's reason, nothing reaching any listener (checked by the caller).
    private func refusedAsPOST(_ rows: [HostileURL], namespace: NetworkNamespace) throws {
        let fixture = try SpoolFixture(catalog: HostileURL.catalog(rows, post: true), settings: HostileURL.settings)
        defer { fixture.remove() }
        try fixture.drop("hostile-post.jsonl", HostileURL.records(rows))
        let (summary, result) = try fixture.runOnce(in: namespace, environment: HostileURL.proxyEnvironment)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(summary["fires"] == Double(rows.count) && summary["failed"] == Double(rows.count), "\(summary)")
        let ledger = Outcomes.ledger(fixture.read("done", "hostile-post.jsonl.ledger"))
        for row in rows {
            guard case .failed(let reason) = row.expected else { continue }
            #expect(ledger[row.id]?.outcome == "failed" && ledger[row.id]?.reason.hasPrefix(reason) == true,
                    "POST row \(row.id), \(row.what): ledger \(String(describing: ledger[row.id]))")
        }
        print("hostile URLs as POST: \(rows.count) rows, \(rows.count) refused at fire time")
    }

    /// One catalog with every other row, one record per row, one `--once` run in the namespace.
    private func firedOrRefused(_ rows: [HostileURL], namespace: NetworkNamespace, listener: NamespaceListener) throws {
        let fixture = try SpoolFixture(catalog: HostileURL.catalog(rows), settings: HostileURL.settings)
        defer { fixture.remove() }
        let validate = try ProcessRunner.run("postbackctl", ["validate", fixture.catalogPath])
        #expect(validate.status == 0, "these rows must load; their refusal comes at fire time: \(validate.stderr)")
        try fixture.drop("hostile.jsonl", HostileURL.records(rows))
        let (summary, result) = try fixture.runOnce(in: namespace, environment: HostileURL.proxyEnvironment)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let fired = rows.filter(\.isFired).count
        #expect(summary["records"] == Double(rows.count) && summary["fires"] == Double(rows.count), "\(summary)")
        #expect(summary["succeeded"] == Double(fired) && summary["failed"] == Double(rows.count - fired), "\(summary)")
        #expect(summary["deferred"] == 0 && summary["rejected"] == 0 && summary["no_match"] == 0, "\(summary)")

        let ledger = Outcomes.ledger(fixture.read("done", "hostile.jsonl.ledger"))
        let deadLetters = Outcomes.deadLetters(fixture.files(in: "failed").map { fixture.read("failed", $0) })
        let stderrLines = result.stderr.split(separator: "\n")
        try listener.settle()
        let requests = Dictionary(grouping: listener.requests(at: HostileURL.partner), by: { HostileURL.row(of: $0.line) })
        // Every request the partner got belongs to a row: a value cannot smuggle in another one.
        #expect(requests[0] == nil, "requests no row asked for: \(requests[0]?.map(\.line) ?? [])")

        for row in rows {
            let label = "row \(row.id), \(row.what) (\(row.url))"
            let outcome = ledger[row.id]
            let logged = stderrLines.first { $0.contains("postback \(row.id) ") && $0.contains("for transaction ") }
            let seen = requests[row.id] ?? []
            switch row.expected {
            case .refusedAtLoad:
                Issue.record("\(label): not a fire-time row")
            case .failed(let reason):
                #expect(outcome?.outcome == "failed", "\(label): ledger \(String(describing: outcome))")
                #expect(outcome?.reason.hasPrefix(reason) == true, "\(label): ledger reason \(outcome?.reason ?? "none")")
                #expect(deadLetters[row.id]?.hasPrefix(reason) == true, "\(label): dead letter \(deadLetters[row.id] ?? "none")")
                #expect(logged?.contains("OUTCOME=failed") == true, "\(label): log \(logged ?? "none")")
                // The message itself names the reason, not the status of the last redirect.
                #expect(logged?.contains("(attempt 1): \(reason)") == true, "\(label): log \(logged ?? "none")")
                // The good partner answered the redirect hops, and nothing after them.
                #expect(seen.count == row.hops.count, "\(label): the partner saw \(seen.map(\.line))")
            case .fired(let requestLine):
                #expect(outcome?.outcome == "succeeded", "\(label): ledger \(String(describing: outcome))")
                #expect(logged?.contains("OUTCOME=succeeded") == true, "\(label): log \(logged ?? "none")")
                #expect(seen.count == row.hops.count + 1, "\(label): the partner saw \(seen.map(\.line))")
                #expect(seen.last?.line == requestLine, "\(label): the partner saw \(seen.map(\.line))")
                // A value cannot add a header or a second request: one Host, no injected header.
                for request in seen {
                    let hosts = request.headers.filter { $0.lowercased().hasPrefix("host:") }
                    #expect(hosts.count == 1 && !hosts[0].contains("169.254"), "\(label): \(request.headers)")
                    #expect(!request.headers.contains { $0.hasPrefix("X-Injected") }, "\(label): \(request.headers)")
                }
            }
        }
    }
}

/// One row of the table: a postback URL, the redirects the good partner answers it with, the
/// record's values, and what must happen.
struct HostileURL: Sendable {
    enum Expected: Sendable {
        /// The catalog is refused: `postback ID: url: MESSAGE` from validate and the daemon.
        case refusedAtLoad(String)
        /// Dead-lettered on its first attempt; the reason in the ledger and the dead letter
        /// starts with this.
        case failed(String)
        /// Reached the good partner, whose last request line is exactly this.
        case fired(String)
    }

    struct Hop: Sendable {
        var status: Int
        /// "NEXT" stands for the path of the next hop on the good partner.
        var location: String
    }

    var id: Int
    var what: String
    var url: String
    /// The good partner answers `/r<id>/<i>` with `hops[i]`.
    var hops: [Hop] = []
    /// Record fields beyond kind, transaction_id, partner_id, offer_id and sub1.
    var values: [String: String] = [:]
    var expected: Expected

    var isRefusedAtLoad: Bool { if case .refusedAtLoad = expected { true } else { false } }
    var isFired: Bool { if case .fired = expected { true } else { false } }

    // MARK: the namespace

    /// The good partner: allow-listed, so every other address keeps the default rules.
    static let partner = NamespaceListener.Endpoint("192.0.2.10", serves: true)
    static let settings = [
        "allow_address": "192.0.2.10/32", "max_attempts": "1", "done_retention": "1h", "log_target": "stderr",
        "connect_timeout": "2s", "total_timeout": "5s",
    ]

    /// Every forbidden target a row aims at, listening. A connect to 0.0.0.0 or [::] lands on
    /// the loopback listeners, one to ::ffff:a.b.c.d on the IPv4 one.
    static let forbidden = [
        "169.254.169.254", "127.0.0.1", "::1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1", "fd00::1", "fe80::1%lo",
    ].map { NamespaceListener.Endpoint($0) } + [NamespaceListener.Endpoint("169.254.169.254", 443)]

    static let addresses = [
        "169.254.169.254/32", "10.0.0.1/32", "172.16.0.1/32", "192.168.0.1/32", "100.64.0.1/32", "192.0.2.10/32",
        "fd00::1/128", "fe80::1/64",
    ]

    /// The namespace's own DNS answers; the trailing-dot name is there as written.
    static let hosts = """
        127.0.0.1 localhost localhost.test
        ::1 localhost ip6-localhost
        169.254.169.254 metadata.test metadata.test.
        10.0.0.1 internal.test
        fd00::1 internal6.test
        ::ffff:169.254.169.254 mapped.test
        169.254.169.254 mixed.test
        192.0.2.10 mixed.test partner.test

        """

    /// The daemon runs with every proxy variable aimed at the partner; it must ignore them.
    static let proxyEnvironment = [
        "http_proxy": "http://192.0.2.10:80", "https_proxy": "http://192.0.2.10:80",
        "HTTPS_PROXY": "http://192.0.2.10:80", "ALL_PROXY": "http://192.0.2.10:80", "all_proxy": "http://192.0.2.10:80",
    ]

    // MARK: the table

    static let table: [HostileURL] = refusedAtLoad + literalAddresses + names + userinfo + redirects + values

    static let refusedAtLoad: [HostileURL] = [
        load(1, "file scheme", "file:///etc/passwd?c={sub1}", #"scheme "file" is not allowed; only http and https"#),
        load(2, "gopher scheme", "gopher://127.0.0.1:80/_GET%20/latest/meta-data/?c={sub1}",
             #"scheme "gopher" is not allowed; only http and https"#),
        load(3, "dict scheme", "dict://127.0.0.1:80/info?c={sub1}", #"scheme "dict" is not allowed; only http and https"#),
        load(4, "ftp scheme", "ftp://169.254.169.254/?c={sub1}", #"scheme "ftp" is not allowed; only http and https"#),
        load(5, "ldap scheme", "ldap://127.0.0.1/?c={sub1}", #"scheme "ldap" is not allowed; only http and https"#),
        load(6, "a macro as the host", "http://{sub2}/?c={sub1}",
             "macro {sub2} in the host; a record must never choose where a fire goes"),
        load(7, "a macro as the port", "http://169.254.169.254:{sub2}/?c={sub1}",
             "macro {sub2} in the port; a record must never choose where a fire goes"),
        load(8, "a macro as the userinfo", "http://{sub2}@192.0.2.10/?c={sub1}",
             "macro {sub2} in the userinfo; a record must never choose where a fire goes"),
        load(9, "a macro as the scheme", "{sub2}://192.0.2.10/?c={sub1}",
             "macro {sub2} in the scheme; a record must never choose where a fire goes"),
        load(10, "a macro after a bracketed host", "http://[::1]{sub2}/?c={sub1}",
             "macro {sub2} in the host; a record must never choose where a fire goes"),
        load(11, "CRLF in the template", "http://192.0.2.10/\r\nHost: 169.254.169.254\r\n?c={sub1}",
             "contains a control character at position 19; encode it as %XX"),
        load(12, "one slash after the scheme", "http:/169.254.169.254/?c={sub1}",
             "is not an absolute URL; it must start with http:// or https://"),
        load(13, "no host", "http:///169.254.169.254/?c={sub1}", "has no host"),
        load(14, "a leading space", " http://169.254.169.254/?c={sub1}", "contains a space at position 1; encode it as %XX"),
    ]

    static let literalAddresses: [HostileURL] = [
        fail(20, "metadata", "http://169.254.169.254/latest/meta-data/?c={sub1}", metadata),
        fail(21, "metadata, decimal", "http://2852039166/latest/meta-data/?c={sub1}", metadata),
        fail(22, "metadata, hex", "http://0xA9FEA9FE/latest/meta-data/?c={sub1}", metadata),
        fail(23, "metadata, dotted hex", "http://0xa9.0xfe.0xa9.0xfe/?c={sub1}", metadata),
        fail(24, "metadata, octal", "http://0251.0376.0251.0376/?c={sub1}", metadata),
        fail(25, "metadata, three parts", "http://169.254.43518/?c={sub1}", metadata),
        fail(26, "metadata, two parts", "http://169.16689662/?c={sub1}", metadata),
        fail(27, "metadata, octal, hex and decimal mixed", "http://0251.0xfe.43518/?c={sub1}", metadata),
        fail(28, "metadata, explicit port", "http://169.254.169.254:80/?c={sub1}", metadata),
        fail(29, "metadata, upper-case scheme", "HTTP://169.254.169.254/?c={sub1}", metadata),
        fail(30, "metadata over https", "https://169.254.169.254/latest/meta-data/?c={sub1}", metadata),
        fail(31, "loopback", "http://127.0.0.1/?c={sub1}", loopback),
        fail(32, "loopback, short", "http://127.1/?c={sub1}", loopback),
        fail(33, "loopback, decimal", "http://2130706433/?c={sub1}", loopback),
        fail(34, "loopback, hex", "http://0x7f000001/?c={sub1}", loopback),
        fail(35, "loopback, octal", "http://0177.0.0.1/?c={sub1}", loopback),
        fail(36, "0", "http://0/?c={sub1}", "refused: 0.0.0.0 is unspecified"),
        fail(37, "0.0.0.0", "http://0.0.0.0/?c={sub1}", "refused: 0.0.0.0 is unspecified"),
        fail(38, "[::1]", "http://[::1]/?c={sub1}", "refused: ::1 is loopback"),
        fail(39, "[::1] in full", "http://[0:0:0:0:0:0:0:1]/?c={sub1}", "refused: ::1 is loopback"),
        fail(40, "[::]", "http://[::]/?c={sub1}", "refused: :: is unspecified"),
        fail(41, "metadata, IPv4-mapped", "http://[::ffff:169.254.169.254]/?c={sub1}", mapped),
        fail(42, "metadata, IPv4-mapped in hex", "http://[::ffff:a9fe:a9fe]/?c={sub1}", mapped),
        fail(43, "loopback, IPv4-mapped", "http://[::ffff:127.0.0.1]/?c={sub1}",
             "refused: ::ffff:127.0.0.1 is loopback (IPv4-mapped 127.0.0.1)"),
        fail(44, "metadata, IPv4-compatible", "http://[::169.254.169.254]/?c={sub1}",
             "refused: ::a9fe:a9fe is link-local (IPv4-compatible 169.254.169.254)"),
        fail(45, "metadata through NAT64", "http://[64:ff9b::169.254.169.254]/?c={sub1}",
             "refused: 64:ff9b::a9fe:a9fe is link-local (NAT64 169.254.169.254)"),
        fail(46, "IPv6 unique-local", "http://[fd00::1]/?c={sub1}", "refused: fd00::1 is unique-local (fc00::/7)"),
        fail(47, "IPv6 link-local with a zone", "http://[fe80::1%25lo]/?c={sub1}", "refused: fe80::1 is link-local"),
        fail(48, "10/8", "http://10.0.0.1/?c={sub1}", "refused: 10.0.0.1 is private (RFC 1918)"),
        fail(49, "172.16/12", "http://172.16.0.1/?c={sub1}", "refused: 172.16.0.1 is private (RFC 1918)"),
        fail(50, "192.168/16", "http://192.168.0.1/?c={sub1}", "refused: 192.168.0.1 is private (RFC 1918)"),
        fail(51, "CGNAT 100.64/10", "http://100.64.0.1/?c={sub1}",
             "refused: 100.64.0.1 is shared address space (CGNAT 100.64/10)"),
        fail(52, "multicast", "http://224.0.0.1/?c={sub1}", "refused: 224.0.0.1 is multicast"),
        fail(53, "broadcast", "http://255.255.255.255/?c={sub1}", "refused: 255.255.255.255 is broadcast"),
    ]

    static let names: [HostileURL] = [
        fail(60, "a name for metadata", "http://metadata.test/latest/meta-data/?c={sub1}", metadata),
        fail(61, "a name for metadata, trailing dot", "http://metadata.test./latest/meta-data/?c={sub1}", metadata),
        fail(62, "a name for metadata, upper case", "http://METADATA.TEST/latest/meta-data/?c={sub1}", metadata),
        fail(63, "a name for 10.0.0.1", "http://internal.test/?c={sub1}", "refused: 10.0.0.1 is private (RFC 1918)"),
        fail(64, "a name for fd00::1", "http://internal6.test/?c={sub1}", "refused: fd00::1 is unique-local (fc00::/7)"),
        fail(65, "localhost (curl answers it itself: 127.0.0.1, then ::1)", "http://localhost/?c={sub1}", loopback),
        fail(66, "a localhost-ish name", "http://localhost.test/?c={sub1}", loopback),
        fail(67, "a name for an IPv4-mapped metadata address", "http://mapped.test/?c={sub1}", mapped),
        fire(68, "a name for metadata and the partner: only the partner is connected", "http://mixed.test/r68?c={sub1}",
             "GET /r68?c=click-68 HTTP/1.1"),
        fail(69, "metadata with a trailing dot is a name, and resolves to nothing", "http://169.254.169.254./?c={sub1}",
             "DNS: could not resolve host: 169.254.169.254."),
        fail(70, "a 33-bit hex number is a name, and resolves to nothing", "http://0x1A9FEA9FE/?c={sub1}",
             "DNS: could not resolve host: 0x1A9FEA9FE"),
        fail(71, "metadata in full-width digits", "http://１６９．２５４．１６９．２５４/?c={sub1}", "malformed URL: "),
        fail(72, "metadata percent-encoded in the host (curl decodes it)", "http://%31%36%39.254.169.254/?c={sub1}", metadata),
        fail(73, "a .localhost name (curl answers it itself)", "http://metadata.localhost/?c={sub1}", loopback),
    ]

    static let userinfo: [HostileURL] = [
        fail(80, "userinfo before loopback", "http://good@127.0.0.1/?c={sub1}", loopback),
        fail(81, "the partner as userinfo before metadata", "http://192.0.2.10@169.254.169.254/?c={sub1}", metadata),
        fail(82, "the partner and port as userinfo", "http://192.0.2.10:80@169.254.169.254/?c={sub1}", metadata),
        fail(83, "the partner after a fragment", "http://169.254.169.254#@192.0.2.10/?c={sub1}", metadata),
        fail(84, "the partner after a query", "http://169.254.169.254?@192.0.2.10/&c={sub1}", metadata),
        fire(85, "metadata and a backslash as userinfo", #"http://169.254.169.254\@192.0.2.10/r85?c={sub1}"#,
             "GET /r85?c=click-85 HTTP/1.1"),
        fire(86, "metadata as userinfo", "http://169.254.169.254@192.0.2.10/r86?c={sub1}", "GET /r86?c=click-86 HTTP/1.1"),
        fail(87, "two @", "http://a@169.254.169.254@192.0.2.10/r87?c={sub1}", "malformed URL: "),
        fire(88, "a bracketed metadata address as userinfo", "http://[::ffff:169.254.169.254]@192.0.2.10/r88?c={sub1}",
             "GET /r88?c=click-88 HTTP/1.1"),
    ]

    static let redirects: [HostileURL] = [
        redirect(100, "302 to metadata", [Hop(status: 302, location: "http://169.254.169.254/latest/meta-data/")], metadata),
        redirect(101, "301 to a name for metadata", [Hop(status: 301, location: "http://metadata.test/latest/meta-data/")],
                 metadata),
        redirect(102, "303 to metadata, decimal", [Hop(status: 303, location: "http://2852039166/latest/meta-data/")], metadata),
        redirect(103, "307 to metadata, IPv4-mapped", [Hop(status: 307, location: "http://[::ffff:169.254.169.254]/")], mapped),
        redirect(104, "308 to [::1]", [Hop(status: 308, location: "http://[::1]/")], "refused: ::1 is loopback"),
        redirect(105, "302 to loopback", [Hop(status: 302, location: "http://127.0.0.1/")], loopback),
        redirect(106, "302 to 0", [Hop(status: 302, location: "http://0/")], "refused: 0.0.0.0 is unspecified"),
        redirect(107, "302 to a scheme-relative metadata URL", [Hop(status: 302, location: "//169.254.169.254/latest/meta-data/")],
                 metadata),
        redirect(108, "302 to the partner as userinfo before metadata",
                 [Hop(status: 302, location: "http://192.0.2.10@169.254.169.254/")], metadata),
        redirect(109, "302 to a name for 10.0.0.1", [Hop(status: 302, location: "http://internal.test/")],
                 "refused: 10.0.0.1 is private (RFC 1918)"),
        redirect(110, "302 to IPv6 link-local", [Hop(status: 302, location: "http://[fe80::1%25lo]/")],
                 "refused: fe80::1 is link-local"),
        redirect(111, "302 to file", [Hop(status: 302, location: "file:///etc/passwd")], "scheme not allowed: "),
        redirect(112, "302 to gopher", [Hop(status: 302, location: "gopher://127.0.0.1:80/_GET%20/latest/meta-data/")],
                 "scheme not allowed: "),
        redirect(113, "302 to dict", [Hop(status: 302, location: "dict://127.0.0.1:80/info")], "scheme not allowed: "),
        redirect(114, "302 to ftp", [Hop(status: 302, location: "ftp://169.254.169.254/")], "scheme not allowed: "),
        redirect(115, "three hops, the last to a name for metadata", [
            Hop(status: 302, location: "NEXT"), Hop(status: 301, location: "http://partner.test/r115/2"),
            Hop(status: 307, location: "http://metadata.test/latest/meta-data/"),
        ], metadata),
        redirect(116, "two hops, the last to file", [Hop(status: 302, location: "NEXT"), Hop(status: 302, location: "file:///etc/passwd")],
                 "scheme not allowed: "),
        redirect(117, "four hops: one more than followed", Array(repeating: Hop(status: 302, location: "NEXT"), count: 4),
                 "too many redirects: "),
        HostileURL(id: 118, what: "a hop back to the partner is followed", url: "http://192.0.2.10/r118/0?c={sub1}",
                   hops: [Hop(status: 302, location: "NEXT")], expected: .fired("GET /r118/1 HTTP/1.1")),
        HostileURL(id: 119, what: "a hop to a name for metadata and the partner reaches only the partner",
                   url: "http://192.0.2.10/r119/0?c={sub1}",
                   hops: [Hop(status: 302, location: "http://mixed.test/r119/1")], expected: .fired("GET /r119/1 HTTP/1.1")),
    ]

    /// Record values cannot change a URL's shape or add to the request: every byte outside
    /// RFC 3986's unreserved set arrives as %XX.
    static let values: [HostileURL] = [
        value(130, "CRLF and a header", ["sub1": "x\r\nX-Injected: 1"], "x%0D%0AX-Injected%3A%201"),
        value(131, "a second request", ["sub1": " HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\nGET /latest/meta-data/"],
              "%20HTTP%2F1.1%0D%0AHost%3A%20169.254.169.254%0D%0A%0D%0AGET%20%2Flatest%2Fmeta-data%2F"),
        value(132, "NUL, tab, DEL, ESC", ["sub1": "a\u{0}b\tc\u{7F}d\u{1B}e"], "a%00b%09c%7Fd%1Be"),
        value(133, "Unicode line breaks", ["sub1": "\u{85}\u{2028}\u{2029}"], "%C2%85%E2%80%A8%E2%80%A9"),
        value(134, "CRLF already percent-encoded", ["sub1": "%0D%0A"], "%250D%250A"),
        value(135, "URL delimiters", ["sub1": "@169.254.169.254/#?&="], "%40169.254.169.254%2F%23%3F%26%3D"),
        HostileURL(id: 136, what: "CRLF in the transaction id", url: "http://192.0.2.10/r136?c={sub1}&t={transaction_id}",
                   values: ["transaction_id": "t\r\nX-Injected: 2"],
                   expected: .fired("GET /r136?c=click-136&t=t%0D%0AX-Injected%3A%202 HTTP/1.1")),
    ]

    static let metadata = "refused: 169.254.169.254 is link-local"
    static let mapped = "refused: ::ffff:169.254.169.254 is link-local (IPv4-mapped 169.254.169.254)"
    static let loopback = "refused: 127.0.0.1 is loopback"

    static func load(_ id: Int, _ what: String, _ url: String, _ message: String) -> HostileURL {
        HostileURL(id: id, what: what, url: url, expected: .refusedAtLoad(message))
    }

    static func fail(_ id: Int, _ what: String, _ url: String, _ reason: String) -> HostileURL {
        HostileURL(id: id, what: what, url: url, expected: .failed(reason))
    }

    static func fire(_ id: Int, _ what: String, _ url: String, _ requestLine: String) -> HostileURL {
        HostileURL(id: id, what: what, url: url, expected: .fired(requestLine))
    }

    static func redirect(_ id: Int, _ what: String, _ hops: [Hop], _ reason: String) -> HostileURL {
        HostileURL(id: id, what: what, url: "http://192.0.2.10/r\(id)/0?c={sub1}", hops: hops, expected: .failed(reason))
    }

    static func value(_ id: Int, _ what: String, _ values: [String: String], _ encoded: String) -> HostileURL {
        HostileURL(id: id, what: what, url: "http://192.0.2.10/r\(id)?c={sub1}", values: values,
                   expected: .fired("GET /r\(id)?c=\(encoded) HTTP/1.1"))
    }

    // MARK: building the inputs

    /// One specific postback per row, on partner `id`, offer 1.
    static func catalog(_ rows: [HostileURL], post: Bool = false) throws -> String {
        let postbacks = rows.map { row -> [String: Any] in
            var entry: [String: Any] = ["id": row.id, "status": "active", "type": "conversion", "level": "specific", "partner_id": row.id,
                                        "offer_id": 1, "delivery": "postback", "url": row.url]
            if post {
                entry["method"] = "POST"
                entry["body"] = #"{"click": "{sub1}", "payout": {payout_amount}}"#
                entry["headers"] = ["X-Click": "{sub1}"]
                entry["signing_secret"] = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY="
            }
            return entry
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: ["postbacks": postbacks]), as: UTF8.self)
    }

    /// One conversion per row, JSON-escaped (CR, LF and NUL stay inside their strings).
    static func records(_ rows: [HostileURL]) throws -> String {
        try rows.map { row in
            var record: [String: Any] = ["kind": "conversion", "transaction_id": "row-\(row.id)", "partner_id": row.id,
                                         "offer_id": 1, "sub1": "click-\(row.id)"]
            for (k, v) in row.values { record[k] = v }
            return String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self) + "\n"
        }.joined()
    }

    /// The good partner's answers: `/r<id>/<i>` → hop i, "NEXT" being `/r<id>/<i+1>`.
    static func routes(_ rows: [HostileURL]) -> [String: (status: Int, location: String)] {
        var routes: [String: (status: Int, location: String)] = [:]
        for row in rows {
            for (i, hop) in row.hops.enumerated() {
                routes["/r\(row.id)/\(i)"] = (hop.status, hop.location == "NEXT" ? "/r\(row.id)/\(i + 1)" : hop.location)
            }
        }
        return routes
    }

    /// The row a request line belongs to: its path starts with /r<id>.
    static func row(of requestLine: String) -> Int {
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3, parts[1].hasPrefix("/r") else { return 0 }
        return Int(parts[1].dropFirst(2).prefix { $0.isNumber }) ?? 0
    }
}

/// What the spool says about each fire.
enum Outcomes {
    /// Ledger lines by postback id (one record per postback here): outcome and reason.
    static func ledger(_ text: String) -> [Int: (outcome: String, reason: String)] {
        var result: [Int: (outcome: String, reason: String)] = [:]
        for line in text.split(separator: "\n") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let pb = o["pb"] as? Int, let outcome = o["outcome"] as? String else { continue }
            result[pb] = (outcome, o["reason"] as? String ?? o["error"] as? String ?? "")
        }
        return result
    }

    /// Dead letters by postback id: their last error.
    static func deadLetters(_ files: [String]) -> [Int: String] {
        var result: [Int: String] = [:]
        for text in files {
            guard let o = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                let pb = o["postback_id"] as? Int else { continue }
            result[pb] = o["last_error"] as? String ?? ""
        }
        return result
    }
}
