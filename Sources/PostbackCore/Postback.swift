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

/// How a fire is sent; POST carries the body template, if any.
public enum HTTPMethod: String, Sendable, CaseIterable {
    case get = "GET"
    case post = "POST"
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
    /// Beyond GET (all optional; an entry without them fires a plain GET).
    public let method: HTTPMethod
    public let body: BodyTemplate?
    /// In catalog order.
    public let headers: [HeaderTemplate]
    public let signingSecret: WebhookSecret?
    /// The first attempt goes no earlier than the record's arrival plus this (0...300000).
    public let delayMillis: Int64
    /// Whether a fire of it needs `{fire_id}` (a template uses it, or it is signed), so the
    /// id is only derived where it is used.
    public let usesFireID: Bool

    public var url: String { template.source }

    /// The upper bound of `delay_ms`, Everflow's.
    public static let maxDelayMillis: Int64 = 300_000

    public init(
        id: Int64, status: PostbackStatus, description: String, type: PostbackType, level: PostbackLevel,
        partnerID: Int64?, offerID: Int64?, eventIDs: [Int64]?, delivery: Delivery, template: URLTemplate,
        author: Author, method: HTTPMethod = .get, body: BodyTemplate? = nil, headers: [HeaderTemplate] = [],
        signingSecret: WebhookSecret? = nil, delayMillis: Int64 = 0
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
        self.method = method
        self.body = body
        self.headers = headers
        self.signingSecret = signingSecret
        self.delayMillis = delayMillis
        usesFireID = signingSecret != nil || template.macros.contains(.fireID)
            || (body?.macros.contains(.fireID) ?? false) || headers.contains { $0.macros.contains(.fireID) }
    }

    /// Whether this postback applies to an event with this id (always true for other types).
    @inline(__always)
    public func accepts(eventID: Int64?) -> Bool {
        guard let eventIDs else { return true }
        guard let eventID else { return false }
        return eventIDs.contains(eventID)
    }
}
