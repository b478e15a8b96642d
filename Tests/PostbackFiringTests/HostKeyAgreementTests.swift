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

    /// The breaker lives in the same `Destination` as the slots: a failure recorded under one
    /// spelling holds back the other, and the breaker outlives the host's last fire in flight.
    @Test func theBreakerIsTheDestinationsAndOutlivesItsFires() {
        let admission = Admission(globalLimit: 10, hostLimit: 2, runningGlobalLimit: 10, runningHostLimit: 2)
        admission.updateBreakers(.init(consecutiveFailures: 2, window: 10, failureRatio: 0.5, minimumSamples: 10, coolDown: .seconds(60)))
        let a = FiringEngine.hostKey("https://partner.example/pb?c=1")
        let b = FiringEngine.hostKey("HTTPS://Partner.Example:443/pb?c=2")
        #expect(admission.admitByBreaker(host: a) == .allow)
        #expect(admission.tryAcquire(host: a) != nil)
        admission.release(CollectionOfOne(FinishedSlot(host: a, driver: 0, wasSent: true)))
        admission.recordForBreaker(host: a, success: false, wasProbe: false)
        admission.recordForBreaker(host: b, success: false, wasProbe: false)
        guard case .reject = admission.admitByBreaker(host: b) else {
            Issue.record("two failures in a row, one under each spelling, open the one breaker")
            return
        }
        #expect(admission.openBreakerHosts == ["partner.example"])
        #expect(admission.admitByBreaker(host: FiringEngine.hostKey("http://other.example/")) == .allow)
        // Its slots still work, and giving the last one back keeps the breaker.
        #expect(admission.tryAcquire(host: b) != nil)
        admission.release(CollectionOfOne(FinishedSlot(host: b, driver: 0, wasSent: false)))
        #expect(admission.openBreakerHosts == ["partner.example"])
        #expect(admission.inFlight == 0)
    }
}
