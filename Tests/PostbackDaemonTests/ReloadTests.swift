import Foundation
import Glibc
import PostbackTestSupport
import Testing

/// `systemctl reload` (SIGHUP) says what it does (DESIGN.md, Running under systemd): every
/// key marked "applied on reload" takes effect, each changed restart-only key is named in one
/// warning, and a refused reload names each problem and changes nothing. One daemon in service
/// mode, real signals, the effect of each key checked through what the daemon does.
@Suite("SIGHUP applies settings or names them", .serialized)
struct ReloadTests {
    /// The fixture's config with `settings` on top (rewritten in place before a SIGHUP).
    static func writeConfig(_ fixture: SpoolFixture, _ settings: [String: String]) throws {
        var all = [
            "spool": fixture.spool, "catalog": fixture.catalogPath, "state_directory": fixture.root.path + "/state",
            "allow_address": "127.0.0.0/8", "retry_base": "100ms", "retry_cap": "200ms", "rescan_interval": "1s",
            "log_level": "info",
        ]
        all.merge(settings) { $1 }
        let text = all.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: fixture.configPath))
    }

    /// SIGHUP, then wait for the READY=1 that ends the reload.
    static func reload(_ daemon: ProcessRunner.Child, _ notify: DatagramReceiver) -> Bool {
        daemon.signal(SIGHUP)
        return ServiceModeTests.expectNotify(notify, "RELOADING=1") && ServiceModeTests.expectNotify(notify, "READY=1")
    }

    static func lines(_ text: String, containing needle: String) -> [Substring] {
        text.split(separator: "\n").filter { $0.contains(needle) }
    }

    /// The due time (Unix ms) of each fire in deferred/, from its name `<due ms>-<id>.fire`.
    static func dueTimes(_ fixture: SpoolFixture) -> [Int64] {
        fixture.files(in: "deferred").compactMap { Int64($0.split(separator: "-").first ?? "") }
    }

    @Test func everyReloadKeyTakesEffectAndRestartKeysAreNamed() async throws {
        let ok = try await TestServer()
        let down = try await TestServer()  // answers 503: transient failures, its own breaker
        let flaky = try await TestServer()  // the same, for the max_attempts check
        defer { Task { await ok.stop(); await down.stop(); await flaky.stop() } }
        let catalog = catalogJSON([
            (1, 7, 3, "specific", "\(ok.base)/status/204?click={sub1}&t={transaction_id}"),
            (2, 8, 3, "specific", "\(down.base)/status/503?click={sub1}&t={transaction_id}"),
            (3, 9, 3, "specific", "\(flaky.base)/status/503?click={sub1}&t={transaction_id}"),
        ])
        let fixture = try SpoolFixture(catalog: catalog)
        defer { fixture.remove() }
        try Self.writeConfig(fixture, ["retry_base": "1h", "retry_cap": "1h"])
        let notify = try DatagramReceiver(timeoutSeconds: 10)
        let daemon = try ProcessRunner.start(
            "postbackd", ["run", "--config", fixture.configPath],
            environment: ["NOTIFY_SOCKET": notify.path, "POSTBACKD_LOG_TARGET": "stderr"])
        defer { daemon.kill() }
        #expect(ServiceModeTests.expectNotify(notify, "READY=1"))

        // Before: info level (no debug lines), a 5 KB file and a 300-byte line are fine.
        try fixture.drop("before.jsonl", conversion("b1", partner: 7, offer: 3) + "\n" + conversion("b2", partner: 1, offer: 1) + "\n")
        #expect(eventually(5) { ok.stats.requests == 1 && fixture.files(in: "active").isEmpty })
        #expect(Self.lines(daemon.stderr, containing: "debug ").isEmpty)

        // Reload 1: every kind of reload key changed at once, and three restart-only ones.
        try Self.writeConfig(fixture, [
            "retry_base": "10m", "retry_cap": "10m", "breaker_failures": "1", "breaker_cooldown": "1h",
            "log_level": "debug", "max_file_size": "4k", "max_line_size": "300", "done_retention": "1h",
            "max_concurrent": "8", "per_host": "4", "connect_timeout": "2s",
        ])
        #expect(Self.reload(daemon, notify))
        let warnings = Self.lines(daemon.stderr, containing: "settings that take effect at restart changed")
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.first?.contains("changed: max_concurrent, per_host, connect_timeout;") == true, "\(warnings)")
        #expect(daemon.stderr.contains("settings applied on reload: retry_base, retry_cap, max_file_size, max_line_size, "
            + "done_retention, breaker_failures, breaker_cooldown, log_level"), "\(daemon.stderr.suffix(1500))")

        // log_level: a record that matches nothing is now logged at debug.
        try fixture.drop("nomatch.jsonl", conversion("n1", partner: 1, offer: 1) + "\n")
        #expect(eventually(5) { daemon.stderr.contains("nomatch.jsonl line 1: no postback matches") })
        #expect(Self.lines(daemon.stderr, containing: "no postback matches").allSatisfy { $0.hasPrefix("debug ") })

        // retry_base/retry_cap: the deferred fire is due within 10 min, not within 200 ms nor 1 h
        // (full jitter: anywhere from now; later than 2 s but for a 1-in-300 draw).
        let sent = Int64(Date().timeIntervalSince1970 * 1000)
        try fixture.drop("down-1.jsonl", conversion("d1", partner: 8, offer: 3) + "\n")
        #expect(eventually(5) { Self.dueTimes(fixture).count == 1 })
        let due = Self.dueTimes(fixture).first ?? 0
        #expect(due <= sent + 600_000 + 5_000 && due >= sent, "due in \(due - sent) ms")

        // breaker_failures = 1: that one failure opened the host's breaker; the next fire to it
        // is held back unsent (breaker_cooldown = 1h keeps it open).
        try fixture.drop("down-2.jsonl", conversion("d2", partner: 8, offer: 3) + "\n")
        #expect(eventually(5) { Self.dueTimes(fixture).count == 2 })
        #expect(down.stats.requests == 1)
        let held = fixture.files(in: "deferred").map { fixture.read("deferred", $0) }
        #expect(held.contains { $0.contains("circuit breaker open for 127.0.0.1:\(down.port)") }, "\(held)")

        // max_file_size = 4k: a 5 KB file now goes to bad/ whole.
        let fiveK = (0..<60).map { conversion("big\($0)", partner: 7, offer: 3) }.joined(separator: "\n") + "\n"
        #expect(fiveK.utf8.count > 4096)
        try fixture.drop("big.jsonl", fiveK)
        #expect(eventually(5) { fixture.files(in: "bad").contains("big.jsonl.reason") })
        #expect(fixture.read("bad", "big.jsonl.reason").contains("the limit is 4096"))

        // max_line_size = 300 (and done_retention = 1h): the long line is rejected alone, the
        // file is kept in done/ with its ledger.
        let longLine = String(conversion("long", partner: 7, offer: 3).dropLast()) + ",\"pad\":\"" + String(repeating: "p", count: 300) + "\"}"
        try fixture.drop("lines.jsonl", conversion("l1", partner: 7, offer: 3) + "\n" + longLine + "\n")
        #expect(eventually(5) { fixture.files(in: "done").contains("lines.jsonl") })
        #expect(fixture.read("bad", "lines.jsonl.rejected").contains("longer than max_line_size (300 bytes)"))
        #expect(ok.stats.uris.contains("/status/204?click=c&t=l1"))

        // Reload 2: max_attempts = 1, so the next transient failure dead-letters at once.
        try Self.writeConfig(fixture, [
            "retry_base": "10m", "retry_cap": "10m", "breaker_failures": "20", "breaker_cooldown": "1h",
            "log_level": "debug", "max_file_size": "4k", "max_line_size": "300", "done_retention": "1h",
            "max_concurrent": "8", "per_host": "4", "connect_timeout": "2s", "max_attempts": "1",
        ])
        #expect(Self.reload(daemon, notify))
        try fixture.drop("flaky-1.jsonl", conversion("f1", partner: 9, offer: 3) + "\n")
        #expect(eventually(5) { fixture.files(in: "failed").count == 1 })
        #expect(fixture.files(in: "failed").map { fixture.read("failed", $0) }.first?.contains("gave up after 1 attempts") == true)
        // The restart-only keys are still named: they are still waiting for a restart.
        #expect(Self.lines(daemon.stderr, containing: "settings that take effect at restart changed").count == 2)

        // Reload 3, refused: three bad keys, each named on its own line; nothing changes, not
        // the settings in the file beside them (log_level, max_attempts) nor the catalog.
        try fixture.writeCatalog(catalogJSON([
            (1, 7, 3, "specific", "\(ok.base)/status/200?new={sub1}&t={transaction_id}"),
            (3, 9, 3, "specific", "\(flaky.base)/status/503?click={sub1}&t={transaction_id}"),
        ]))
        try Data("""
            spool = \(fixture.spool)
            catalog = \(fixture.catalogPath)
            max_attempts = lots
            log_level = info
            retry_base = soon
            brekaer_failures = 3

            """.utf8).write(to: URL(fileURLWithPath: fixture.configPath))
        #expect(Self.reload(daemon, notify))
        let refused = Self.lines(daemon.stderr, containing: "reload refused: ")
        #expect(refused.count == 3, "\(refused)")
        #expect(refused.contains { $0.contains("postbackd.conf:3: max_attempts: expected a whole number from 1 to 1000, got \"lots\"") })
        #expect(refused.contains { $0.contains("postbackd.conf:5: retry_base: expected a duration") })
        #expect(refused.contains { $0.contains("postbackd.conf:6: brekaer_failures: unknown setting (did you mean breaker_failures?)") })
        #expect(daemon.stderr.contains("settings refused on reload (3 problems), keeping the current settings and catalog"))
        try fixture.drop("after.jsonl", [conversion("a1", partner: 7, offer: 3), conversion("a2", partner: 9, offer: 3),
                                         conversion("a3", partner: 1, offer: 1)].joined(separator: "\n") + "\n")
        #expect(eventually(5) { fixture.files(in: "failed").count == 2 && fixture.files(in: "done").contains("after.jsonl") })
        #expect(ok.stats.uris.last == "/status/204?click=c&t=a1", "the old catalog keeps serving")
        #expect(daemon.stderr.contains("after.jsonl line 3: no postback matches"), "still at debug level")

        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0, "stderr: \(daemon.stderr.suffix(2000))")
    }
}
