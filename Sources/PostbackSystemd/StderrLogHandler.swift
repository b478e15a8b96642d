import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Writes ``StderrLine`` entries to standard error; the handler used where no journald runs.
///
/// A value type, as swift-log requires: changing one logger's level or metadata leaves the others
/// alone. Each entry is one `write(2)` (or part of one, inside a ``StderrBatch``), so lines from
/// concurrent tasks do not interleave.
public struct StderrLogHandler: LogHandler, OrderedFieldsLogging {
    /// The shared level, unless this logger's own was set.
    public var logLevel: Logger.Level {
        get { ownLevel ?? shared.level }
        set { ownLevel = newValue }
    }
    private var ownLevel: Logger.Level?
    private let shared: SharedLogLevel
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(logLevel: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil) {
        self.init(level: SharedLogLevel(logLevel), metadataProvider: metadataProvider)
    }

    /// A handler that follows `level`, which a reload may change.
    public init(level: SharedLogLevel, metadataProvider: Logger.MetadataProvider? = nil) {
        self.shared = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = LogMetadataMerge.merge(metadata, metadataProvider, event.metadata)
        if let error = event.error { fields["error"] = "\(error)" }
        Self.write(level: event.level, message: event.message.description, orderedFields: fields.orderedFields())
    }

    public func log(
        level: Logger.Level, message: String, orderedFields fields: [(key: String, value: String)],
        file: String, function: String, line: UInt
    ) -> Bool {
        guard metadata.isEmpty && metadataProvider == nil else { return false }
        Self.write(level: level, message: message, orderedFields: fields)
        return true
    }

    /// Encodes one line and writes it, or adds it to the calling thread's ``StderrBatch``.
    static func write(level: Logger.Level, message: String, orderedFields fields: [(key: String, value: String)]) {
        if let batch = StderrBatch.current {
            StderrLine.append(level: level, message: message, orderedFields: fields, to: &batch.bytes)
            if batch.bytes.count >= StderrBatch.limit { batch.writeOut() }
            return
        }
        var bytes: [UInt8] = []
        StderrLine.append(level: level, message: message, orderedFields: fields, to: &bytes)
        write(bytes)
    }

    static func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return  // stderr is gone; there is nowhere left to report that
                }
            }
        }
    }
}
