import Logging

/// The metadata of one entry: the handler's own, then the provider's (task-local context),
/// then the call site's, later ones winning, as swift-log's own handlers do.
enum LogMetadataMerge {
    /// Returns one of the inputs untouched when only it has entries: merging copies a dictionary,
    /// and most entries carry metadata from one place only.
    static func merge(
        _ handler: Logger.Metadata, _ provider: Logger.MetadataProvider?, _ event: Logger.Metadata?
    ) -> Logger.Metadata {
        var result = handler
        if let provided = provider?.get(), !provided.isEmpty {
            if result.isEmpty {
                result = provided
            } else {
                result.merge(provided) { _, new in new }
            }
        }
        if let event, !event.isEmpty {
            if result.isEmpty { return event }
            result.merge(event) { _, new in new }
        }
        return result
    }
}
