import Foundation
import Glibc
import PostbackRedis
import PostbackTestSupport
import Testing

/// `source = redis` against real `redis-server` processes on loopback: several daemons on one
/// stream, a daemon killed, Redis killed, Redis away.
@Suite("the Redis Streams source against a real Redis", .serialized)
struct RedisSourceTests {
    static let stream = "postbackd:records"
    /// Records of the shared-stream test; the others use two fifths of it.
    /// `POSTBACKD_REDIS_RECORDS` changes it (the sanitizer runs shrink it).
    static let records = Int(ProcessInfo.processInfo.environment["POSTBACKD_REDIS_RECORDS"] ?? "") ?? 50_000

    /// One daemon's fixture: its own spool and state (unused by the source but required),
    /// the shared catalog, and the Redis settings.
    static func fixture(_ sink: TestServer, _ redis: RedisServer, consumer: String, claimIdle: String = "2s") throws -> SpoolFixture {
        try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?t={transaction_id}"),
        ]), settings: [
            "source": "redis", "redis_url": redis.url, "redis_consumer": consumer, "redis_claim_idle": claimIdle,
            "log_target": "stderr", "max_concurrent": "32", "per_host": "32",
        ])
    }

    /// Adds `count` records (`t<first>`...) to `stream`, a thousand per pipeline.
    static func add(_ count: Int, from first: Int = 0, to redis: RedisServer, stream: String = stream) throws {
        let connection = RedisConnection(host: "127.0.0.1", port: redis.port)
        var i = first
        while i < first + count {
            let batch = (i..<min(first + count, i + 1000)).map { n in
                ["XADD", stream, "*", "record", conversion("t\(n)", partner: 7, offer: 3)].map { Array($0.utf8) }
            }
            let replies = try connection.pipeline(batch)
            #expect(replies.allSatisfy { $0.errorMessage == nil })
            i += batch.count
        }
    }

    /// Entries of the stream still pending in the group (delivered, not acknowledged).
    static func pending(_ redis: RedisServer) -> Int {
        let out = (try? redis.cli(["XPENDING", stream, "postbackd"])) ?? ""
        return Int(out.split(separator: "\n").first.map(String.init) ?? "") ?? -1
    }

    static func start(_ fixture: SpoolFixture, environment: [String: String] = [:]) throws -> ProcessRunner.Child {
        try ProcessRunner.start("postbackd", ["run", "--config", fixture.configPath],
                                environment: environment.merging(["POSTBACKD_LOG_TARGET": "stderr"]) { $1 })
    }

    /// How often each transaction id reached the sink.
    static func firesPerRecord(_ sink: TestServer) -> [String: Int] {
        var counts: [String: Int] = [:]
        for uri in sink.stats.uris {
            guard let t = uri.split(separator: "=").last else { continue }
            counts[String(t), default: 0] += 1
        }
        return counts
    }

    @Test func threeDaemonsShareOneStreamAndFireEachRecordOnce() async throws {
        let redis = try RedisServer()
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let total = Self.records
        try Self.add(total, to: redis)
        let daemons = try (1...3).map { try Self.start(try Self.fixture(sink, redis, consumer: "d\($0)", claimIdle: "30s")) }
        defer { for d in daemons { d.kill() } }

        #expect(eventually(240, every: 0.5) { sink.stats.requests >= total && Self.pending(redis) == 0 },
                "fired \(sink.stats.requests) of \(total), \(Self.pending(redis)) pending")
        usleep(500_000)  // a late duplicate would arrive now
        let fires = Self.firesPerRecord(sink)
        #expect(fires.count == total)
        #expect(sink.stats.requests == total, "\(sink.stats.requests - total) fires more than records")
        #expect(fires.values.allSatisfy { $0 == 1 })
        for (n, d) in daemons.enumerated() {
            d.signal(SIGTERM)
            #expect(d.wait(timeoutSeconds: 30) == 0)
            let succeeded = d.stderr.components(separatedBy: "OUTCOME=succeeded").count - 1
            #expect(succeeded > 0, "daemon d\(n + 1) fired nothing: the group did not share the stream")
        }
    }

    @Test func aDaemonKilledMidRunLeavesNothingUnfiredAndRepeatsOnlyWhatItHeld() async throws {
        let redis = try RedisServer()
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let total = Self.records * 2 / 5
        try Self.add(total, to: redis)
        let killed = try Self.start(try Self.fixture(sink, redis, consumer: "killed"))
        let survivor = try Self.start(try Self.fixture(sink, redis, consumer: "survivor"))
        defer { killed.kill(); survivor.kill() }

        #expect(eventually(120, every: 0.05) { sink.stats.requests >= total / 4 })
        killed.kill()
        let firedAtKill = sink.stats.requests
        killed.wait(timeoutSeconds: 10)
        // What the dead consumer held, read before the survivor may take it over (2 s idle).
        let held = try redis.cli(["XPENDING", Self.stream, "postbackd", "-", "+", "100000", "killed"])
            .split(separator: "\n").map(String.init).filter { $0.contains("-") }
        var heldRecords: Set<String> = []
        for id in held {
            let entry = try redis.cli(["XRANGE", Self.stream, id, id])
            if let t = entry.range(of: "\"transaction_id\":\"") {
                heldRecords.insert(String(entry[t.upperBound...].prefix { $0 != "\"" }))
            }
        }
        #expect(!held.isEmpty, "the killed daemon held no entry: the kill came too late to test a takeover")

        #expect(eventually(120, every: 0.5) { Self.firesPerRecord(sink).count >= total && Self.pending(redis) == 0 },
                "\(Self.firesPerRecord(sink).count) of \(total) records fired, \(Self.pending(redis)) pending")
        usleep(500_000)
        let fires = Self.firesPerRecord(sink)
        #expect(fires.count == total, "every record fired at least once")
        let repeated = Set(fires.filter { $0.value > 1 }.keys)
        print("redis: killed a daemon holding \(held.count) entries at \(firedAtKill) fires; \(repeated.count) records fired twice")
        #expect(repeated.isSubset(of: heldRecords),
                "fired twice though the killed daemon did not hold them: \(repeated.subtracting(heldRecords).prefix(5))")
        #expect(survivor.stderr.contains("took over entry"))
    }

    /// A drain (SIGTERM, as at every deploy) in the middle of the stream: what the drained
    /// daemon had started it finishes and acknowledges, and what it had read but not started
    /// another takes over untouched. No fire goes twice: an entry released half-fired (its
    /// first postback out, its second not) would be fired again whole by the takeover.
    @Test func aDrainLeavesNoEntryHalfFiredForATakeoverToRepeat() async throws {
        let redis = try RedisServer()
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let total = Self.records / 5
        try Self.add(total, to: redis)
        func fixture(_ consumer: String) throws -> SpoolFixture {
            // Two postbacks per record and few slots: the planner mostly waits in a submit,
            // between a record's two fires, when the drain comes.
            try SpoolFixture(catalog: catalogJSON([
                (1, 7, 3, "specific", "\(sink.base)/status/204?pb=1&t={transaction_id}"),
                (2, 7, 3, "specific", "\(sink.base)/status/204?pb=2&t={transaction_id}"),
            ]), settings: [
                "source": "redis", "redis_url": redis.url, "redis_consumer": consumer, "redis_claim_idle": "1s",
                "log_target": "stderr", "max_concurrent": "4", "per_host": "4",
            ])
        }
        let drained = try Self.start(try fixture("drained"))
        defer { drained.kill() }
        #expect(eventually(60, every: 0.01) { sink.stats.requests >= 500 })
        drained.signal(SIGTERM)
        #expect(drained.wait(timeoutSeconds: 30) == 0, "stderr: \(drained.stderr.suffix(2000))")
        let firedAtDrain = sink.stats.requests
        #expect(firedAtDrain < 2 * total, "all fired before the drain: nothing was tested")
        let taker = try Self.start(try fixture("taker"))
        defer { taker.kill() }

        #expect(eventually(120, every: 0.5) { sink.stats.requests >= 2 * total && Self.pending(redis) == 0 },
                "\(sink.stats.requests) of \(2 * total) fires, \(Self.pending(redis)) pending")
        usleep(500_000)  // a late duplicate would arrive now
        var fires: [String: Int] = [:]
        for uri in sink.stats.uris {
            guard let query = uri.split(separator: "?").last else { continue }
            fires[String(query), default: 0] += 1
        }
        let repeated = fires.filter { $0.value > 1 }
        print("redis: drained at \(firedAtDrain) of \(2 * total) fires; \(repeated.count) fired twice")
        #expect(fires.count == 2 * total, "every fire of every record went")
        #expect(repeated.isEmpty, "fired twice after a clean drain: \(repeated.keys.sorted().prefix(5))")
    }

    @Test func redisKilledAndRestartedMidRunLosesNothing() async throws {
        let redis = try RedisServer()
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let total = Self.records * 2 / 5
        try Self.add(total, to: redis)
        let daemon = try Self.start(try Self.fixture(sink, redis, consumer: "one"))
        defer { daemon.kill() }

        #expect(eventually(120, every: 0.05) { sink.stats.requests >= total / 4 })
        redis.kill()
        let firedWhileUp = sink.stats.requests
        usleep(1_500_000)
        try redis.start()  // from its append-only file
        #expect(firedWhileUp < total, "all fired before Redis went down: nothing was tested")
        #expect(eventually(120, every: 0.5) { Self.firesPerRecord(sink).count >= total && Self.pending(redis) == 0 },
                "\(Self.firesPerRecord(sink).count) of \(total) records fired, \(Self.pending(redis)) pending")
        #expect(Self.firesPerRecord(sink).count == total)
        print("redis: killed Redis at \(firedWhileUp) of \(total) fires; after its restart \(sink.stats.requests - total) fired twice")
        #expect(try redis.cli(["XLEN", Self.stream]).hasPrefix("\(total)"))
        #expect(daemon.stderr.contains("redis unreachable"))
        #expect(daemon.stderr.contains("redis answers again"))
    }

    @Test func anUnreachableRedisMakesTheDaemonWaitAndSaySoThenGoOn() async throws {
        let redis = try RedisServer(start: false)
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let notify = try DatagramReceiver(timeoutSeconds: 10)
        let daemon = try Self.start(try Self.fixture(sink, redis, consumer: "waiting"),
                                    environment: ["NOTIFY_SOCKET": notify.path])
        defer { daemon.kill() }
        #expect(ServiceModeTests.expectNotify(notify, "STATUS=REDIS UNREACHABLE (redis://127.0.0.1:\(redis.port)"))
        #expect(daemon.stderr.contains("redis unreachable: redis://127.0.0.1:\(redis.port): cannot connect"))

        try redis.start()
        try Self.add(3, to: redis)
        #expect(eventually(20) { sink.stats.requests == 3 })
        #expect(ServiceModeTests.expectNotify(notify, "STATUS=fires/s"))
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0, "stderr: \(daemon.stderr.suffix(2000))")
        #expect(Self.pending(redis) == 0)
    }

    @Test func aClusterShardsStreamsOverItsNodesAndLosesNothingWhenOneStopsAndReturns() async throws {
        let cluster = try RedisCluster(nodes: 3)
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        // One stream per node: hash-tagged names, picked by the slot each lands in.
        var streams: [(name: String, node: RedisServer)] = []
        for i in 0..<100 where streams.count < 3 {
            let name = "{s\(i)}:records"
            let node = try cluster.node(holding: name)
            if !streams.contains(where: { $0.node === node }) { streams.append((name, node)) }
        }
        #expect(streams.count == 3, "found streams on \(streams.count) of 3 nodes")
        let perStream = max(1000, Self.records * 4 / 25 / 1000 * 1000)
        for (k, stream) in streams.enumerated() {
            let connection = RedisConnection(host: "127.0.0.1", port: stream.node.port)
            for first in stride(from: 0, to: perStream, by: 1000) {
                let replies = try connection.pipeline((first..<(first + 1000)).map { n in
                    ["XADD", stream.name, "*", "record", conversion("s\(k)-\(n)", partner: 7, offer: 3)].map { Array($0.utf8) }
                })
                #expect(replies.allSatisfy { $0.errorMessage == nil }, "\(replies.first { $0.errorMessage != nil }!)")
            }
        }
        let total = perStream * streams.count
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?t={transaction_id}"),
        ]), settings: [
            "source": "redis", "redis_url": cluster.urls, "redis_stream": streams.map(\.name).joined(separator: ","),
            "redis_consumer": "c1", "redis_claim_idle": "2s", "log_target": "stderr",
        ])
        let daemon = try Self.start(fixture)
        defer { daemon.kill() }

        #expect(eventually(120, every: 0.05) { sink.stats.requests >= total / 4 })
        let stopped = streams[1].node
        stopped.kill()  // kill -9; its append-only file has every write it answered
        let firedAtStop = sink.stats.requests
        usleep(2_000_000)
        try stopped.start()
        #expect(eventually(30, every: 0.2) { ((try? stopped.cli(["CLUSTER", "INFO"])) ?? "").contains("cluster_state:ok") })
        #expect(eventually(180, every: 0.5) { Self.firesPerRecord(sink).count >= total },
                "\(Self.firesPerRecord(sink).count) of \(total) records fired")
        for stream in streams {
            #expect(eventually(30, every: 0.5) {
                let out = (try? stream.node.cli(["XPENDING", stream.name, "postbackd"])) ?? ""
                return out.split(separator: "\n").first == "0"
            }, "entries of \(stream.name) still pending")
        }
        let fires = Self.firesPerRecord(sink)
        #expect(fires.count == total)
        print("redis cluster: stopped a node at \(firedAtStop) of \(total) fires; \(sink.stats.requests - total) fired twice")
        #expect(daemon.stderr.contains("redis unreachable"))
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0, "stderr: \(daemon.stderr.suffix(2000))")
    }

    /// A pattern for shards is held to a name's rule: `{shard*}:records` passes, `shard*:records`
    /// (whose matches could not keep their companions in their slot) is refused.
    @Test(arguments: [("postbackd:records", "postbackd:records"), ("{shard1}:records,{shard*}:records,shard*:records", "shard*:records")])
    func aClusterStreamOrPatternWithoutAHashTagIsRefusedAtStart(streams: String, refused: String) async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([(1, 7, 3, "specific", "\(sink.base)/status/204?t={transaction_id}")]), settings: [
            "source": "redis", "redis_url": "redis://127.0.0.1:1,redis://127.0.0.1:2", "redis_stream": streams,
        ])
        let result = try ProcessRunner.run("postbackd", ["run", "--config", fixture.configPath, "--once"],
                                           environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("in a cluster each stream needs a hash tag"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("not so: \(refused)\n"), "stderr: \(result.stderr)")
    }
}
