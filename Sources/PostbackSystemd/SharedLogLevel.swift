import Logging
import Synchronization

/// The process's log level, one owner for every handler the bootstrap made, so a reload
/// (SIGHUP, `log_level`) changes what every logger lets through at once.
///
/// swift-log asks a handler's `logLevel` before each message and handlers are value types
/// copied into every `Logger`, so the level they consult lives here, in one atomic that is
/// cheap to read on every call. A handler whose own level was set (`logger.logLevel = ...`)
/// keeps that one: changing one logger's level must not change another's.
public final class SharedLogLevel: Sendable {
    private let raw: Atomic<Int>
    private static let levels = Logger.Level.allCases

    public init(_ level: Logger.Level = .info) {
        raw = Atomic(Self.levels.firstIndex(of: level)!)
    }

    public var level: Logger.Level {
        get { Self.levels[raw.load(ordering: .relaxed)] }
    }

    public func set(_ level: Logger.Level) {
        raw.store(Self.levels.firstIndex(of: level)!, ordering: .relaxed)
    }
}
