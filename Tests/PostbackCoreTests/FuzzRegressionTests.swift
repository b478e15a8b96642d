@testable import PostbackCore
import Testing

/// Bugs caught by the fuzz targets' invariants (`Tests/Fuzz/`), each pinned by the smallest
/// input that shows it; the crashing input itself is kept in `Tests/Fuzz/corpus/<target>/crash-*`.
@Suite struct FuzzRegressionTests {
    /// `http://[::1]{sub1}/`: URLShape took everything after `]` as the port without a `:`, so
    /// a macro right after the bracket sat in neither host nor port and compiled; the record
    /// then wrote into the authority. It must be refused as a macro in the host.
    @Test func macroRightAfterAnIPv6BracketIsInTheHost() {
        #expect(throws: URLTemplate.Problems.self) { try URLTemplate.compile("http://[::1]{sub1}/") }
        do {
            _ = try URLTemplate.compile("http://[::1]{sub1}/")
        } catch {
            #expect(error.all.map(\.message).contains { $0.hasPrefix("macro {sub1} in the host") })
        }
        #expect(throws: URLTemplate.Problems.self) { try URLTemplate.compile("http://[::1]x{sub1}/?c={sub2}") }
    }

    /// The fix must not refuse well-formed IPv6 authorities.
    @Test func ipv6HostsWithAndWithoutPortStillCompile() throws {
        #expect(try URLTemplate.compile("http://[::1]:8080/pb?c={sub1}").hostKey == "[::1]:8080")
        #expect(try URLTemplate.compile("http://[::1]/pb?c={sub1}").hostKey == "[::1]")
        #expect(try URLTemplate.compile("http://[::1]?c={sub1}").hostKey == "[::1]")
    }

    /// Found while reviewing what the daemon does with hostile spool lines, not by the fuzzer:
    /// an unknown `kind` was echoed whole into the rejection reason, which the daemon logs for
    /// every line, so one long line made one log entry of the same size.
    @Test func anUnknownKindIsEchoedCutShort() {
        let kind = String(repeating: "k", count: 1 << 20)
        let line = "{\"kind\":\"\(kind)\",\"transaction_id\":\"t\",\"partner_id\":7,\"offer_id\":3}"
        guard case .failure(let failure) = RecordParser.parse(line: line) else {
            Issue.record("an unknown kind was accepted")
            return
        }
        #expect(failure.message == "kind: \"\(String(repeating: "k", count: 40))…\" is not one of conversion, event, click")
    }
}
