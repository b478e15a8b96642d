/// Writing JSON by hand, for output whose key order is part of a contract.
public enum JSONText {
    /// The string as a JSON string literal, quotes included.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7F:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

extension Postback {
    /// The postback as a catalog entry, with the catalog's field names in the catalog's order.
    public var catalogJSON: String {
        var fields: [String] = [
            "\"id\":\(id)", "\"status\":\(JSONText.quote(status.rawValue))",
            "\"description\":\(JSONText.quote(description))", "\"type\":\(JSONText.quote(type.rawValue))",
            "\"level\":\(JSONText.quote(level.rawValue))",
        ]
        if let partnerID { fields.append("\"partner_id\":\(partnerID)") }
        if let offerID { fields.append("\"offer_id\":\(offerID)") }
        if let eventIDs { fields.append("\"event_ids\":[\(eventIDs.map(String.init).joined(separator: ","))]") }
        fields.append("\"delivery\":\(JSONText.quote(delivery.rawValue))")
        fields.append("\"url\":\(JSONText.quote(url))")
        fields.append("\"author\":\(JSONText.quote(author.rawValue))")
        return "{" + fields.joined(separator: ",") + "}"
    }
}
