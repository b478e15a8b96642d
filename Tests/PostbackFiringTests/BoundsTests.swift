import PostbackTestSupport
import Dispatch
import Foundation
import PostbackCore
import Synchronization
import Testing

@testable import PostbackFiring

/// The caps, backpressure and keep-alive, seen from the server's side.
@Suite("PostbackFiringTests: bounds and connection reuse")
struct BoundsTests {
    /// With two drivers the caps are split between them: the server still sees no more.
    @Test(arguments: [(16, 3, 1), (3, 8, 1), (16, 3, 2), (3, 8, 2), (16, 5, 2)])
    func neverMoreThanTheCapAtOnce(maxConcurrent: Int, perHost: Int, drivers: Int) async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration(maxConcurrent: maxConcurrent, perHost: perHost, drivers: drivers))
        let cap = min(maxConcurrent, perHost)
        let kinds = await withTaskGroup(of: FireVerdict.Kind.self) { group in
            for _ in 0..<40 {
                group.addTask { await engine.fire(url: server.base + "/delay/20").verdict.kind }
            }
            return await group.reduce(into: [FireVerdict.Kind]()) { $0.append($1) }
        }
        #expect(kinds.count == 40)
        #expect(kinds.allSatisfy { $0 == .success })
        #expect(server.stats.maxOpenRequests <= cap)
        #expect(server.stats.maxOpenRequests >= 2, "fires did run side by side")
        #expect(server.stats.maxOpenConnections <= cap)
        #expect(engine.inFlight == 0)
        engine.shutdown()
        await server.stop()
    }

    @Test(arguments: [1, 2])
    func submitBlocksTheProducerAndReusesConnections(drivers: Int) async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration(maxConcurrent: 8, perHost: 4, drivers: drivers))
        let results = ResultBox()
        let total = 400
        let url = server.base + "/status/204"
        DispatchQueue.global().async {
            for _ in 0..<total {
                engine.submit(FireRequest(url: url)) { results.append($0) }
            }
        }
        #expect(await waitUntil { results.count == total })
        #expect(results.all.allSatisfy { $0.verdict.kind == .success })
        #expect(server.stats.requests == total)
        #expect(server.stats.maxOpenRequests <= 4)
        #expect(server.stats.accepted <= 4, "keep-alive: \(server.stats.accepted) connections for \(total) fires")
        engine.shutdown()
        await server.stop()
    }

    /// Three hosts, two drivers, a pool no larger than two hosts' slots: fires parked on a
    /// full host get their host slot on one driver, then wait for a pool slot behind a fire of
    /// the third host, and get it when a fire ends on the other driver (the hand-off between
    /// drivers). The daemon's way in (`submitUnlessHostSlow`). None is lost, no cap is passed.
    @Test func slotsFreedOnOneDriverGoToFiresParkedForTheOther() async throws {
        var servers: [TestServer] = []
        var configuration = testConfiguration(maxConcurrent: 4, perHost: 2, drivers: 2)
        for host in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
            servers.append(try await TestServer(host: host))
            configuration.addressRules.allowList.append(CIDR(host + "/32")!)
        }
        let engine = FiringEngine(configuration: configuration)
        let results = ResultBox()
        let total = 900
        let bases = servers.map(\.base)
        let setAside = await onThread { () -> Int in
            var setAside = 0
            for i in 0..<total {
                // Mostly the first two hosts, so they fill and park; now and then the third,
                // whose fire then holds a host slot and waits for a pool slot ahead of them.
                let url = bases[i % 7 == 6 ? 2 : i % 2] + "/delay/2"
                if !engine.submitUnlessHostSlow(FireRequest(url: url), completion: { results.append($0) }) { setAside += 1 }
            }
            return setAside
        }
        #expect(setAside == 0, "a healthy host was found slow")
        #expect(await waitUntil { results.count == total }, "\(results.count) of \(total) fires ended")
        #expect(results.all.allSatisfy { $0.verdict.kind == .success })
        #expect(servers.map(\.stats.requests).reduce(0, +) == total)
        for server in servers {
            #expect(server.stats.maxOpenRequests <= 2 && server.stats.maxOpenConnections <= 2)
        }
        #expect(engine.inFlight == 0)
        engine.shutdown()
        for server in servers { await server.stop() }
    }

    @Test func oneSlowHostDoesNotHoldBackAnother() async throws {
        let slow = try await TestServer()
        let fast = try await TestServer(host: "127.0.0.2")
        var configuration = testConfiguration(maxConcurrent: 4, perHost: 2)
        configuration.addressRules.allowList.append(CIDR("127.0.0.2/32")!)
        let engine = FiringEngine(configuration: configuration)
        let slowEnded = ResultBox()
        // The whole sequence runs on threads of its own: on the Swift concurrency pool, which
        // other tests hold in blocking waits, a step could be seen seconds late, after the
        // hanging fires had timed out, and the test would say nothing about the engine.
        let (hungAtSubmit, endedAtSubmit, endedAtAnswer, fastResult) = await onThread {
            // Fill the slow host's share with fires that hang (until the 5 s total timeout);
            // the submits past its slots wait on their own thread, as the daemon's producer would.
            Thread {
                for _ in 0..<6 { engine.submit(FireRequest(url: slow.base + "/hang")) { slowEnded.append($0) } }
            }.start()
            _ = eventually(30, every: 0.001) { slow.stats.requests >= 2 }
            let hung = slow.stats.requests
            let endedAtSubmit = slowEnded.count
            // Counted where the driver hands the outcome back, so it is an order (no hanging
            // fire ended while the fast one was out), not a wall-clock bound.
            let answered = DispatchSemaphore(value: 0)
            let endedAtAnswer = Mutex<Int>(-1)
            let fastResult = ResultBox()
            engine.submit(FireRequest(url: fast.base + "/status/204")) { result in
                endedAtAnswer.withLock { $0 = slowEnded.count }
                fastResult.append(result)
                answered.signal()
            }
            _ = answered.wait(timeout: .now() + 30)
            return (hung, endedAtSubmit, endedAtAnswer.withLock { $0 }, fastResult.all.first)
        }
        #expect(hungAtSubmit == 2 && endedAtSubmit == 0,
                "the fast fire went out beside \(hungAtSubmit) hanging requests with \(endedAtSubmit) already ended")
        #expect(fastResult?.verdict.kind == .success)
        #expect(endedAtAnswer == endedAtSubmit, "the fast fire waited for hanging fires to time out")
        #expect(slow.stats.maxOpenRequests == 2)
        engine.shutdown()  // the hanging fires end at the total timeout
        #expect(await waitUntil { slowEnded.count == 6 })
        await slow.stop()
        await fast.stop()
    }

    @Test(arguments: [0, 1])
    func trySubmitSaysNoInsteadOfWaiting(queuedPerConnection: Int) async throws {
        let server = try await TestServer()
        var configuration = testConfiguration(perHost: 1, totalTimeout: .seconds(1))
        configuration.queuedPerConnection = queuedPerConnection
        let engine = FiringEngine(configuration: configuration)
        let results = ResultBox()
        let url = server.base + "/hang"
        let accepted = 1 + queuedPerConnection
        for _ in 0..<accepted {
            #expect(engine.trySubmit(FireRequest(url: url)) { results.append($0) })
        }
        #expect(!engine.trySubmit(FireRequest(url: url)) { results.append($0) })
        #expect(await waitUntil { results.count == accepted })
        #expect(results.all.allSatisfy { $0.verdict.kind == .transient })
        #expect(engine.trySubmit(FireRequest(url: server.base + "/status/204")) { results.append($0) })
        #expect(await waitUntil { results.count == accepted + 1 })
        engine.shutdown()
        await server.stop()
    }

    @Test func shutdownLetsFiresInFlightFinish() async throws {
        let server = try await TestServer()
        let engine = FiringEngine(configuration: testConfiguration())
        let results = ResultBox()
        for _ in 0..<5 {
            engine.submit(FireRequest(url: server.base + "/delay/100")) { results.append($0) }
        }
        engine.shutdown()
        #expect(results.count == 5)
        #expect(results.all.allSatisfy { $0.verdict.kind == .success })
        await server.stop()
    }
}
