import Testing

@testable import PostbackFiring

/// The pure halves of a destination: its slots and the slow-host rule, time passed in.
@Suite("PostbackFiringTests: Destination and the slow-host rule")
struct DestinationTests {
    @Test func slowWhenTheOldestUnansweredRequestIsLateAndUntilAnAnswerComesSooner() {
        var rule = SlowHostRule()
        #expect(!rule.isSlow(now: 10_000, after: 1000), "nothing sent: nothing to judge")
        rule.sent(at: 0)
        rule.sent(at: 500)
        #expect(!rule.isSlow(now: 999, after: 1000))
        #expect(rule.isSlow(now: 1000, after: 1000))
        rule.markSlow()
        rule.answered(now: 1500, after: 1000)  // the one sent at 0: 1.5 s, still slow
        #expect(rule.slow)
        #expect(rule.oldestSent == 500)
        rule.answered(now: 1400, after: 1000)  // the one sent at 500: 0.9 s, sooner
        #expect(!rule.slow)
        #expect(rule.oldestSent == nil)
    }

    @Test func slowOnlyWithEverySlotTaken() {
        var destination = Destination()
        let first = destination.takeIfFree(limit: 2)
        #expect(first)
        destination.slowness.sent(at: 0)
        #expect(!destination.isSlow(limit: 2, slowAfter: 1000, now: 5000), "a free slot: worth waiting for")
        let second = destination.takeIfFree(limit: 2), third = destination.takeIfFree(limit: 2)
        #expect(second && !third)
        #expect(destination.isSlow(limit: 2, slowAfter: 1000, now: 5000))
        let handedTo = destination.releaseOrHandOff(wasSent: true, slowAfter: 1000, now: 5000)
        #expect(handedTo == nil)
        #expect(destination.inUse == 1)
    }
}
