import Foundation
import Testing
@testable import PostbackCore

@Suite("Settings: file, then environment, then flags")
struct SettingsTests {
    @Test func fileEnvironmentAndFlagsInRisingPriority() throws {
        let file = """
            # comment
            spool = /srv/spool
            max_concurrent = 32   # trailing comment
            per_host = 4
            connect_timeout = 500ms
            retry_base = 2s
            allow_address = 127.0.0.0/8, ::1
            partner_postbacks = off
            """
        let s = try Settings.resolve(
            file: ("postbackd.conf", file),
            environment: ["POSTBACKD_MAX_CONCURRENT": "48", "POSTBACKD_CATALOG": "/env/catalog.json", "OTHER": "x"],
            flags: [("max_concurrent", "100"), ("allow_address", "10.0.0.0/8")]
        ).get()
        #expect(s.spool == "/srv/spool")
        #expect(s.catalog == "/env/catalog.json")
        #expect(s.maxConcurrent == 100)
        #expect(s.perHost == 4)
        #expect(s.connectTimeout == .milliseconds(500))
        #expect(s.retryBase == .seconds(2))
        #expect(s.allowAddresses == ["10.0.0.0/8"])
        #expect(s.partnerPostbacks == false)
        #expect(s.totalTimeout == .seconds(10) && s.maxAttempts == 10 && s.maxAge == .seconds(86_400))
    }

    @Test func configFileIsTheFlagThenTheEnvironmentThenTheDefaultIfPresent() {
        let env = ["POSTBACKD_CONFIG": "/env.conf"]
        #expect(Settings.configPath(flag: "/flag.conf", environment: env, exists: { _ in true }) == "/flag.conf")
        #expect(Settings.configPath(flag: nil, environment: env, exists: { _ in true }) == "/env.conf")
        #expect(Settings.configPath(flag: nil, environment: [:], exists: { $0 == Settings.defaultConfigPath })
                == "/etc/postbackd/postbackd.conf")
        #expect(Settings.configPath(flag: nil, environment: [:], exists: { _ in false }) == nil)
    }

    @Test func everyProblemNamesItsKeyAndSource() {
        let file = """
            max_concurrent = lots
            retry_bsae = 30s
            connect_timeout = soon
            allow_address = 300.1.2.3/8
            just words
            """
        guard case .failure(let refused) = Settings.resolve(
            file: ("p.conf", file), environment: ["POSTBACKD_PER_HOST": "0"], flags: [("max_file_size", "big")])
        else { Issue.record("expected problems"); return }
        #expect(refused.all.map(\.description) == [
            "p.conf:1: max_concurrent: expected a whole number from 1 to 10000, got \"lots\"",
            "p.conf:2: retry_bsae: unknown setting (did you mean retry_base?)",
            "p.conf:3: connect_timeout: expected a duration such as 500ms, 30s, 5m, 1h or 2d, got \"soon\"",
            "p.conf:4: allow_address: \"300.1.2.3/8\" is not an address or CIDR such as 127.0.0.0/8 or ::1/128",
            "p.conf:5: just words: expected key = value",
            "environment POSTBACKD_PER_HOST: per_host: expected a whole number from 1 to 10000, got \"0\"",
            "--max-file-size: max_file_size: expected a size such as 512k, 64M or 1G, got \"big\"",
        ])
    }

    @Test(arguments: [("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000), ("2d", 172_800_000), ("7", 7000)])
    func durations(_ text: String, _ millis: Int64) {
        #expect(Settings.parseDuration(text) == .milliseconds(millis))
    }

    @Test func theShippedExampleIsValid() throws {
        let path = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let text = try String(contentsOfFile: "/" + path + "/config/postbackd.conf", encoding: .utf8)
        let s = try Settings.resolve(file: ("postbackd.conf", text), environment: [:], flags: []).get()
        #expect(s.catalog == "config/catalog.json")
    }

    /// Every key is in the shipped example, and its comment says what the code does with a
    /// change at reload: "applied on reload" or "restart only".
    @Test func everyKeyIsMarkedForReloadOrRestartInTheExample() throws {
        let path = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let text = try String(contentsOfFile: "/" + path + "/config/postbackd.conf", encoding: .utf8)
        var comment = ""
        var marked: [String: Settings.TakesEffect] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("#") { comment += line.lowercased(); continue }
            guard let eq = line.firstIndex(of: "=") else { comment = ""; continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let reload = comment.contains("applied on reload"), restart = comment.contains("restart only")
            #expect(reload != restart, "\(key): its comment must say either applied on reload or restart only")
            marked[key] = reload ? .reload : .restart
            comment = ""
        }
        for key in Settings.table {
            #expect(marked[key.name] == key.takesEffect, "\(key.name): the example says \(String(describing: marked[key.name])), the code \(key.takesEffect)")
        }
        #expect(Set(marked.keys) == Set(Settings.keys))
    }

    /// A reload takes the reload keys and keeps the restart-only ones, and says which changed.
    @Test func reloadTakesReloadKeysAndKeepsRestartOnes() throws {
        let old = Settings()
        var new = Settings()
        new.maxAttempts = 1
        new.logLevel = "debug"
        new.maxConcurrent = 8
        new.spool = "/elsewhere"
        let running = old.reloaded(from: new)
        #expect(running.maxAttempts == 1 && running.logLevel == "debug")
        #expect(running.maxConcurrent == 64 && running.spool == old.spool)
        #expect(old.changedKeys(to: running).map(\.name) == ["max_attempts", "log_level"])
        #expect(running.changedKeys(to: new).map(\.name) == ["spool", "max_concurrent"])
    }

    @Test func maxLineSizeAndRetryBaseBeyondTheCap() throws {
        let s = try Settings.resolve(file: ("postbackd.conf", "max_line_size = 512k\n"), environment: [:], flags: []).get()
        #expect(s.maxLineBytes == 512 << 10 && Settings().maxLineBytes == 1 << 20)
        guard case .failure(let problems) = Settings.resolve(
            file: ("postbackd.conf", "max_line_size = long\nretry_base = 2h\n"), environment: [:], flags: []) else {
            Issue.record("accepted"); return
        }
        #expect(problems.all.map(\.description) == [
            "postbackd.conf:1: max_line_size: expected a size such as 512k, 64M or 1G, got \"long\"",
            "settings: retry_base: longer than retry_cap",
        ])
    }
}
