/// What a record reports: a base conversion, an event, or a click on a CPC offer.
public enum RecordKind: String, Sendable, CaseIterable {
    case conversion, event, click

    /// The postback type that fires for this kind of record.
    public var postbackType: PostbackType {
        switch self {
        case .conversion: return .conversion
        case .event: return .event
        case .click: return .cpc
        }
    }
}

/// The fields of a record that macros can read, kept as the platform sent them.
public enum RecordField: Int, CaseIterable, Sendable {
    case transactionID, partnerID, offerID, eventID
    case sub1, sub2, sub3, sub4, sub5
    case sourceID, payout, saleAmount, currency
    case conversionID, orderID, couponCode
    case adv1, adv2, adv3, adv4, adv5
    case timestamp
    // Everflow's 2026 extension; appended so existing raw values stay put.
    case sub6, sub7, sub8, sub9, sub10
    case adv6, adv7, adv8, adv9, adv10
    case eventName

    /// The field's name in a spool line.
    public var jsonName: String {
        switch self {
        case .transactionID: return "transaction_id"
        case .partnerID: return "partner_id"
        case .offerID: return "offer_id"
        case .eventID: return "event_id"
        case .sub1: return "sub1"
        case .sub2: return "sub2"
        case .sub3: return "sub3"
        case .sub4: return "sub4"
        case .sub5: return "sub5"
        case .sourceID: return "source_id"
        case .payout: return "payout"
        case .saleAmount: return "sale_amount"
        case .currency: return "currency"
        case .conversionID: return "conversion_id"
        case .orderID: return "order_id"
        case .couponCode: return "coupon_code"
        case .adv1: return "adv1"
        case .adv2: return "adv2"
        case .adv3: return "adv3"
        case .adv4: return "adv4"
        case .adv5: return "adv5"
        case .timestamp: return "timestamp"
        case .sub6: return "sub6"
        case .sub7: return "sub7"
        case .sub8: return "sub8"
        case .sub9: return "sub9"
        case .sub10: return "sub10"
        case .adv6: return "adv6"
        case .adv7: return "adv7"
        case .adv8: return "adv8"
        case .adv9: return "adv9"
        case .adv10: return "adv10"
        case .eventName: return "event_name"
        }
    }

    static let byJSONName: [String: RecordField] = Dictionary(
        uniqueKeysWithValues: allCases.map { ($0.jsonName, $0) })

    /// `allCases.count`, computed once: `allCases` builds a new array on every call, and the
    /// parser needs the count for every line.
    static let count = allCases.count

    /// Every record must have these.
    static let required: [RecordField] = [.transactionID, .partnerID, .offerID]
}

/// One spool line: a conversion, an event or a click, with its values as sent.
public struct Record: Sendable, Equatable {
    public var kind: RecordKind
    public var partnerID: Int64
    public var offerID: Int64
    public var eventID: Int64?
    /// Values by `RecordField.rawValue`; numbers keep their source text (`1.50` stays `1.50`).
    var values: [String?]

    public init(kind: RecordKind, transactionID: String, partnerID: Int64, offerID: Int64, eventID: Int64? = nil) {
        self.kind = kind
        self.partnerID = partnerID
        self.offerID = offerID
        self.eventID = eventID
        values = [String?](repeating: nil, count: RecordField.count)
        values[RecordField.transactionID.rawValue] = transactionID
        values[RecordField.partnerID.rawValue] = String(partnerID)
        values[RecordField.offerID.rawValue] = String(offerID)
        if let eventID { values[RecordField.eventID.rawValue] = String(eventID) }
    }

    /// From the parser, which already holds every value as text.
    init(kind: RecordKind, partnerID: Int64, offerID: Int64, eventID: Int64?, values: [String?]) {
        self.kind = kind
        self.partnerID = partnerID
        self.offerID = offerID
        self.eventID = eventID
        self.values = values
    }

    public subscript(field: RecordField) -> String? {
        get { values[field.rawValue] }
        set { values[field.rawValue] = newValue }
    }

    public var transactionID: String { values[RecordField.transactionID.rawValue] ?? "" }
}
