import Testing

@testable import PostbackCore

/// A clock reading the tests move by hand.
struct FakeInstant: InstantProtocol, Sendable {
    var offset: Duration
    func advanced(by duration: Duration) -> FakeInstant { FakeInstant(offset: offset + duration) }
    func duration(to other: FakeInstant) -> Duration { other.offset - offset }
    static func < (a: FakeInstant, b: FakeInstant) -> Bool { a.offset < b.offset }
    static func seconds(_ s: Int64) -> FakeInstant { FakeInstant(offset: .seconds(s)) }
}

typealias Breaker = CircuitBreaker<FakeInstant>

@Suite("CircuitBreaker")
struct CircuitBreakerTests {
    let t0 = FakeInstant.seconds(0)

    @Test func opensAfterTwentyFailuresInARow() {
        var breaker = Breaker()
        for i in 0..<19 {
            breaker.record(success: false, now: t0)
            #expect(breaker.phase == .closed, "still closed after \(i + 1) failures")
        }
        breaker.record(success: false, now: t0)
        #expect(breaker.phase == .open(until: .seconds(60)))
        #expect(breaker.admit(now: .seconds(59)) == .reject(until: .seconds(60)))
    }

    @Test func aSuccessResetsTheRun() {
        var breaker = Breaker()
        for _ in 0..<19 { breaker.record(success: false, now: t0) }
        breaker.record(success: true, now: t0)
        for _ in 0..<19 { breaker.record(success: false, now: t0) }
        #expect(breaker.phase == .closed)
    }

    @Test func opensOnMoreThanHalfOfTheWindow() {
        var breaker = Breaker()
        // Alternate failure, failure, success: 2/3 fail, never 20 in a row.
        var opened = 0
        for i in 0..<100 where breaker.phase == .closed {
            breaker.record(success: i % 3 == 2, now: t0)
            opened = i + 1
        }
        // The minimum sample (50) holds it closed until then.
        #expect(opened == 50)
        #expect(breaker.phase == .open(until: .seconds(60)))
    }

    @Test func exactlyHalfDoesNotOpen() {
        var breaker = Breaker()
        for i in 0..<300 { breaker.record(success: i % 2 == 0, now: t0) }
        #expect(breaker.phase == .closed)
    }

    @Test func theWindowSlides() {
        var breaker = Breaker()
        for i in 0..<100 { breaker.record(success: i % 20 < 11, now: t0) }  // 45 of 100 fail
        #expect(breaker.phase == .closed)
        for _ in 0..<100 { breaker.record(success: true, now: t0) }  // the old failures slide out
        for _ in 0..<19 { breaker.record(success: false, now: t0) }
        breaker.record(success: true, now: t0)
        for _ in 0..<19 { breaker.record(success: false, now: t0) }
        breaker.record(success: true, now: t0)
        for _ in 0..<12 { breaker.record(success: false, now: t0) }
        #expect(breaker.phase == .closed, "50 of the last 100 failed: not more than half")
        breaker.record(success: false, now: t0)
        #expect(breaker.phase == .open(until: .seconds(60)), "51 of the last 100 failed")
    }

    @Test func halfOpenLetsOneProbeThroughAndSuccessCloses() {
        var breaker = open()
        #expect(breaker.admit(now: .seconds(60)) == .probe)
        #expect(breaker.admit(now: .seconds(61)) == .reject(until: .seconds(120)))
        breaker.record(success: true, now: .seconds(62), wasProbe: true)
        #expect(breaker.phase == .closed)
        #expect(breaker.admit(now: .seconds(62)) == .allow)
        // The window starts over: 19 failures do not reopen it.
        for _ in 0..<19 { breaker.record(success: false, now: .seconds(63)) }
        #expect(breaker.phase == .closed)
    }

    @Test func aFailedProbeReopens() {
        var breaker = open()
        #expect(breaker.admit(now: .seconds(70)) == .probe)
        breaker.record(success: false, now: .seconds(71), wasProbe: true)
        #expect(breaker.phase == .open(until: .seconds(131)))
        #expect(breaker.admit(now: .seconds(100)) == .reject(until: .seconds(131)))
    }

    @Test func lateOutcomesOfEarlierFiresDoNotDecide() {
        var breaker = open()
        breaker.record(success: true, now: .seconds(1))
        #expect(breaker.phase == .open(until: .seconds(60)))
        #expect(breaker.admit(now: .seconds(60)) == .probe)
        breaker.record(success: true, now: .seconds(61))
        #expect(breaker.phase == .halfOpen(probeSentAt: .seconds(60)))
    }

    @Test func aLostProbeIsReplacedAfterACoolDown() {
        var breaker = open()
        #expect(breaker.admit(now: .seconds(60)) == .probe)
        #expect(breaker.admit(now: .seconds(119)) == .reject(until: .seconds(120)))
        #expect(breaker.admit(now: .seconds(120)) == .probe)
    }

    @Test func configurationIsHonoured() {
        var breaker = Breaker(configuration: .init(consecutiveFailures: 3, window: 10, minimumSamples: 4, coolDown: .seconds(5)))
        for _ in 0..<3 { breaker.record(success: false, now: t0) }
        #expect(breaker.phase == .open(until: .seconds(5)))
    }

    private func open() -> Breaker {
        var breaker = Breaker()
        for _ in 0..<20 { breaker.record(success: false, now: t0) }
        #expect(breaker.phase == .open(until: .seconds(60)))
        return breaker
    }
}
