/// The macro vocabulary: Everflow's names, so existing postback URLs paste in unchanged.
public enum Macro: String, CaseIterable, Sendable {
    case transactionID = "transaction_id"
    case affiliateID = "affiliate_id"
    case offerID = "offer_id"
    case sub1, sub2, sub3, sub4, sub5
    case sourceID = "source_id"
    case eventID = "event_id"
    case payoutAmount = "payout_amount"
    case saleAmount = "sale_amount"
    case currency
    case conversionID = "conversion_id"
    case orderID = "order_id"
    case couponCode = "coupon_code"
    case adv1, adv2, adv3, adv4, adv5
    case timestamp
    case postbackID = "postback_id"
    case random
    // Everflow's 2026 extension of the vocabulary.
    case sub6, sub7, sub8, sub9, sub10
    case adv6, adv7, adv8, adv9, adv10
    case eventName = "event_name"
    /// One id per (record, postback), the same on every attempt and after a restart, so a
    /// partner can drop duplicates; the caller derives it (`Context.fireID`).
    case fireID = "fire_id"

    /// Macros that carry the partner's click ID; a URL without one cannot be attributed.
    public var isClickID: Bool {
        switch self {
        case .sub1, .sub2, .sub3, .sub4, .sub5, .sub6, .sub7, .sub8, .sub9, .sub10, .transactionID: return true
        default: return false
        }
    }

    /// Macros whose value is always a number (or absent): in a JSON body such a macro may
    /// stand outside quotes and becomes the number itself, or `null` when absent.
    public var isNumeric: Bool {
        switch self {
        case .payoutAmount, .saleAmount, .affiliateID, .offerID, .eventID, .timestamp, .postbackID, .random: return true
        default: return false
        }
    }

    /// The record field a macro reads, or nil for the values the caller supplies.
    public var recordField: RecordField? {
        switch self {
        case .transactionID: return .transactionID
        case .affiliateID: return .partnerID
        case .offerID: return .offerID
        case .sub1: return .sub1
        case .sub2: return .sub2
        case .sub3: return .sub3
        case .sub4: return .sub4
        case .sub5: return .sub5
        case .sourceID: return .sourceID
        case .eventID: return .eventID
        case .payoutAmount: return .payout
        case .saleAmount: return .saleAmount
        case .currency: return .currency
        case .conversionID: return .conversionID
        case .orderID: return .orderID
        case .couponCode: return .couponCode
        case .adv1: return .adv1
        case .adv2: return .adv2
        case .adv3: return .adv3
        case .adv4: return .adv4
        case .adv5: return .adv5
        case .sub6: return .sub6
        case .sub7: return .sub7
        case .sub8: return .sub8
        case .sub9: return .sub9
        case .sub10: return .sub10
        case .adv6: return .adv6
        case .adv7: return .adv7
        case .adv8: return .adv8
        case .adv9: return .adv9
        case .adv10: return .adv10
        case .eventName: return .eventName
        case .timestamp, .postbackID, .random, .fireID: return nil
        }
    }

    /// The known macro nearest to a misspelt one, for "did you mean" hints.
    public static func nearest(to name: String) -> Macro? {
        let lowered = name.lowercased()
        if let exact = Macro(rawValue: lowered) { return exact }
        var best: (Macro, Int)?
        for m in Macro.allCases {
            let d = editDistance(Array(lowered.utf8), Array(m.rawValue.utf8))
            if best == nil || d < best!.1 { best = (m, d) }
        }
        guard let (macro, distance) = best, distance <= max(2, macro.rawValue.count / 3) else { return nil }
        return macro
    }
}

/// Levenshtein distance with transpositions counted as one edit (`sbu1` is one slip from `sub1`).
func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev2 = [Int](repeating: 0, count: b.count + 1)
    var prev = Array(0...b.count)
    var cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            var v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { v = min(v, prev2[j - 2] + 1) }
            cur[j] = v
        }
        (prev2, prev, cur) = (prev, cur, prev2)
    }
    return prev[b.count]
}
