import Foundation
import Glibc
import PostbackRedis
import PostbackTestSupport
import Testing

/// `redis_stream` as a pattern for shards (`{shard*}:...`), against a real `redis-server` on
/// loopback: the shards there at start and one ingest adds later are read, and the companion
/// streams the same pattern matches (dead letters, rejected lines) never are. (An untagged
/// pattern in a cluster is refused at start: `RedisSourceTests`.)
@Suite("redis_stream as a pattern for shards", .serialized)
struct RedisStreamPatternTests {
    /// A daemon reading `redis_stream = <streams>`, firing every record at `sink`.
    static func start(_ sink: TestServer, _ redis: RedisServer, streams: String, consumer: String) throws -> ProcessRunner.Child {
        try RedisSourceTests.start(try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?t={transaction_id}"),
        ]), settings: [
            "source": "redis", "redis_url": redis.url, "redis_stream": streams, "redis_consumer": consumer,
            "log_target": "stderr",
        ]))
    }

    @Test func shardsThereAtStartAndAddedLaterAreReadAndCompanionStreamsNever() async throws {
        let redis = try RedisServer()
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        try RedisSourceTests.add(40, from: 0, to: redis, stream: "{shard1}:records")
        try RedisSourceTests.add(40, from: 1000, to: redis, stream: "{shard2}:records")
        // A bad line, so the daemon writes {shard1}:rejected itself while it runs.
        _ = try redis.cli(["XADD", "{shard1}:records", "*", "record", "not json"])
        // Companion streams that `{shard*}:*` matches, holding what would fire if they were
        // read as records.
        _ = try redis.cli(["XADD", "{shard1}:rejected", "*", "record", conversion("companion-rejected", partner: 7, offer: 3)])
        _ = try redis.cli(["XADD", "{shard2}:dead-letters", "*", "record", conversion("companion-dead", partner: 7, offer: 3)])
        // Another key the pattern matches that is no stream at all.
        _ = try redis.cli(["SET", "{shard3}:note", "not a stream"])
        let daemon = try Self.start(sink, redis, streams: "{shard*}:*", consumer: "p1")
        defer { daemon.kill() }

        #expect(eventually(30, every: 0.2) { sink.stats.requests >= 80 }, "fired \(sink.stats.requests) of 80; stderr: \(daemon.stderr.suffix(2000))")
        #expect(eventually(10, every: 0.2) { (try? redis.cli(["XLEN", "{shard1}:rejected"]))?.hasPrefix("2") == true },
                "the bad line was not rejected into {shard1}:rejected")

        // A third shard, made after the start: read within the rematch (every 5 s).
        let added = ContinuousClock.now
        try RedisSourceTests.add(40, from: 2000, to: redis, stream: "{shard3}:records")
        #expect(eventually(15, every: 0.2) { sink.stats.requests >= 120 },
                "fired \(sink.stats.requests) of 120: the shard added after the start was not read; stderr: \(daemon.stderr.suffix(2000))")
        let took = ContinuousClock.now - added
        print("redis_stream pattern: a shard added after the start was read within \(took)")
        #expect(took < .seconds(12))
        #expect(daemon.stderr.contains("reading {shard3}:records"))
        usleep(1_000_000)  // a companion read as records, or a repeat, would fire by now

        let fires = RedisSourceTests.firesPerRecord(sink)
        #expect(fires.count == 120)
        #expect(fires.values.allSatisfy { $0 == 1 })
        #expect(fires["companion-rejected"] == nil && fires["companion-dead"] == nil,
                "a companion stream was read as records")
        // Read as records, a companion would have got the group, and its entry (no records
        // in the daemon's sense) a rejection of its own; neither happened.
        for companion in ["{shard1}:rejected", "{shard2}:dead-letters"] {
            #expect(try redis.cli(["XINFO", "GROUPS", companion]).trimmingCharacters(in: .whitespacesAndNewlines) == "",
                    "\(companion) has a consumer group")
        }
        #expect(try redis.cli(["XLEN", "{shard1}:rejected"]).hasPrefix("2"))
        #expect(!daemon.stderr.contains("{shard3}:note"))
        for shard in ["{shard1}:records", "{shard2}:records", "{shard3}:records"] {
            #expect(try redis.cli(["XPENDING", shard, "postbackd"]).split(separator: "\n").first == "0", "\(shard) has entries pending")
        }
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0, "stderr: \(daemon.stderr.suffix(2000))")
    }

    /// Only a pattern, and no stream matches at start: the daemon waits (no error, no busy
    /// loop) and reads the first shard once it exists.
    @Test func aPatternMatchingNothingYetWaitsForTheFirstShard() async throws {
        let redis = try RedisServer()
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let daemon = try Self.start(sink, redis, streams: "{shard*}:records", consumer: "p2")
        defer { daemon.kill() }
        usleep(1_500_000)
        try RedisSourceTests.add(5, to: redis, stream: "{shard9}:records")
        #expect(eventually(15, every: 0.2) { sink.stats.requests >= 5 }, "fired \(sink.stats.requests) of 5; stderr: \(daemon.stderr.suffix(2000))")
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0, "stderr: \(daemon.stderr.suffix(2000))")
        #expect(!daemon.stderr.contains("redis unreachable"))
    }
}
