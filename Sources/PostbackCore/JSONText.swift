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
    /// The postback as a catalog entry, with the catalog's field names in the catalog's order;
    /// a signing secret shows as `(masked)`, so listings never print it.
    public var catalogJSON: String { catalogJSON(revealingSecret: false) }

    /// `revealingSecret`: only for writing the catalog file itself back.
    public func catalogJSON(revealingSecret: Bool) -> String {
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
        if method != .get { fields.append("\"method\":\(JSONText.quote(method.rawValue))") }
        if let body {
            fields.append("\"body\":\(JSONText.quote(body.source))")
            fields.append("\"content_type\":\(JSONText.quote(body.contentType.rawValue))")
        }
        if !headers.isEmpty {
            let members = headers.map { "\(JSONText.quote($0.name)):\(JSONText.quote($0.value))" }
            fields.append("\"headers\":{" + members.joined(separator: ",") + "}")
        }
        if let signingSecret {
            fields.append("\"signing_secret\":\(JSONText.quote(revealingSecret ? signingSecret.text : "(masked)"))")
        }
        if delayMillis != 0 { fields.append("\"delay_ms\":\(delayMillis)") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
