import Logging

/// A swift-log handler that writes structured journal entries, so operators can find any fire
/// with `journalctl POSTBACK_ID=17 TRANSACTION_ID=...`.
///
/// Each entry has MESSAGE, PRIORITY (syslog value of the level), SYSLOG_IDENTIFIER, CODE_FILE,
/// CODE_LINE, CODE_FUNC, ERROR when the call passed one, and every metadata key as a field
/// named by ``JournalFieldName`` (`postback_id` → `POSTBACK_ID`). A value type, as swift-log
/// requires. If journald cannot take an entry (it is restarting, or its socket is stale) the
/// entry goes to standard error as a ``StderrLine`` instead of being lost.
public struct JournalLogHandler: LogHandler, OrderedFieldsLogging {
    /// The shared level, unless this logger's own was set.
    public var logLevel: Logger.Level {
        get { ownLevel ?? shared.level }
        set { ownLevel = newValue }
    }
    private var ownLevel: Logger.Level?
    private let shared: SharedLogLevel
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    /// SYSLOG_IDENTIFIER of every entry; `journalctl -t <identifier>` selects them.
    public let identifier: String
    private let identifierField: String

    public init(
        identifier: String = "postbackd", logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.init(identifier: identifier, level: SharedLogLevel(logLevel), metadataProvider: metadataProvider)
    }

    /// A handler that follows `level`, which a reload may change.
    public init(identifier: String = "postbackd", level: SharedLogLevel, metadataProvider: Logger.MetadataProvider? = nil) {
        self.identifier = identifier
        self.identifierField = "SYSLOG_IDENTIFIER=" + identifier
        self.shared = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let metadata = LogMetadataMerge.merge(metadata, metadataProvider, event.metadata)
        send(
            level: event.level, message: event.message.description,
            fields: metadata.map { ($0.key, $0.value.rendered) }, error: event.error,
            file: event.file, function: event.function, line: event.line)
    }

    public func log(
        level: Logger.Level, message: String, orderedFields fields: [(key: String, value: String)],
        file: String, function: String, line: UInt
    ) -> Bool {
        guard metadata.isEmpty && metadataProvider == nil else { return false }
        send(level: level, message: message, fields: fields, error: nil, file: file, function: function, line: line)
        return true
    }

    private func send(
        level: Logger.Level, message: String, fields: [(key: String, value: String)], error: (any Error)?,
        file: String, function: String, line: UInt
    ) {
        let entry = JournalEntry(
            level: level, message: message, identifierField: identifierField, fields: fields, error: error,
            file: file, function: function, line: line)
        if entry.send() < 0 {
            var fields = fields
            if let error {
                fields.removeAll { $0.key == "error" }
                fields.append(("error", "\(error)"))
            }
            fields.sort { $0.key < $1.key }
            StderrLogHandler.write(level: level, message: message, orderedFields: fields)
        }
    }
}
