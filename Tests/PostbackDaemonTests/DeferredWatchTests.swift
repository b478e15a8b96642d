import Testing
@testable import PostbackDaemon

/// When the spool loop reads `deferred/` again (`DeferredWatch`): the rule is pure, the
/// clocks are the test's.
@Suite struct DeferredWatchTests {
    static let second: UInt64 = 1_000_000_000

    @Test func theFirstTurnLists() {
        #expect(DeferredWatch().needsListing(nowMillis: 0, monotonicNanos: 0, changed: false))
    }

    @Test func nothingDueAndNothingChangedListsNothingUntilTheBound() {
        var watch = DeferredWatch()
        watch.listed(nextDue: 10_000, monotonicNanos: 5 * Self.second)
        #expect(!watch.needsListing(nowMillis: 9_999, monotonicNanos: 5 * Self.second + 1, changed: false))
        let bound = 5 * Self.second + DeferredWatch.relistAfterNanos
        #expect(!watch.needsListing(nowMillis: 9_999, monotonicNanos: bound - 1, changed: false))
        #expect(watch.needsListing(nowMillis: 9_999, monotonicNanos: bound, changed: false),
                "inotify is read only while the loop waits: a busy loop still looks now and then")
    }

    @Test func aDueFireOrAChangeListsAtOnce() {
        var watch = DeferredWatch()
        watch.listed(nextDue: 10_000, monotonicNanos: 0)
        #expect(watch.needsListing(nowMillis: 10_000, monotonicNanos: 1, changed: false))
        #expect(watch.needsListing(nowMillis: 0, monotonicNanos: 1, changed: true))
    }

    @Test func anEmptyQueueWaitsForAChange() {
        var watch = DeferredWatch()
        watch.listed(nextDue: nil, monotonicNanos: 0)
        #expect(watch.nextDue == nil)
        #expect(!watch.needsListing(nowMillis: .max - 1, monotonicNanos: 1, changed: false))
        #expect(watch.needsListing(nowMillis: 0, monotonicNanos: 1, changed: true))
    }
}
