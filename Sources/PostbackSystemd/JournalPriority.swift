import Logging

/// swift-log levels as syslog priorities, which journald stores in PRIORITY= and which
/// `journalctl -p` filters on. swift-log has no alert/emergency; trace has no syslog twin and
/// shares debug's 7.
enum JournalPriority {
    /// The whole `PRIORITY=n` field, in static memory so an entry can point at it directly.
    static func field(for level: Logger.Level) -> StaticString {
        switch level {
        case .trace, .debug: "PRIORITY=7"
        case .info: "PRIORITY=6"
        case .notice: "PRIORITY=5"
        case .warning: "PRIORITY=4"
        case .error: "PRIORITY=3"
        case .critical: "PRIORITY=2"
        }
    }
}
