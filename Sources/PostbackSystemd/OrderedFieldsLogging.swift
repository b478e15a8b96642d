import Logging

/// A log entry's fields as a list in key order, for an entry logged once per fire: a handler
/// that takes this form writes the fields as they are, without the metadata dictionary (its
/// hashing, its copies and, for standard error, its sort), which cost as much as writing them.
public protocol OrderedFieldsLogging: Sendable {
    /// Logs `message` with `fields` (sorted by key, no key twice) and returns true; or returns
    /// false, logging nothing, when the handler has metadata of its own to merge (its own
    /// fields or a metadata provider): the caller then logs through `Logger` as usual.
    func log(
        level: Logger.Level, message: String, orderedFields fields: [(key: String, value: String)],
        file: String, function: String, line: UInt
    ) -> Bool
}

extension Logger {
    /// The handler's ordered-fields form, when it has one (journald's and standard error's).
    public var orderedFieldsHandler: (any OrderedFieldsLogging)? {
        handler as? any OrderedFieldsLogging
    }
}

extension Logger.Metadata {
    /// The fields in key order, each value rendered as the handlers print it.
    func orderedFields() -> [(key: String, value: String)] {
        sorted { $0.key < $1.key }.map { ($0.key, $0.value.rendered) }
    }
}

extension Logger.MetadataValue {
    /// `.string` as itself (no copy), anything else as swift-log describes it.
    var rendered: String {
        if case .string(let text) = self { return text }
        return description
    }
}
