import Foundation
import PostbackTestSupport
import Testing

@testable import PostbackFiring

/// A fire for a host whose slots are all taken parks on its destination instead of blocking
/// the producer, as many as the host has slots; past that the producer waits, and gives up
/// once the host is slow.
@Suite("PostbackFiringTests: fires park on a full destination")
struct ParkingTests {
    @Test func aFullHostParksOneFireThenJudgesTheNextSlow() async throws {
        let server = try await TestServer()
        var configuration = testConfiguration(perHost: 1, totalTimeout: .seconds(20))
        configuration.queuedPerConnection = 0  // one slot for the host: one fire parks
        // Slow after 3 s, answers after 8: wide margins, so a loaded machine that runs this
        // test's steps late cannot turn the host slow before the second fire is submitted.
        configuration.slowHostAfter = .seconds(3)
        let engine = FiringEngine(configuration: configuration)
        let results = ResultBox()
        let slowURL = server.base + "/delay/8000"
        let parkedURL = server.base + "/status/204?parked"

        // The steps run on a thread of their own: a test task on the cooperative pool can be
        // held back for seconds by other tests that block it, which would let the slow answer
        // come between two steps.
        let steps = await onThread { () -> (first: Bool, second: Bool, doneAtSecond: Int, third: Bool, doneAtThird: Int) in
            let first = engine.submitUnlessHostSlow(FireRequest(url: slowURL)) { results.append($0) }
            let sentBy = ContinuousClock.now + .seconds(30)
            while server.stats.requests < 1 && ContinuousClock.now < sentBy { usleep(2_000) }
            // The host's one slot is busy for 8 s: this one parks and the call returns at
            // once, before the slow answer (an order, not a wall-clock bound).
            let second = engine.submitUnlessHostSlow(FireRequest(url: parkedURL)) { results.append($0) }
            let doneAtSecond = results.count
            // Parking is full: the third waits, and the host turns slow (its one request out
            // past slowHostAfter) before the 8 s answer comes: refused, for the caller to defer.
            let third = engine.submitUnlessHostSlow(FireRequest(url: server.base + "/status/204?third")) { results.append($0) }
            return (first, second, doneAtSecond, third, results.count)
        }
        #expect(steps.first)
        #expect(steps.second)
        #expect(steps.doneAtSecond == 0, "submitting the second fire waited for the first's answer")
        #expect(steps.third == false)
        #expect(steps.doneAtThird == 0, "the third fire was refused only after the first answered")

        // The parked fire goes out on the slot the slow answer frees.
        #expect(await waitUntil { results.count == 2 })
        #expect(results.all.map(\.url) == [slowURL, parkedURL])
        #expect(results.all.allSatisfy { $0.verdict.kind == .success })
        #expect(server.stats.requests == 2)
        #expect(server.stats.maxOpenRequests == 1)
        engine.shutdown()
        await server.stop()
    }

    @Test func shutdownSendsParkedFires() async throws {
        let server = try await TestServer()
        var configuration = testConfiguration(perHost: 1)
        configuration.queuedPerConnection = 0
        let engine = FiringEngine(configuration: configuration)
        let results = ResultBox()
        #expect(engine.submitUnlessHostSlow(FireRequest(url: server.base + "/delay/300")) { results.append($0) })
        #expect(engine.submitUnlessHostSlow(FireRequest(url: server.base + "/status/204")) { results.append($0) })
        // Parked fires hold their place in the engine: a shutdown lets them go out too.
        engine.shutdown()
        #expect(results.count == 2)
        #expect(results.all.allSatisfy { $0.verdict.kind == .success })
        await server.stop()
    }
}
