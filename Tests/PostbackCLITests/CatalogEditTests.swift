import Foundation
import Glibc
import PostbackTestSupport
import Testing

@Suite("postbackctl add, edit, pause, resume: validated, atomic, .bak kept, daemon reloaded", .serialized)
struct CatalogEditTests {
    let one = entry(1, url: "https://a.example/pb?click={sub1}", description: "Acme")
    let two = entry(2, partner: 8, offer: nil, level: "global", url: "https://b.example/pb?t={transaction_id}")

    func fixture() throws -> OperatorFixture {
        try OperatorFixture(catalog: catalogText([one, two]))
    }

    func dotFiles(_ f: OperatorFixture) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: f.root)) ?? []).filter { $0.hasPrefix(".") }
    }

    @Test func addPicksTheNextIdAndKeepsTheOthers() throws {
        let f = try fixture()
        let before = f.read(f.catalogPath)
        let r = try f.ctl(["add", "--catalog", f.catalogPath, "--type", "conversion", "--level", "specific", "--partner", "9",
                           "--offer", "4", "--url", "https://c.example/pb?click={sub2}", "--description", "Cee", "--author", "partner",
                           "--no-reload"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "postback 3: added to \(f.catalogPath)\n")
        #expect(f.read(f.catalogPath) == catalogText([one, two, entry(3, partner: 9, offer: 4, url: "https://c.example/pb?click={sub2}",
                                                                     description: "Cee", author: "partner")]))
        #expect(f.read(f.catalogPath + ".bak") == before)
        #expect(dotFiles(f).isEmpty)
        #expect(try f.ctl(["validate", f.catalogPath]).status == 0)
    }

    @Test func anInvalidAddPrintsTheDaemonsProblemsAndTouchesNothing() throws {
        let f = try fixture()
        // A first good edit, so there is a .bak to keep unchanged too.
        #expect(try f.ctl(["edit", "1", "--catalog", f.catalogPath, "--description", "Acme 2", "--no-reload"]).status == 0)
        let catalog = f.read(f.catalogPath)
        let backup = f.read(f.catalogPath + ".bak")
        let r = try f.ctl(["add", "--catalog", f.catalogPath, "--id", "7", "--type", "conversion", "--level", "global_offer",
                           "--partner", "7", "--url", "https://{sub1}.example/pb?c={sbu1}", "--no-reload"])
        #expect(r.status == 1)
        #expect(r.stdout == "")
        #expect(r.stderr == """
            postback 7: partner_id: must be absent for level global_offer (it applies to every partner on the offer)
            postback 7: offer_id: required for level global_offer
            postback 7: url: macro {sub1} in the host; a record must never choose where a fire goes
            postback 7: url: unknown macro {sbu1} (did you mean {sub1}?)

            """)
        #expect(f.read(f.catalogPath) == catalog)
        #expect(f.read(f.catalogPath + ".bak") == backup)
        #expect(dotFiles(f).isEmpty)

        let duplicate = try f.ctl(["add", "--catalog", f.catalogPath, "--id", "2", "--type", "cpc", "--level", "global",
                                   "--partner", "1", "--url", "https://x.example/?c={sub1}", "--no-reload"])
        #expect(duplicate.status == 1)
        #expect(duplicate.stderr == "postback 2: id: already in \(f.catalogPath) (change it with postbackctl edit 2)\n")
        let wrongType = try f.ctl(["edit", "2", "--catalog", f.catalogPath, "--partner", "x7", "--event-ids", "1,b", "--no-reload"])
        #expect(wrongType.status == 1)
        #expect(wrongType.stderr == """
            postback 2: partner_id: expected an integer, got a string ("x7")
            postback 2: event_ids: expected an integer, got a string ("b")
            postback 2: event_ids: only allowed on type event (this postback is conversion)

            """)
        #expect(f.read(f.catalogPath) == catalog)
    }

    @Test func editChangesOnlyTheGivenFields() throws {
        let f = try fixture()
        let r = try f.ctl(["edit", "1", "--catalog", f.catalogPath, "--level", "global_offer", "--partner", "none",
                           "--url", "https://a.example/v2?click={sub1}", "--no-reload"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "postback 1: changed level, partner_id, url in \(f.catalogPath)\n")
        #expect(f.read(f.catalogPath) == catalogText([
            entry(1, partner: nil, level: "global_offer", url: "https://a.example/v2?click={sub1}", description: "Acme"), two,
        ]))
        let same = try f.ctl(["edit", "1", "--catalog", f.catalogPath, "--description", "Acme", "--no-reload"])
        #expect(same.stdout == "postback 1: nothing changed\n")
        let unknown = try f.ctl(["edit", "9", "--catalog", f.catalogPath, "--description", "x", "--no-reload"])
        #expect(unknown.status == 1 && unknown.stderr == "postback 9: not in \(f.catalogPath)\n")
        #expect(try f.ctl(["edit", "1", "--catalog", f.catalogPath]).status == 64)
    }

    @Test func pauseAndResumeIncludingTheDaemonsAutoPause() throws {
        let f = try fixture()
        // The catalog comes from the config; no daemon runs for this state directory.
        let pause = try f.ctl(["pause", "1", "--config", f.configPath])
        #expect(pause.status == 0, "\(pause.stderr)")
        #expect(pause.stdout == "postback 1: paused (status inactive) in \(f.catalogPath)\n"
            + "no running daemon found; the new catalog takes effect at its next start\n")
        #expect(f.read(f.catalogPath) == catalogText([
            entry(1, status: "inactive", url: "https://a.example/pb?click={sub1}", description: "Acme"), two,
        ]))
        #expect(try f.ctl(["pause", "1", "--config", f.configPath]).stdout == "postback 1: already inactive\n")

        try Data("{\"paused\":[{\"id\":1,\"since_ms\":1764000000000,\"reason\":\"10 permanent failures in a row\"},{\"id\":2,\"since_ms\":1764000000001,\"reason\":\"r\"}]}\n".utf8)
            .write(to: URL(fileURLWithPath: f.stateDirectory + "/paused.json"))
        let resume = try f.ctl(["resume", "1", "--config", f.configPath, "--no-reload"])
        #expect(resume.status == 0, "\(resume.stderr)")
        #expect(resume.stdout == """
            postback 1: resumed (status active) in \(f.catalogPath)
            postback 1: auto-pause lifted (paused since 2025-11-24T16:00:00.000Z: 10 permanent failures in a row)

            """)
        #expect(f.read(f.catalogPath) == catalogText([one, two]))
        #expect(f.read(f.stateDirectory + "/paused.json") == "{\"paused\":[{\"id\":2,\"since_ms\":1764000000001,\"reason\":\"r\"}]}\n")
        #expect(try f.ctl(["resume", "1", "--config", f.configPath]).stdout == "postback 1: already active\n")
        let autoOnly = try f.ctl(["resume", "2", "--config", f.configPath, "--no-reload"])
        #expect(autoOnly.stdout == "postback 2: auto-pause lifted (paused since 2025-11-24T16:00:00.001Z: r)\n")
        #expect(f.read(f.stateDirectory + "/paused.json") == "{\"paused\":[]}\n")
    }

    /// The temp file's write fails part-way (a file size limit: EFBIG, or SIGXFSZ where it is not
    /// ignored, which kills the process as a crash would): the catalog and its .bak are as they
    /// were, and no temp file replaces the catalog.
    @Test func aCrashMidWriteLeavesTheCatalogAndBackupAsTheyWere() throws {
        let f = try fixture()
        #expect(try f.ctl(["edit", "2", "--catalog", f.catalogPath, "--description", "first edit", "--no-reload"]).status == 0)
        let catalog = f.read(f.catalogPath)
        let backup = f.read(f.catalogPath + ".bak")
        let ctl = ProcessRunner.productsDirectory.appendingPathComponent("postbackctl").path
        let child = try ProcessRunner.startSystem(["prlimit", "--fsize=200", "--core=0", ctl, "edit", "1", "--catalog", f.catalogPath,
                                                   "--description", String(repeating: "long ", count: 100), "--no-reload"])
        let status = child.wait(timeoutSeconds: 30)
        #expect(status != 0)
        if status == 1 { #expect(child.stderr.contains(": write: File too large")) }
        #expect(f.read(f.catalogPath) == catalog)
        #expect(f.read(f.catalogPath + ".bak") == backup)
        #expect(try f.ctl(["validate", f.catalogPath]).status == 0)
        // Whatever the crash left is a dotfile beside the catalog, never the catalog itself.
        #expect(dotFiles(f).allSatisfy { $0.hasPrefix(".catalog.json.tmp-") })
    }

    /// The reload reaches the running daemon through its pid file, and the daemon fires the new URL.
    @Test func editReloadsTheRunningDaemon() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let f = try OperatorFixture(catalog: catalogText([entry(1, url: "\(sink.base)/status/204?old={sub1}")]),
                                    settings: ["log_target": "stderr"])
        let daemon = try ProcessRunner.start("postbackd", ["run", "--config", f.configPath], environment: OperatorFixture.environment)
        defer { daemon.kill() }
        try Data("\(daemon.pid)\n".utf8).write(to: URL(fileURLWithPath: f.stateDirectory + "/postbackd.pid"))
        try f.drop("a.jsonl", conversion("r1") + "\n")
        #expect(eventually(10) { sink.stats.uris.contains("/status/204?old=c1") })

        let r = try f.ctl(["edit", "1", "--config", f.configPath, "--url", "\(sink.base)/status/200?new={sub1}"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "postback 1: changed url in \(f.catalogPath)\nreloaded postbackd (pid \(daemon.pid)): SIGHUP sent\n")
        #expect(eventually(10) { daemon.stderr.contains("catalog reloaded") })
        try f.drop("b.jsonl", conversion("r2") + "\n")
        #expect(eventually(10) { sink.stats.uris.contains("/status/200?new=c1") })
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0)
    }

    /// A stale pid file naming some other process must not send it a SIGHUP.
    @Test func aStalePidFileIsNotSignalled() throws {
        let f = try fixture()
        let bystander = try ProcessRunner.startSystem(["sleep", "30"])
        defer { bystander.kill() }
        try Data("\(bystander.pid)\n".utf8).write(to: URL(fileURLWithPath: f.stateDirectory + "/postbackd.pid"))
        let r = try f.ctl(["pause", "2", "--config", f.configPath])
        #expect(r.stdout.hasSuffix("no running daemon found; the new catalog takes effect at its next start\n"))
        usleep(100_000)
        let state = (try? String(contentsOfFile: "/proc/\(bystander.pid)/stat", encoding: .utf8)) ?? ""
        #expect(state.contains("(sleep) S"))
    }
}
