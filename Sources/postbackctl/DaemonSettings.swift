import ArgumentParser
import Foundation
import PostbackCore
import PostbackSpool

/// The daemon's settings, found the way `postbackd run` finds them (`Settings.load`, the one
/// loader of both executables); only the error output is postbackctl's own.
enum DaemonSettings {
    /// Resolves settings; every problem goes to stderr as `config: <source>: <key>: <what>`
    /// (an unreadable file as `config <path>: cannot read ...`), exit 1.
    static func resolve(config: String?, flags: [(key: String, value: String)] = []) throws(ExitCode) -> Settings {
        switch Settings.load(config: config, flags: flags) {
        case .success(let settings):
            return settings
        case .failure(let problems):
            for problem in problems.all {
                Output.error(problem.key == "config" && problem.source.hasPrefix("config ") ? "\(problem.source): \(problem.message)" : "config: \(problem)")
            }
            throw ExitCode.failure
        }
    }
}

/// `--config FILE | --spool DIR`: which spool (or, with `source = redis`, which Redis
/// streams) a read or requeue command looks at.
struct SpoolOptions: ParsableArguments {
    @Option(help: "The daemon's settings file (default: $POSTBACKD_CONFIG, else /etc/postbackd/postbackd.conf if it exists).")
    var config: String?

    @Option(help: "The spool directory; wins over the config file.")
    var spool: String?

    /// The settings, with `--spool` applied as the daemon applies its own flag.
    func settings() throws(ExitCode) -> Settings {
        try DaemonSettings.resolve(config: config, flags: spool.map { [("spool", $0)] } ?? [])
    }

    /// The Redis queues to read instead of a spool: when the settings say `source = redis`
    /// and no `--spool` names a spool directory to look at.
    func redis(_ settings: Settings) -> RedisQueues? {
        settings.source == "redis" && spool == nil ? RedisQueues(settings) : nil
    }

    /// Opens an existing spool. Refuses a path that is not there rather than creating a fresh,
    /// empty spool at a mistyped path and reporting it as empty.
    func open(_ settings: Settings) throws(ExitCode) -> Spool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: settings.spool, isDirectory: &isDirectory), isDirectory.boolValue else {
            Output.error("spool \(settings.spool): no such directory")
            throw ExitCode.failure
        }
        do {
            return try Spool(root: settings.spool)
        } catch {
            Output.error("spool: \(error)")
            throw ExitCode.failure
        }
    }
}
