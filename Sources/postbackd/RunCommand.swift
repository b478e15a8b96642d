import ArgumentParser
import Foundation
import Logging
import PostbackCore
import PostbackDaemon
import PostbackMetrics
import PostbackSpool
import PostbackSystemd
import ServiceLifecycle

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon (or, with --once, process what is waiting and exit).",
        discussion: """
            Settings come from the config file (default /etc/postbackd/postbackd.conf when it
            exists), then POSTBACKD_<KEY> environment variables, then these flags.
            SIGHUP reloads the catalog and settings; SIGTERM drains and exits 0.

            Example: postbackd run --config config/postbackd.conf --once
            """)

    @Option(help: "The settings file.")
    var config: String?

    @Option(help: "The spool directory (incoming/, active/, deferred/, ...).")
    var spool: String?

    @Option(help: "The postback catalog JSON file.")
    var catalog: String?

    @Option(help: "Let fires reach this CIDR although it is private or loopback (repeatable).")
    var allowAddress: [String] = []

    @Option(help: "Fires in flight at once.")
    var maxConcurrent: Int?

    @Option(help: "Fires in flight at once to one host.")
    var perHost: Int?

    @Option(help: "Trust this PEM CA bundle instead of the system store for https partners.")
    var caFile: String?

    @Flag(help: "Process every file in incoming/ and every deferred fire due now, then exit with a JSON summary.")
    var once = false

    func run() async throws {
        let settings: Settings
        switch readSettings() {
        case .success(let read):
            settings = read
        case .failure(let problems):
            FileHandle.standardError.write(Data(problems.all.map { "postbackd: \($0)\n" }.joined().utf8))
            throw ExitCode.failure
        }
        // One level for every handler; a reload changes it (Daemon.reload).
        let logLevel = SharedLogLevel(Logger.Level(rawValue: settings.logLevel) ?? .info)
        let destination: JournalLogHandler.Destination? = switch settings.logTarget {
        case "journal": .journal
        case "stderr": .stderr
        default: nil
        }
        JournalLogHandler.bootstrap(identifier: "postbackd", level: logLevel, destination: destination)
        let logger = Logger(label: "postbackd")

        // Metrics: off unless `metrics_listen` is set, and never for --once (nothing would
        // scrape it). Installed before the daemon is assembled, which makes its metric objects.
        var exporter: MetricsExporter?
        if !once && !settings.metricsListen.isEmpty {
            do {
                exporter = try MetricsExporter.bootstrap(listen: settings.metricsListen)
            } catch {
                FileHandle.standardError.write(Data("postbackd: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }

        let daemon: Daemon
        do {
            daemon = try Daemon(settings: settings, logger: logger, logLevel: logLevel)
        } catch {
            FileHandle.standardError.write(Data("postbackd: \(error)\n".utf8))
            throw ExitCode.failure
        }
        if once {
            let summary = daemon.runOnce()
            FileHandle.standardOutput.write(Data((summary + "\n").utf8))
            return
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: FiringService(daemon: daemon, stopTimeout: .seconds(25))),
            .init(service: StatusService(daemon: daemon)),
            .init(service: ReloadService(daemon: daemon, reread: { readSettings() }, logger: logger)),
        ]
        if let exporter {
            do {
                services.append(.init(service: try await MetricsService.start(exporter, daemon: daemon, logger: logger)))
            } catch {
                FileHandle.standardError.write(Data("postbackd: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    /// File, then environment, then flags (`Settings.load`, shared with postbackctl); every
    /// problem found, each naming its key and where it came from.
    func readSettings() -> Result<Settings, Settings.Problems> {
        var flags: [(key: String, value: String)] = []
        if let spool { flags.append(("spool", spool)) }
        if let catalog { flags.append(("catalog", catalog)) }
        if let maxConcurrent { flags.append(("max_concurrent", String(maxConcurrent))) }
        if let perHost { flags.append(("per_host", String(perHost))) }
        if let caFile { flags.append(("ca_file", caFile)) }
        for cidr in allowAddress { flags.append(("allow_address", cidr)) }
        return Settings.load(config: config, flags: flags)
    }
}
