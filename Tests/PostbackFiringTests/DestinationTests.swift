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
        let one = DriverShares(drivers: 1, running: 10, hostRunning: 2, hostSlots: 2)
        let pool = DriverShares.Counts(repeating: 0)
        var destination = Destination()
        let first = destination.takeIfFree(limit: 2, one, poolInUse: pool)
        #expect(first == 0)
        destination.slowness.sent(at: 0)
        #expect(!destination.isSlow(limit: 2, slowAfter: 1000, now: 5000), "a free slot: worth waiting for")
        let second = destination.takeIfFree(limit: 2, one, poolInUse: pool)
        let third = destination.takeIfFree(limit: 2, one, poolInUse: pool)
        #expect(second == 0 && third == nil)
        #expect(destination.isSlow(limit: 2, slowAfter: 1000, now: 5000))
        let handedTo = destination.releaseOrHandOff(driver: 0, wasSent: true, slowAfter: 1000, now: 5000)
        #expect(handedTo == nil)
        #expect(destination.inUse == 1)
    }

    /// The shares of every cap add up to the cap, so a host never gets more than `perHost`
    /// whatever drivers its fires land on; a driver gets at least one slot of each.
    @Test(arguments: [(2, 64, 16, 32), (2, 5, 3, 6), (4, 64, 2, 4), (8, 64, 64, 128), (2, 1, 1, 2)])
    func sharesAddUpToTheCaps(drivers: Int, running: Int, hostRunning: Int, hostSlots: Int) {
        let shares = DriverShares(drivers: drivers, running: running, hostRunning: hostRunning, hostSlots: hostSlots)
        #expect(shares.count == max(1, min(drivers, DriverShares.limit, running, hostRunning)))
        var sums = (0, 0, 0)
        for i in 0..<shares.count {
            #expect(shares.running[i] >= 1 && shares.hostRunning[i] >= 1 && shares.hostSlots[i] >= shares.hostRunning[i])
            sums.0 += shares.running[i]
            sums.1 += shares.hostRunning[i]
            sums.2 += shares.hostSlots[i]
        }
        #expect(sums == (running, hostRunning, hostSlots))
    }

    /// A host's fires stay on its preferred driver (its connections are there) while that
    /// driver has room, then go to the other; never past a driver's share of the host.
    @Test func aHostFillsItsPreferredDriverThenTheOther() {
        let shares = DriverShares(drivers: 2, running: 8, hostRunning: 4, hostSlots: 8)
        var pool = DriverShares.Counts(repeating: 0)
        var destination = Destination(preferredDriver: 1)
        var taken: [Int] = []
        while let driver = destination.takeIfFree(limit: 8, shares, poolInUse: pool) {
            taken.append(driver)
            pool[driver] += 1
        }
        #expect(taken == [1, 1, 1, 1, 0, 0, 0, 0], "its share of the host (4) on driver 1 first, then driver 0")
        #expect(destination.onDriver[0] == 4 && destination.onDriver[1] == 4 && destination.inUse == 8)
        // A slot freed on driver 0 is taken again on driver 0: the only one with room.
        #expect(destination.releaseOrHandOff(driver: 0, wasSent: true, slowAfter: 1000, now: 0) == nil)
        pool[0] -= 1
        #expect(destination.takeIfFree(limit: 8, shares, poolInUse: pool) == 0)
    }

    /// A host stays on its preferred driver even when that driver's share of the pool is
    /// busier (its connections are there); once the host's share there is full, its next
    /// fire goes to the driver whose pool has the most room.
    @Test func aHostKeepsItsDriverUntilItsShareThereIsFull() {
        let shares = DriverShares(drivers: 3, running: 9, hostRunning: 3, hostSlots: 6)
        var pool = DriverShares.Counts(repeating: 0)
        pool[0] = 6  // driver 0 runs more than its share (3) for other hosts
        pool[1] = 2
        pool[2] = 1
        var destination = Destination(preferredDriver: 0)
        #expect(destination.takeIfFree(limit: 6, shares, poolInUse: pool) == 0)
        #expect(destination.takeIfFree(limit: 6, shares, poolInUse: pool) == 0)
        #expect(destination.takeIfFree(limit: 6, shares, poolInUse: pool) == 2, "driver 2 has the most room in the pool")
    }
}
