import PostbackCore
import Testing

@testable import PostbackFiring

/// The engine's per-host cap and slow-host rule key a fire by its expanded URL, the daemon's
/// breaker by its template: both through `HostKey`, so two spellings of one destination share
/// one cap (before, `https://example.com` and `https://example.com:443` each had a full one).
@Suite("PostbackFiringTests: one host key for cap, slow rule and breaker")
struct HostKeyAgreementTests {
    @Test(arguments: [
        ("https://example.com/pb?c=1", "HTTPS://Example.COM:443/pb?c=2"),
        ("http://example.com/pb?c=1", "http://example.com:80/pb?c=2"),
        ("http://[::1]/pb?c=1", "http://[::1]:80/pb?c=2"),
        ("http://u:p@partner.example:8080/pb", "http://partner.example:08080/x"),
    ])
    func twoSpellingsShareOneHostSlot(a: String, b: String) throws {
        let admission = Admission(globalLimit: 10, hostLimit: 1, runningGlobalLimit: 10, runningHostLimit: 1)
        #expect(admission.tryAcquire(host: FiringEngine.hostKey(a)) != nil)
        #expect(admission.tryAcquire(host: FiringEngine.hostKey(b)) == nil, "the host's one slot is taken")
        #expect(admission.tryAcquire(host: FiringEngine.hostKey("http://other.example/")) != nil)
        // The breaker's key (the template's) names the same destination as the cap's.
        let template = try URLTemplate.compile(b.replacingOccurrences(of: "c=2", with: "c={sub1}") + (b.contains("?") ? "" : "?c={sub1}"))
        #expect(template.hostKey == FiringEngine.hostKey(a))
    }
}
