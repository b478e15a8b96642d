public enum PostbackStatus: String, Sendable, CaseIterable {
    /// Fires when a matching record arrives.
    case active
    /// Paused: never fires, stays in the catalog.
    case inactive
}

/// Which records a postback fires on.
public enum PostbackType: String, Sendable, CaseIterable {
    case conversion, event, cpc
}

/// How wide a postback's reach is; narrower levels win (see `PostbackIndex`).
public enum PostbackLevel: String, Sendable, CaseIterable {
    /// One partner on one offer.
    case specific
    /// Every partner on one offer (the network's own postback for an offer).
    case globalOffer = "global_offer"
    /// One partner on every offer.
    case global
}

/// Server-to-server postbacks are fired by the daemon; pixels are rendered into a page, never fired.
public enum Delivery: String, Sendable, CaseIterable {
    case postback
    case imagePixel = "image_pixel"
    case iframePixel = "iframe_pixel"
}

/// Who last wrote a postback; partners may edit their own, and the network can switch those off.
public enum Author: String, Sendable, CaseIterable {
    case network, partner
}

/// One validated postback with its URL template compiled.
///
/// A class so the index and every resolution share one copy instead of copying its strings.
public final class Postback: Sendable, CustomStringConvertible {
    public let id: Int64
    public let status: PostbackStatus
    public let description: String
    public let type: PostbackType
    public let level: PostbackLevel
    public let partnerID: Int64?
    public let offerID: Int64?
    /// For event postbacks: fire only on these events; nil means every event.
    public let eventIDs: [Int64]?
    public let delivery: Delivery
    public let template: URLTemplate
    public let author: Author

    public var url: String { template.source }

    public init(
        id: Int64, status: PostbackStatus, description: String, type: PostbackType, level: PostbackLevel,
        partnerID: Int64?, offerID: Int64?, eventIDs: [Int64]?, delivery: Delivery, template: URLTemplate,
        author: Author
    ) {
        self.id = id
        self.status = status
        self.description = description
        self.type = type
        self.level = level
        self.partnerID = partnerID
        self.offerID = offerID
        self.eventIDs = eventIDs
        self.delivery = delivery
        self.template = template
        self.author = author
    }

    /// Whether this postback applies to an event with this id (always true for other types).
    @inline(__always)
    public func accepts(eventID: Int64?) -> Bool {
        guard let eventIDs else { return true }
        guard let eventID else { return false }
        return eventIDs.contains(eventID)
    }
}
