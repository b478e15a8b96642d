import Foundation
import Glibc
import PostbackTestSupport
import Testing

@Suite("postbackd as a service: sd_notify, inotify, SIGHUP, SIGTERM", .serialized)
struct ServiceModeTests {
    /// The next notify datagram that contains `needle`, skipping STATUS/WATCHDOG chatter.
    static func expectNotify(_ receiver: DatagramReceiver, _ needle: String) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            guard let message = receiver.receive() else { return false }
            if message.contains(needle) { return true }
        }
        return false
    }

    @Test func readyFiresReloadsAndDrains() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?click={sub1}&t={transaction_id}"),
        ]))
        let notify = try DatagramReceiver(timeoutSeconds: 10)
        let daemon = try ProcessRunner.start(
            "postbackd", ["run", "--config", fixture.configPath],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000", "POSTBACKD_LOG_TARGET": "stderr"])
        defer { daemon.kill() }

        #expect(Self.expectNotify(notify, "READY=1"))
        // Live counters and the watchdog (WATCHDOG_USEC=2 s: a ping every second from the loop).
        #expect(Self.expectNotify(notify, "STATUS=fires/s "))
        #expect(Self.expectNotify(notify, "WATCHDOG=1"))

        // A file dropped by rename is fired at once (inotify), not at the next rescan.
        try fixture.drop("one.jsonl", conversion("t1", partner: 7, offer: 3) + "\n")
        #expect(eventually(2) { sink.stats.requests == 1 })
        #expect(eventually(5) { fixture.files(in: "active").isEmpty })

        // SIGHUP with a broken catalog: refused, the old one keeps serving.
        try fixture.writeCatalog("{\"postbacks\": [{\"id\": 1, \"url\": \"ftp://x\"}]}")
        daemon.signal(SIGHUP)
        #expect(Self.expectNotify(notify, "RELOADING=1"))
        #expect(Self.expectNotify(notify, "READY=1"))
        try fixture.drop("two.jsonl", conversion("t2", partner: 7, offer: 3) + "\n")
        #expect(eventually(5) { sink.stats.requests == 2 })
        #expect(sink.stats.uris.last == "/status/204?click=c&t=t2")

        // A valid catalog is taken on the next SIGHUP.
        try fixture.writeCatalog(catalogJSON([(1, 7, 3, "specific", "\(sink.base)/status/200?new={sub1}&t={transaction_id}")]))
        daemon.signal(SIGHUP)
        #expect(Self.expectNotify(notify, "READY=1"))
        try fixture.drop("three.jsonl", conversion("t3", partner: 7, offer: 3) + "\n")
        #expect(eventually(5) { sink.stats.requests == 3 })
        #expect(sink.stats.uris.last == "/status/200?new=c&t=t3")

        daemon.signal(SIGTERM)
        #expect(Self.expectNotify(notify, "STOPPING=1"))
        let status = daemon.wait(timeoutSeconds: 30)
        #expect(status == 0, "stderr: \(daemon.stderr)")
        #expect(daemon.stderr.contains("catalog \(fixture.catalogPath) refused"))
    }

    /// `done_retention` is kept by the running daemon: a finished file stays in done/ with its
    /// ledger for the retention, then goes, and so does a crashed writer's old tmp/ file.
    @Test func finishedFilesGoAfterTheirRetention() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?click={sub1}&t={transaction_id}"),
        ]), settings: ["done_retention": "2s", "rescan_interval": "200ms"])
        // A temp file a crashed writer left two days ago, and a fresh one a writer still holds.
        try FileManager.default.createDirectory(atPath: fixture.spool + "/tmp", withIntermediateDirectories: true)
        for name in ["abandoned.jsonl", "in-progress.jsonl"] {
            FileManager.default.createFile(atPath: fixture.spool + "/tmp/" + name, contents: Data("x\n".utf8))
        }
        let twoDaysAgo = Date().addingTimeInterval(-48 * 3600)
        try FileManager.default.setAttributes([.modificationDate: twoDaysAgo], ofItemAtPath: fixture.spool + "/tmp/abandoned.jsonl")

        let daemon = try ProcessRunner.start(
            "postbackd", ["run", "--config", fixture.configPath], environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        defer { daemon.kill() }
        try fixture.drop("kept.jsonl", conversion("t1", partner: 7, offer: 3) + "\n")
        #expect(eventually(5) { fixture.files(in: "done") == ["kept.jsonl", "kept.jsonl.ledger"] })
        #expect(fixture.files(in: "tmp").contains("in-progress.jsonl") && !fixture.files(in: "tmp").contains("abandoned.jsonl"))
        // Kept for the retention (2 s), gone within about twice that.
        usleep(1_000_000)
        #expect(fixture.files(in: "done").count == 2, "removed before its retention")
        #expect(eventually(6) { fixture.files(in: "done").isEmpty }, "done/: \(fixture.files(in: "done"))")
        #expect(fixture.files(in: "tmp") == ["in-progress.jsonl"])
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0, "stderr: \(daemon.stderr)")
    }

    @Test func sigtermMidLoadLosesNothing() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        // Slow answers so that fires are in flight when SIGTERM arrives.
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/delay/20?click={sub1}&t={transaction_id}"),
        ]), settings: ["max_concurrent": "8", "per_host": "8"])
        let count = 2000
        for f in 0..<20 {
            try fixture.drop("load-\(f).jsonl", (0..<(count / 20)).map { conversion("t\(f)-\($0)", partner: 7, offer: 3) }.joined(separator: "\n") + "\n")
        }
        let daemon = try ProcessRunner.start(
            "postbackd", ["run", "--config", fixture.configPath], environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        defer { daemon.kill() }
        #expect(eventually(10) { sink.stats.requests >= 50 })
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0, "stderr: \(daemon.stderr)")
        // A drain is not an error: the file it stopped in is released with a notice.
        #expect(daemon.stderr.contains("released part-way at shutdown"), "stderr: \(daemon.stderr.suffix(2000))")
        let errors = daemon.stderr.split(separator: "\n").filter { $0.hasPrefix("error ") }
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        let firstRun = sink.stats.requests
        #expect(firstRun < count, "the load should still have been running")

        // What was not fired is still in the spool; a second run fires the rest.
        let (summary, result) = try fixture.runOnce()
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let fired = Set(sink.stats.uris.map { String($0.split(separator: "&t=").last!) })
        #expect(fired.count == count, "every record fired at least once; first run \(firstRun), summary \(summary)")
        #expect(fixture.files(in: "incoming").isEmpty && fixture.files(in: "active").isEmpty)
    }
}
