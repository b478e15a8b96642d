import Logging

#if canImport(Glibc)
import Glibc
#endif

extension JournalLogHandler {
    /// Where ``bootstrap(identifier:logLevel:metadataProvider:)`` sent the process's logs.
    public enum Destination: Sendable, Equatable {
        case journal
        case stderr
    }

    /// journald's native socket; libsystemd always sends there.
    public static let journalSocketPath = "/run/systemd/journal/socket"

    /// Installs the process-wide log handler: journald when its socket exists, otherwise plain
    /// lines on standard error (a terminal, a container, CI without journald). Call once, first
    /// thing in `main`, as `LoggingSystem.bootstrap` allows only one call per process.
    @discardableResult
    public static func bootstrap(
        identifier: String = "postbackd", logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = nil
    ) -> Destination {
        bootstrap(identifier: identifier, level: SharedLogLevel(logLevel), metadataProvider: metadataProvider)
    }

    /// `bootstrap`, every handler following `level` (which a reload may change); `destination`
    /// nil detects it.
    @discardableResult
    public static func bootstrap(
        identifier: String = "postbackd", level: SharedLogLevel, destination: Destination? = nil,
        metadataProvider: Logger.MetadataProvider? = nil
    ) -> Destination {
        let destination = destination ?? detectDestination()
        LoggingSystem.bootstrap(
            factory(identifier: identifier, level: level, destination: destination),
            metadataProvider: metadataProvider)
        return destination
    }

    /// The handler factory `bootstrap` installs, for callers that compose handlers themselves
    /// (e.g. in a `MultiplexLogHandler`) or for tests.
    public static func factory(
        identifier: String = "postbackd", logLevel: Logger.Level = .info, destination: Destination
    ) -> @Sendable (String, Logger.MetadataProvider?) -> any LogHandler {
        factory(identifier: identifier, level: SharedLogLevel(logLevel), destination: destination)
    }

    /// `factory`, every handler it makes following `level`.
    public static func factory(
        identifier: String = "postbackd", level: SharedLogLevel, destination: Destination
    ) -> @Sendable (String, Logger.MetadataProvider?) -> any LogHandler {
        { _, provider in
            switch destination {
            case .journal:
                JournalLogHandler(identifier: identifier, level: level, metadataProvider: provider)
            case .stderr:
                StderrLogHandler(level: level, metadataProvider: provider)
            }
        }
    }

    /// `.journal` when a socket exists at `socketPath`. Existence is the test libsystemd's own
    /// callers use; a stale socket is still caught per entry, by the stderr fallback.
    public static func detectDestination(socketPath: String = journalSocketPath) -> Destination {
        var status = stat()
        guard stat(socketPath, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else { return .stderr }
        return .journal
    }
}
