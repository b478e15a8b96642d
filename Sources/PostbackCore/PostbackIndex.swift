/// The catalog arranged for resolution: a record's postbacks are found by three hash lookups,
/// never by scanning the catalog.
///
/// Built once per catalog snapshot and never mutated, so a reload builds a new one and swaps
/// it in while fires in progress keep the one they started with.
public struct PostbackIndex: Sendable {
    struct SpecificKey: Hashable { var partner: Int64, offer: Int64, type: PostbackType }
    struct OfferKey: Hashable { var offer: Int64, type: PostbackType }
    struct PartnerKey: Hashable { var partner: Int64, type: PostbackType }

    var specific: [SpecificKey: [Postback]] = [:]
    var globalOffer: [OfferKey: [Postback]] = [:]
    var global: [PartnerKey: [Postback]] = [:]

    /// The catalog the index was built from.
    public let catalog: Catalog
    /// Postbacks the index leaves out although the catalog marks them active
    /// (paused by the daemon after repeated failures).
    public let paused: Set<Int64>

    public init(catalog: Catalog, paused: Set<Int64> = []) {
        self.catalog = catalog
        self.paused = paused
        for postback in catalog.postbacks where postback.status == .active && !paused.contains(postback.id) {
            switch postback.level {
            case .specific:
                specific[SpecificKey(partner: postback.partnerID!, offer: postback.offerID!, type: postback.type), default: []].append(postback)
            case .globalOffer:
                globalOffer[OfferKey(offer: postback.offerID!, type: postback.type), default: []].append(postback)
            case .global:
                global[PartnerKey(partner: postback.partnerID!, type: postback.type), default: []].append(postback)
            }
        }
        // Catalog order is id order, so every bucket already is.
    }

    /// The postbacks a record triggers: the first level (specific, then global offer, then
    /// global partner) with any matching postback wins, and all of that level's matches apply.
    /// A pure function of (catalog, record).
    public func resolve(_ record: Record) -> Resolution {
        let type = record.kind.postbackType
        let eventID = record.kind == .event ? record.eventID : nil
        if let bucket = specific[SpecificKey(partner: record.partnerID, offer: record.offerID, type: type)],
            bucket.contains(where: { $0.accepts(eventID: eventID) }) {
            return Resolution(level: .specific, bucket: bucket, eventID: eventID)
        }
        if let bucket = globalOffer[OfferKey(offer: record.offerID, type: type)],
            bucket.contains(where: { $0.accepts(eventID: eventID) }) {
            return Resolution(level: .globalOffer, bucket: bucket, eventID: eventID)
        }
        if let bucket = global[PartnerKey(partner: record.partnerID, type: type)],
            bucket.contains(where: { $0.accepts(eventID: eventID) }) {
            return Resolution(level: .global, bucket: bucket, eventID: eventID)
        }
        return Resolution(level: nil, bucket: [], eventID: eventID)
    }
}

/// What one record triggers. It shares the index's storage: looking at it allocates nothing.
public struct Resolution: Sendable {
    /// The winning level, or nil when nothing matched.
    public let level: PostbackLevel?
    let bucket: [Postback]
    let eventID: Int64?

    /// Every postback of the winning level that applies, in id order, pixels included.
    public var matches: Postbacks { Postbacks(bucket: bucket, eventID: eventID, filter: .all) }

    /// The server-to-server postbacks to fire, in id order.
    public var fires: Postbacks { Postbacks(bucket: bucket, eventID: eventID, filter: .fires) }

    /// The pixel postbacks, which are rendered into a page and never fired by the daemon.
    public var pixels: Postbacks { Postbacks(bucket: bucket, eventID: eventID, filter: .pixels) }

    /// The postbacks of the winning level that pass one filter, in id order: a view over the
    /// index's own bucket, so taking and walking it allocates nothing.
    ///
    /// Its own type rather than `bucket.lazy.filter { ... }`: that closure captures the event id,
    /// so every resolution boxed its context on the heap, one allocation per record on the
    /// daemon's dispatch path (found by `Benchmarks/micro`, ResolveExpand).
    public struct Postbacks: Collection, Sendable {
        enum Filter: Sendable { case all, fires, pixels }

        let bucket: [Postback]
        let eventID: Int64?
        let filter: Filter

        public var startIndex: Int { next(from: bucket.startIndex) }
        public var endIndex: Int { bucket.endIndex }
        public func index(after i: Int) -> Int { next(from: i + 1) }
        public subscript(position: Int) -> Postback { bucket[position] }

        /// The first index at or after `i` whose postback passes the filter, else `endIndex`.
        private func next(from i: Int) -> Int {
            var i = i
            while i < bucket.endIndex, !includes(bucket[i]) { i += 1 }
            return i
        }

        private func includes(_ postback: Postback) -> Bool {
            guard postback.accepts(eventID: eventID) else { return false }
            switch filter {
            case .all: return true
            case .fires: return postback.delivery == .postback
            case .pixels: return postback.delivery != .postback
            }
        }
    }

    public var isEmpty: Bool { level == nil }
}
