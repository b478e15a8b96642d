@testable import PostbackCore

/// Builds catalogs and records for tests from short descriptions.
enum Fixtures {
    static func entry(
        _ id: Int64, status: String = "active", type: String = "conversion", level: String = "specific",
        partner: Int64? = 7, offer: Int64? = 3, eventIDs: [Int64]? = nil, delivery: String = "postback",
        url: String? = nil, author: String? = nil
    ) -> String {
        var fields = [
            "\"id\": \(id)", "\"status\": \"\(status)\"", "\"type\": \"\(type)\"", "\"level\": \"\(level)\"",
            "\"delivery\": \"\(delivery)\"",
            "\"url\": \(JSONText.quote(url ?? "https://partner.example/pb?click={sub1}&pb=\(id)"))",
        ]
        if let partner { fields.append("\"partner_id\": \(partner)") }
        if let offer { fields.append("\"offer_id\": \(offer)") }
        if let eventIDs { fields.append("\"event_ids\": [\(eventIDs.map(String.init).joined(separator: ","))]") }
        if let author { fields.append("\"author\": \"\(author)\"") }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    static func catalogJSON(_ entries: [String]) -> String {
        "{\"postbacks\": [\n" + entries.joined(separator: ",\n") + "\n]}"
    }

    static func catalog(_ entries: [String]) throws -> Catalog {
        try Catalog.load(Array(catalogJSON(entries).utf8)).get()
    }

    static func problems(_ entries: [String]) -> [String] {
        problems(json: catalogJSON(entries))
    }

    static func problems(json: String) -> [String] {
        switch Catalog.load(Array(json.utf8)) {
        case .success: return []
        case .failure(let error): return error.problems.map(\.description)
        }
    }

    static func record(_ json: String) throws -> Record {
        try RecordParser.parse(line: json).get()
    }
}
