import Foundation
import Glibc
@testable import PostbackDaemon
import PostbackRedis
import PostbackSpool
import PostbackTestSupport
import Testing

/// Auto-pauses with `source = redis`: kept in the hash `postbackd:paused`, shared by every
/// daemon of the group, against a real `redis-server` and real daemons.
@Suite("auto-pauses shared through Redis", .serialized)
struct RedisPauseTests {
    static let pausedKey = "postbackd:paused"

    /// Postback 1 always fails permanently (404), postback 2 always succeeds: each record
    /// fires both.
    static func fixture(_ sink: TestServer, _ redis: RedisServer, consumer: String) throws -> SpoolFixture {
        try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/404?t={transaction_id}"),
            (2, 7, 3, "specific", "\(sink.base)/status/204?t={transaction_id}"),
        ]), settings: [
            "source": "redis", "redis_url": redis.url, "redis_consumer": consumer, "redis_claim_idle": "30s",
            "log_target": "stderr",
        ])
    }

    static func fired(_ sink: TestServer, status: Int) -> Int {
        sink.stats.uris.filter { $0.hasPrefix("/status/\(status)?") }.count
    }

    static func pausedField(_ redis: RedisServer, _ id: Int) -> String {
        ((try? redis.cli(["HGET", pausedKey, String(id)])) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func ctl(_ arguments: [String]) throws -> ProcessRunner.Result {
        try ProcessRunner.run("postbackctl", arguments, environment: ["PATH": "/usr/bin:/bin"])
    }

    @Test func aPauseByOneDaemonStopsTheOtherAndResumeLiftsItOnBoth() async throws {
        let redis = try RedisServer()
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixtures = try ["a", "b"].map { try Self.fixture(sink, redis, consumer: $0) }
        let daemons = try fixtures.map { try RedisSourceTests.start($0) }
        defer { for d in daemons { d.kill() } }

        // One record at a time, each fired (both postbacks) before the next, until one daemon
        // has seen ten 404s of postback 1 in a row and paused it.
        var sent = 0
        func send() throws {
            try RedisSourceTests.add(1, from: sent, to: redis)
            sent += 1
        }
        while sent < 40 && Self.pausedField(redis, 1).isEmpty {
            try send()
            #expect(eventually(20) { Self.fired(sink, status: 204) == sent }, "record \(sent) not fired")
            _ = eventually(0.3) { !Self.pausedField(redis, 1).isEmpty }
        }
        let entry = Self.pausedField(redis, 1)
        #expect(entry.hasPrefix("{\"id\":1,\"since_ms\":") && entry.contains("10 permanent failures in a row, the last: HTTP 404"), "\(entry)")
        #expect((10...19).contains(sent), "paused after \(sent) records")
        let pausers = (0..<2).filter { daemons[$0].stderr.contains("postback 1 paused: ") }
        try #require(pausers.count == 1, "daemons that paused postback 1: \(pausers)")
        let (pauser, other) = (pausers[0], 1 - pausers[0])

        // The other daemon reads the hash on its timer and stops firing postback 1.
        #expect(eventually(10) { daemons[other].stderr.contains("postback 1 paused by another daemon: 10 permanent failures") })
        let failedAtPause = Self.fired(sink, status: 404)
        let otherSucceeded = { daemons[other].stderr.components(separatedBy: "OUTCOME=succeeded").count - 1 }
        let otherBefore = otherSucceeded()
        for _ in 0..<30 where otherSucceeded() < otherBefore + 3 {
            try send()
            #expect(eventually(20) { Self.fired(sink, status: 204) == sent })
        }
        #expect(otherSucceeded() >= otherBefore + 3, "the other daemon fired no records after the pause: nothing was tested")
        #expect(Self.fired(sink, status: 404) == failedAtPause, "postback 1 fired while paused")

        // postbackctl, pointed at the other daemon's config, reads the pause from Redis.
        let otherFixture = fixtures[other]
        let list = try Self.ctl(["list", "--catalog", otherFixture.catalogPath, "--config", otherFixture.configPath, "--columns", "id,status"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("\n1   paused (auto)\n2   active\n"), "\(list.stdout)")

        let resume = try Self.ctl(["resume", "1", "--config", otherFixture.configPath])
        #expect(resume.status == 0, "\(resume.stderr)")
        #expect(resume.stdout.hasPrefix("postback 1: auto-pause lifted (paused since "), "\(resume.stdout)")
        #expect(resume.stdout.contains("10 permanent failures in a row"))
        #expect(Self.pausedField(redis, 1).isEmpty)
        // The pauser got no signal (another state directory): its timer lifts it.
        #expect(eventually(10) { daemons[pauser].stderr.contains("postback 1: auto-pause lifted") })
        #expect(eventually(10) { daemons[other].stderr.contains("postback 1: auto-pause lifted") })
        try send()
        #expect(eventually(20) { Self.fired(sink, status: 404) == failedAtPause + 1 }, "postback 1 still paused after resume")
        let after = try Self.ctl(["list", "--catalog", otherFixture.catalogPath, "--config", otherFixture.configPath, "--columns", "id,status"])
        #expect(after.stdout.contains("\n1   active\n"), "\(after.stdout)")

        for d in daemons {
            d.signal(SIGTERM)
            #expect(d.wait(timeoutSeconds: 30) == 0, "stderr: \(d.stderr.suffix(2000))")
        }
    }

    /// `--once` writes the pause it made before exiting, and a later run reads it at start.
    @Test func onceWritesItsPauseAndTheNextRunHonoursIt() async throws {
        let redis = try RedisServer()
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try Self.fixture(sink, redis, consumer: "once")
        try RedisSourceTests.add(10, to: redis)
        let first = try fixture.runOnce(environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        #expect(first.summary["records"] == 10 && first.summary["fires"] == 20 && first.summary["succeeded"] == 10,
                "\(first.result.stdout) \(first.result.stderr.suffix(2000))")
        #expect(Self.pausedField(redis, 1).contains("10 permanent failures in a row"))
        #expect(!FileManager.default.fileExists(atPath: fixture.root.path + "/state/paused.json"), "source = redis wrote paused.json")

        try RedisSourceTests.add(2, from: 10, to: redis)
        let second = try fixture.runOnce(environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        #expect(second.summary["records"] == 2 && second.summary["fires"] == 2 && second.summary["succeeded"] == 2,
                "\(second.result.stdout) \(second.result.stderr.suffix(2000))")
        #expect(Self.fired(sink, status: 404) == 10)
    }

    @Test func aFreshReadSaysWhatChangedElsewhere() {
        typealias Entry = PausedPostbacksFile.Entry
        let a = Entry(id: 1, sinceMs: 100, reason: "x")
        let b = Entry(id: 2, sinceMs: 200, reason: "y")
        let merged = PausedChange.merge([b, Entry(id: 2, sinceMs: 150, reason: "earlier"), a], unsaved: [Entry(id: 3, sinceMs: 5, reason: "mine"), Entry(id: 1, sinceMs: 1, reason: "no")])
        #expect(merged == [1: a, 2: Entry(id: 2, sinceMs: 150, reason: "earlier"), 3: Entry(id: 3, sinceMs: 5, reason: "mine")])
        let change = PausedChange(from: [1: a, 4: Entry(id: 4, sinceMs: 1, reason: nil)], to: merged)
        #expect(change.paused.map(\.id) == [2, 3])
        #expect(change.lifted == [4])
    }
}
