import PostbackCore

/// Synthetic but realistic catalogs and records, generated in-process so the benchmarks need
/// no data files and every run measures the same input.
///
/// Shape of a catalog of `count` postbacks (deterministic, no randomness):
/// - `count / 10` partners and `count / 20` offers; levels 70 % specific, 10 % global_offer,
///   20 % global (partner), so a partner or an offer has one or two global postbacks of a type,
///   as on a real network, and a specific (partner, offer) pair usually one;
/// - types 70 % conversion, 20 % event (half of them restricted to `event_ids`), 10 % cpc;
/// - 1 in 37 inactive, 1 in 23 an image pixel and 1 in 97 an iframe pixel, 1 in 5 partner-authored;
/// - URLs from five templates of 5 to 9 macros each (`{sub1}`, `{transaction_id}`,
///   `{payout_amount}`, `{currency}`, `{offer_id}`, `{timestamp}`, `{random}`...), on one host
///   per partner, with a description of 25–40 characters.
public enum CatalogFixtures {
    public struct Shape: Sendable {
        public var count: Int
        public var partners: Int { max(1, count / 10) }
        public var offers: Int { max(1, count / 20) }
        public init(count: Int) { self.count = count }
    }

    /// URL templates as (scheme, rest after the host): the host is the partner's.
    static let templates: [(scheme: String, rest: String)] = [
        ("https://", "/postback?click_id={sub1}&txn={transaction_id}&payout={payout_amount}&currency={currency}&offer={offer_id}"),
        ("https://", "/pb/{offer_id}?cid={sub2}&amount={payout_amount}&cur={currency}&ts={timestamp}&rnd={random}"),
        ("https://", "/conv?clickid={sub1}&tid={transaction_id}&sum={sale_amount}&currency={currency}&aff={affiliate_id}&src={source_id}&pb={postback_id}"),
        ("http://", ":8080/track/s2s?s1={sub1}&s2={sub2}&s3={sub3}&payout={payout_amount}&cur={currency}&order={order_id}&cb={random}"),
        ("https://", "/api/v2/postback?transaction_id={transaction_id}&sub1={sub1}&event={event_id}&payout={payout_amount}&currency={currency}&adv1={adv1}&t={timestamp}&r={random}&pid={postback_id}"),
    ]

    /// What the generator puts in postback `id` (1-based). Pure, so a benchmark can find an
    /// entry of a given kind without keeping a second copy of the catalog.
    public struct Entry {
        public var id: Int
        public var status: String
        public var type: String
        public var level: String
        public var partnerID: Int?
        public var offerID: Int?
        public var eventIDs: [Int]?
        public var delivery: String
        public var author: String
        public var url: String
        public var description: String
    }

    public static func entry(_ id: Int, in shape: Shape) -> Entry {
        // Every attribute from its own hash of the id, so they are independent of each other
        // (plain `id % k` residues correlate: `id % 20` and `id % 10` would tie level to type).
        func pick(_ salt: UInt64, _ n: Int) -> Int { Int(mix(UInt64(id) &* 0x100 ^ salt) % UInt64(n)) }
        let partner = 1 + pick(1, shape.partners)
        let offer = 1 + pick(2, shape.offers)
        let level: String
        switch pick(3, 20) {
        case 0..<14: level = "specific"
        case 14..<16: level = "global_offer"
        default: level = "global"
        }
        let type: String
        var eventIDs: [Int]?
        switch pick(4, 10) {
        case 0..<7: type = "conversion"
        case 7..<9:
            type = "event"
            if pick(5, 2) == 0 { eventIDs = [1 + pick(6, 5), 6 + pick(6, 5)] }
        default: type = "cpc"
        }
        let delivery = pick(7, 97) == 0 ? "iframe_pixel" : pick(8, 23) == 0 ? "image_pixel" : "postback"
        let host = "tracker-\(partner).partner\(partner % 13).example"
        let template = templates[pick(9, templates.count)]
        let url = template.scheme + host + template.rest
        return Entry(
            id: id, status: pick(10, 37) == 0 ? "inactive" : "active", type: type, level: level,
            partnerID: level == "global_offer" ? nil : partner,
            offerID: level == "global" ? nil : offer,
            eventIDs: eventIDs, delivery: delivery, author: pick(11, 5) == 0 ? "partner" : "network",
            url: url, description: "Partner \(partner) on offer \(offer) (\(type))")
    }

    /// SplitMix64's finaliser: a cheap, well-spread, deterministic hash.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The catalog as the platform would export it: `{"postbacks": [...]}`, one entry a line.
    public static func catalogJSON(_ shape: Shape) -> [UInt8] {
        var json: [UInt8] = []
        json.reserveCapacity(shape.count * 400)
        json.append(contentsOf: "{\"postbacks\": [\n".utf8)
        for id in 1...shape.count {
            let e = entry(id, in: shape)
            if id > 1 { json.append(contentsOf: ",\n".utf8) }
            var line = "{\"id\":\(e.id),\"status\":\"\(e.status)\",\"description\":\"\(e.description)\","
            line += "\"type\":\"\(e.type)\",\"level\":\"\(e.level)\","
            if let p = e.partnerID { line += "\"partner_id\":\(p)," }
            if let o = e.offerID { line += "\"offer_id\":\(o)," }
            if let ids = e.eventIDs { line += "\"event_ids\":[\(ids.map(String.init).joined(separator: ","))]," }
            line += "\"delivery\":\"\(e.delivery)\",\"url\":\"\(e.url)\",\"author\":\"\(e.author)\"}"
            json.append(contentsOf: line.utf8)
        }
        json.append(contentsOf: "\n]}\n".utf8)
        return json
    }

    /// Loads, validates and indexes; traps on a refused catalog (a generator bug).
    public static func index(_ json: [UInt8]) -> PostbackIndex {
        switch Catalog.load(json) {
        case .success(let catalog): return PostbackIndex(catalog: catalog)
        case .failure(let error): fatalError("generated catalog refused:\n\(error.description.prefix(2000))")
        }
    }

    /// A conversion of a realistic size: click ID, payout, currency, order and source set.
    public static func conversion(partner: Int64, offer: Int64) -> Record {
        var record = Record(kind: .conversion, transactionID: "102e4f3a9b7c4d0e8f61a2b3c4d5e6f7", partnerID: partner, offerID: offer)
        record[.sub1] = "cl1ck-9f8e7d6c5b4a"
        record[.sub2] = "camp_2026_11"
        record[.sourceID] = "src-44"
        record[.payout] = "12.50"
        record[.saleAmount] = "249.90"
        record[.currency] = "EUR"
        record[.orderID] = "ORD-2026-000123"
        record[.timestamp] = "1795000000"
        record[.adv1] = "Spring Sale 20%"  // Free text: a space and a '%' to encode.
        return record
    }

    /// A POST body of a mobile tracker's kind: 9 macros, strings in quotes, amounts and ids bare.
    public static let jsonBody = #"{"click_id": "{sub1}", "transaction": "{transaction_id}", "payout": {payout_amount}, "sale": {sale_amount}, "currency": "{currency}", "order": "{order_id}", "offer": {offer_id}, "note": "{adv1}", "ts": {timestamp}}"#

    /// A partner and an offer that no generated postback names.
    public static let unknownID: Int64 = 999_999_999

    /// A record whose resolution stops at `level` and fires exactly one S2S postback, found by
    /// asking the index itself: a specific (partner, offer) pair; a partner with no postbacks
    /// of its own on an offer with a network postback (2 lookups); a partner's global postback
    /// on an offer no postback names (all 3 lookups run). The postback is one with the longest
    /// template (9 macros), so the figure is the generated catalog's most expensive fire.
    public static func singleFireRecord(_ index: PostbackIndex, level: PostbackLevel) -> Record {
        let most = index.catalog.postbacks.map(\.template.macros.count).max() ?? 0
        for postback in index.catalog.postbacks
        where postback.level == level && postback.type == .conversion && postback.status == .active
            && postback.delivery == .postback && postback.template.macros.count == most
        {
            let record = conversion(
                partner: postback.partnerID ?? unknownID, offer: postback.offerID ?? unknownID)
            let resolution = index.resolve(record)
            if resolution.level == level, resolution.fires.count == 1 { return record }
        }
        fatalError("no \(level) postback with a single fire in the generated catalog")
    }

    /// The spool line of `conversion(...)` as ingest writes it (13 fields), plus two fields the
    /// daemon ignores; 375 bytes.
    public static let recordLine =
        #"{"kind":"conversion","transaction_id":"102e4f3a9b7c4d0e8f61a2b3c4d5e6f7","partner_id":1234,"offer_id":567,"#
        + #""sub1":"cl1ck-9f8e7d6c5b4a","sub2":"camp_2026_11","source_id":"src-44","payout":"12.50","#
        + #""sale_amount":249.90,"currency":"EUR","order_id":"ORD-2026-000123","timestamp":1795000000,"#
        + #""adv1":"Spring Sale 20%","ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}"#
}
