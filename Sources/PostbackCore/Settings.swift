/// The daemon's settings: a flat `key = value` file, overridden by `POSTBACKD_<KEY>`
/// environment variables, overridden by command-line flags.
///
/// Why not swift-configuration: its file providers read JSON (no comments, so no documented
/// example that runs as-is) or YAML (another dependency), while these settings are a dozen flat
/// keys that an operator edits by hand, as in Postfix's main.cf. Parsing stays pure here so every
/// rule is table-tested; the daemon reads the file and the environment.
public struct Settings: Sendable, Equatable {
    public var spool = "/var/lib/postbackd/spool"
    public var catalog = "/etc/postbackd/catalog.json"
    /// Where the daemon keeps its own state (auto-paused postbacks).
    public var stateDirectory = "/var/lib/postbackd/state"
    /// CIDRs that the address rules let through although they are private or loopback.
    public var allowAddresses: [String] = []
    public var maxConcurrent = 64
    public var perHost = 16
    public var connectTimeout: Duration = .seconds(3)
    public var totalTimeout: Duration = .seconds(10)
    public var retryBase: Duration = .seconds(30)
    public var retryCap: Duration = .seconds(3600)
    public var maxAttempts = 10
    public var maxAge: Duration = .seconds(86_400)
    /// Spool files larger than this go to bad/ whole.
    public var maxFileBytes = 64 << 20
    /// Spool lines longer than this are rejected alone and read past, never held whole.
    public var maxLineBytes = 1 << 20
    /// How long finished files stay in done/; zero removes them at once.
    public var doneRetention: Duration = .zero
    /// The safety-net rescan of incoming/ and deferred/, beside inotify.
    public var rescanInterval: Duration = .seconds(5)
    /// Off: partner-authored postbacks are skipped, counted and logged, never fired.
    public var partnerPostbacks = true
    /// Per-host circuit breaker: opens after this many failures in a row (or over half of
    /// the last 100), and lets one probe through after `breakerCooldown`.
    public var breakerFailures = 20
    public var breakerCooldown: Duration = .seconds(60)
    public var logLevel = "info"
    /// `auto` (journald when its socket exists, else stderr), `journal` or `stderr`.
    public var logTarget = "auto"
    /// `host:port` of the Prometheus endpoint; empty is off.
    public var metricsListen = ""
    /// A PEM bundle trusted instead of the system store for https partners; empty is the
    /// system store. Certificates and host names are verified either way.
    public var caFile = ""
    /// Where records come from: `spool` (files in the spool directory) or `redis` (Redis
    /// Streams read through a consumer group, shared by several daemons).
    public var source = "spool"
    /// `source = redis`: the node to connect to (`redis://host:port`).
    public var redisURLs: [String] = ["redis://127.0.0.1:6379"]
    /// The streams read; ingest adds one entry per record (`XADD STREAM * record LINE`).
    public var redisStreams: [String] = ["postbackd:records"]
    public var redisGroup = "postbackd"
    /// This daemon's consumer name in the group; empty is host name + pid.
    public var redisConsumer = ""
    /// How long an entry stays pending with a consumer before another takes it over.
    public var redisClaimIdle: Duration = .seconds(60)

    public init() {}

    /// Every key at its default: the one place a default is written. Code that needs a
    /// default without a settings file (the firing engine's own initializer) reads it here.
    public static let defaults = Settings()

    /// When a changed key takes effect: at a reload (SIGHUP), or only at the next start.
    public enum TakesEffect: Sendable, Equatable {
        case reload
        case restart
    }

    /// One key of the settings file: its name, when a change to it takes effect, and how to
    /// compare and copy its value, so a reload can apply one kind and name the other.
    public struct Key: @unchecked Sendable {
        // @unchecked: the closures only read and write one stored property of a value.
        public let name: String
        public let takesEffect: TakesEffect
        let same: (Settings, Settings) -> Bool
        let copy: (inout Settings, Settings) -> Void

        init<Value: Equatable>(_ name: String, _ takesEffect: TakesEffect, _ path: WritableKeyPath<Settings, Value>) {
            self.name = name
            self.takesEffect = takesEffect
            same = { $0[keyPath: path] == $1[keyPath: path] }
            copy = { $0[keyPath: path] = $1[keyPath: path] }
        }
    }

    /// Every key, in the order of `config/postbackd.conf`, with when a change takes effect.
    /// Restart-only keys are those baked into what the daemon builds once: the spool's
    /// directories and the state directory, the firing engine's pool, timeouts, address rules
    /// and trust store, the log destination and the metrics listener.
    public static let table: [Key] = [
        Key("spool", .restart, \.spool),
        Key("catalog", .reload, \.catalog),
        Key("state_directory", .restart, \.stateDirectory),
        Key("allow_address", .restart, \.allowAddresses),
        Key("max_concurrent", .restart, \.maxConcurrent),
        Key("per_host", .restart, \.perHost),
        Key("connect_timeout", .restart, \.connectTimeout),
        Key("total_timeout", .restart, \.totalTimeout),
        Key("ca_file", .restart, \.caFile),
        Key("retry_base", .reload, \.retryBase),
        Key("retry_cap", .reload, \.retryCap),
        Key("max_attempts", .reload, \.maxAttempts),
        Key("max_age", .reload, \.maxAge),
        Key("max_file_size", .reload, \.maxFileBytes),
        Key("max_line_size", .reload, \.maxLineBytes),
        Key("done_retention", .reload, \.doneRetention),
        Key("rescan_interval", .reload, \.rescanInterval),
        Key("partner_postbacks", .reload, \.partnerPostbacks),
        Key("breaker_failures", .reload, \.breakerFailures),
        Key("breaker_cooldown", .reload, \.breakerCooldown),
        Key("log_level", .reload, \.logLevel),
        Key("log_target", .restart, \.logTarget),
        Key("metrics_listen", .restart, \.metricsListen),
        Key("source", .restart, \.source),
        Key("redis_url", .restart, \.redisURLs),
        Key("redis_stream", .restart, \.redisStreams),
        Key("redis_group", .restart, \.redisGroup),
        Key("redis_consumer", .restart, \.redisConsumer),
        Key("redis_claim_idle", .restart, \.redisClaimIdle),
    ]

    /// Every key, as written in the file; the environment name is `POSTBACKD_` + upper-cased key.
    public static let keys = table.map(\.name)

    /// The keys whose values differ between `self` and `other`, in table order.
    public func changedKeys(to other: Settings) -> [Key] {
        Settings.table.filter { !$0.same(self, other) }
    }

    /// What a reload leaves running: `self` with every reload key taken from `new`, the
    /// restart-only ones kept, so a change to those is named again until a restart takes it.
    public func reloaded(from new: Settings) -> Settings {
        var result = self
        for key in Settings.table where key.takesEffect == .reload { key.copy(&result, new) }
        return result
    }

    /// A setting that cannot be used, naming the key and where it came from.
    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public var source: String
        public var key: String
        public var message: String
        public var description: String { "\(source): \(key): \(message)" }

        public init(source: String, key: String, message: String) {
            (self.source, self.key, self.message) = (source, key, message)
        }
    }

    /// Settings refused as a whole, with every reason.
    public struct Problems: Error, Sendable, CustomStringConvertible {
        public var all: [Problem]
        public var description: String { all.map(\.description).joined(separator: "\n") }

        public init(all: [Problem]) { self.all = all }
    }

    /// Where the settings file is looked for when neither `--config` nor POSTBACKD_CONFIG names one.
    public static let defaultConfigPath = "/etc/postbackd/postbackd.conf"

    /// Which settings file applies, the same for `postbackd run` and every `postbackctl`
    /// command: `--config`, else POSTBACKD_CONFIG, else `defaultConfigPath` if `exists` says it
    /// is there, else none (defaults, environment and flags only). `exists` is the one piece of
    /// I/O, handed in so the rule stays here, testable without a file system.
    public static func configPath(flag: String?, environment: [String: String], exists: (String) -> Bool) -> String? {
        flag ?? environment["POSTBACKD_CONFIG"] ?? (exists(defaultConfigPath) ? defaultConfigPath : nil)
    }

    /// Builds settings from the file's text, the environment and flags, in rising priority.
    /// Returns every problem found, so a reload can be refused with all its reasons.
    public static func resolve(
        file: (name: String, text: String)?, environment: [String: String], flags: [(key: String, value: String)]
    ) -> Result<Settings, Problems> {
        var settings = Settings()
        var problems: [Problem] = []
        if let file {
            for (n, raw) in file.text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                    .trimmingWhitespace()
                if line.isEmpty { continue }
                let source = "\(file.name):\(n + 1)"
                guard let eq = line.firstIndex(of: "=") else {
                    problems.append(Problem(source: source, key: String(line), message: "expected key = value"))
                    continue
                }
                let key = line[..<eq].trimmingWhitespace()
                let value = line[line.index(after: eq)...].trimmingWhitespace()
                settings.apply(key: String(key), value: String(value), source: source, into: &problems)
            }
        }
        for key in keys {
            if let value = environment["POSTBACKD_" + key.uppercased()] {
                settings.apply(key: key, value: value, source: "environment POSTBACKD_\(key.uppercased())", into: &problems)
            }
        }
        var flagAllow: [String] = []
        for (key, value) in flags {
            if key == "allow_address" { flagAllow.append(value); continue }
            settings.apply(key: key, value: value, source: "--\(key.replacingUnderscores())", into: &problems)
        }
        if !flagAllow.isEmpty {
            settings.apply(key: "allow_address", value: flagAllow.joined(separator: ","), source: "--allow-address", into: &problems)
        }
        if settings.perHost > settings.maxConcurrent {
            settings.perHost = settings.maxConcurrent
        }
        if settings.connectTimeout > settings.totalTimeout {
            problems.append(Problem(source: "settings", key: "connect_timeout", message: "longer than total_timeout"))
        }
        if settings.retryBase > settings.retryCap {
            problems.append(Problem(source: "settings", key: "retry_base", message: "longer than retry_cap"))
        }
        return problems.isEmpty ? .success(settings) : .failure(Problems(all: problems))
    }

    mutating func apply(key: String, value: String, source: String, into problems: inout [Problem]) {
        func fail(_ message: String) { problems.append(Problem(source: source, key: key, message: message)) }
        func int(_ range: ClosedRange<Int>) -> Int? {
            guard let n = Int(value), range.contains(n) else {
                fail("expected a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(value)\"")
                return nil
            }
            return n
        }
        func duration(allowZero: Bool = false) -> Duration? {
            guard let d = Settings.parseDuration(value), allowZero || d > .zero else {
                fail("expected a duration such as 500ms, 30s, 5m, 1h or 2d, got \"\(value)\"")
                return nil
            }
            return d
        }
        func size() -> Int? {
            guard let v = Settings.parseSize(value) else {
                fail("expected a size such as 512k, 64M or 1G, got \"\(value)\""); return nil
            }
            return v
        }
        func path() -> String? {
            guard value.hasPrefix("/") || value.hasPrefix(".") || !value.isEmpty else {
                fail("expected a path"); return nil
            }
            return value
        }
        switch key {
        case "spool": if let v = path() { spool = v }
        case "catalog": if let v = path() { catalog = v }
        case "state_directory": if let v = path() { stateDirectory = v }
        case "allow_address":
            let items = Settings.list(value)
            var parsed: [String] = []
            for item in items {
                if CIDR(item) == nil { fail("\"\(item)\" is not an address or CIDR such as 127.0.0.0/8 or ::1/128") } else { parsed.append(item) }
            }
            allowAddresses = parsed
        case "max_concurrent": if let v = int(1...10_000) { maxConcurrent = v }
        case "per_host": if let v = int(1...10_000) { perHost = v }
        case "connect_timeout": if let v = duration() { connectTimeout = v }
        case "total_timeout": if let v = duration() { totalTimeout = v }
        case "retry_base": if let v = duration() { retryBase = v }
        case "retry_cap": if let v = duration() { retryCap = v }
        case "max_attempts": if let v = int(1...1000) { maxAttempts = v }
        case "max_age": if let v = duration() { maxAge = v }
        case "max_file_size":
            if let v = size() { maxFileBytes = v }
        case "max_line_size":
            if let v = size() { maxLineBytes = v }
        case "done_retention": if let v = duration(allowZero: true) { doneRetention = v }
        case "rescan_interval": if let v = duration() { rescanInterval = v }
        case "partner_postbacks":
            switch value.lowercased() {
            case "on", "true", "yes": partnerPostbacks = true
            case "off", "false", "no": partnerPostbacks = false
            default: fail("expected on or off, got \"\(value)\"")
            }
        case "log_level":
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            if levels.contains(value) { logLevel = value } else { fail("expected one of \(levels.joined(separator: ", ")), got \"\(value)\"") }
        case "breaker_failures": if let v = int(1...100_000) { breakerFailures = v }
        case "breaker_cooldown": if let v = duration() { breakerCooldown = v }
        case "log_target":
            if ["auto", "journal", "stderr"].contains(value) { logTarget = value } else { fail("expected auto, journal or stderr, got \"\(value)\"") }
        case "metrics_listen":
            metricsListen = value == "off" ? "" : value
        case "ca_file":
            if value.isEmpty { caFile = "" } else if let v = path() { caFile = v }
        case "source":
            if ["spool", "redis"].contains(value) { self.source = value } else { fail("expected spool or redis, got \"\(value)\"") }
        case "redis_url":
            let urls = Settings.list(value)
            if urls.isEmpty { fail("expected redis://host:port") }
            for url in urls where RedisAddress(url: url) == nil {
                fail("\"\(url)\" is not redis://host:port (no user, password or database)")
            }
            if !urls.isEmpty && urls.allSatisfy({ RedisAddress(url: $0) != nil }) { redisURLs = urls }
        case "redis_stream":
            let streams = Settings.list(value)
            if streams.isEmpty { fail("expected a stream name such as postbackd:records") } else { redisStreams = streams }
        case "redis_group":
            if value.isEmpty || value.contains(" ") { fail("expected a consumer group name without spaces") } else { redisGroup = value }
        case "redis_consumer":
            if value.contains(" ") { fail("expected a consumer name without spaces") } else { redisConsumer = value }
        case "redis_claim_idle": if let v = duration() { redisClaimIdle = v }
        default:
            let near = Settings.keys.min { editDistance(Array(key.utf8), Array($0.utf8)) < editDistance(Array(key.utf8), Array($1.utf8)) }
            fail("unknown setting" + (near.map { " (did you mean \($0)?)" } ?? ""))
        }
    }

    /// A comma-separated list, blanks dropped.
    static func list(_ value: String) -> [String] {
        value.split(separator: ",").map { String($0.trimmingWhitespace()) }.filter { !$0.isEmpty }
    }

    /// `500ms`, `30s`, `5m`, `1h`, `2d`, or a bare number of seconds.
    public static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, millis) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if let n = Int64(number), n >= 0 { return .milliseconds(n * millis) }
            if suffix == "m" || suffix == "s" { continue }  // "ms" ends in "s"
            return nil
        }
        if let n = Int64(text), n >= 0 { return .seconds(n) }
        return nil
    }

    /// `1024`, `512k`, `64M`, `1G`.
    public static func parseSize(_ text: String) -> Int? {
        let multipliers: [Character: Int] = ["k": 1 << 10, "K": 1 << 10, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30, "G": 1 << 30]
        if let last = text.last, let m = multipliers[last], let n = Int(text.dropLast()), n > 0 { return n * m }
        if let n = Int(text), n > 0 { return n }
        return nil
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> SubSequence {
        let start = firstIndex { $0 != " " && $0 != "\t" && $0 != "\r" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" && $0 != "\r" }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }

    func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }
}
