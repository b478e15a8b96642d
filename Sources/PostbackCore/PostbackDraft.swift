/// A catalog entry as read, before validation: every field optional, problems collected.
struct PostbackDraft {
    var position: Int
    var id: Int64?
    var status: PostbackStatus?
    var description: String?
    var type: PostbackType?
    var level: PostbackLevel?
    var partnerID: Int64?
    var offerID: Int64?
    var eventIDs: [Int64]?
    var delivery: Delivery?
    var url: String?
    var author: Author?
    var method: HTTPMethod?
    var body: String?
    var contentType: BodyContentType?
    /// In catalog order; names as written.
    var headers: [(name: String, value: String)]?
    var signingSecret: String?
    var delayMillis: Int64?
    /// Problems found while reading (wrong types, bad enum values), by field.
    var readProblems: [(field: String, message: String)] = []

    /// How the entry is named in messages: by id, or by position when it has none.
    var subject: String { id.map { "postback \($0)" } ?? "postback #\(position)" }

    static func read(_ s: inout JSONScanner, position: Int) throws(JSONScanner.Failure) -> PostbackDraft {
        var draft = PostbackDraft(position: position)
        guard s.peek() == UInt8(ascii: "{") else {
            let value = try s.readScalar(depth: 2)
            draft.readProblems.append(("entry", "expected an object, got \(value.described)"))
            return draft
        }
        try s.readObject(depth: 2) { (s: inout JSONScanner, key: String) throws(JSONScanner.Failure) in
            switch key {
            case "id": draft.id = draft.integer(key, try s.readScalar(depth: 3))
            case "status": draft.status = draft.enumeration(key, try s.readScalar(depth: 3))
            case "description": draft.description = draft.string(key, try s.readScalar(depth: 3))
            case "type": draft.type = draft.enumeration(key, try s.readScalar(depth: 3))
            case "level": draft.level = draft.enumeration(key, try s.readScalar(depth: 3))
            case "partner_id": draft.partnerID = draft.integer(key, try s.readScalar(depth: 3))
            case "offer_id": draft.offerID = draft.integer(key, try s.readScalar(depth: 3))
            case "delivery": draft.delivery = draft.enumeration(key, try s.readScalar(depth: 3))
            case "url": draft.url = draft.string(key, try s.readScalar(depth: 3))
            case "author": draft.author = draft.enumeration(key, try s.readScalar(depth: 3))
            case "method": draft.method = draft.enumeration(key, try s.readScalar(depth: 3))
            case "body": draft.body = draft.string(key, try s.readScalar(depth: 3))
            case "content_type": draft.contentType = draft.enumeration(key, try s.readScalar(depth: 3))
            case "signing_secret": draft.signingSecret = draft.string(key, try s.readScalar(depth: 3))
            case "delay_ms": draft.delayMillis = draft.integer(key, try s.readScalar(depth: 3))
            case "headers":
                guard s.peek() == UInt8(ascii: "{") else {
                    let value = try s.readScalar(depth: 3)
                    if value != .null { draft.readProblems.append((key, "expected an object of header name to value, got \(value.described)")) }
                    return
                }
                var headers: [(name: String, value: String)] = []
                try s.readObject(depth: 3) { (s: inout JSONScanner, name: String) throws(JSONScanner.Failure) in
                    let value = try s.readScalar(depth: 4)
                    guard case .string(let text) = value else {
                        draft.readProblems.append((key, "header \"\(name)\": expected a string value, got \(value.described)"))
                        return
                    }
                    headers.append((name, text))
                }
                draft.headers = headers
            case "event_ids":
                guard s.peek() == UInt8(ascii: "[") else {
                    let value = try s.readScalar(depth: 3)
                    if value != .null { draft.readProblems.append((key, "expected a list of integers, got \(value.described)")) }
                    return
                }
                var ids: [Int64] = []
                try s.readArray(depth: 3) { (s: inout JSONScanner, _: Int) throws(JSONScanner.Failure) in
                    if let id = draft.integer(key, try s.readScalar(depth: 4)) { ids.append(id) }
                }
                draft.eventIDs = ids
            default:
                try s.skipValue(depth: 3)  // Unknown fields are the platform's business.
            }
        }
        return draft
    }

    mutating func integer(_ field: String, _ value: JSONScanner.Scalar) -> Int64? {
        switch value {
        case .null: return nil
        case .number(let text):
            if let n = Int64(text) { return n }
            readProblems.append((field, "expected an integer, got \(value.described)"))
        default:
            readProblems.append((field, "expected an integer, got \(value.described)"))
        }
        return nil
    }

    mutating func string(_ field: String, _ value: JSONScanner.Scalar) -> String? {
        switch value {
        case .null: return nil
        case .string(let s): return s
        default:
            readProblems.append((field, "expected a string, got \(value.described)"))
            return nil
        }
    }

    mutating func enumeration<E: RawRepresentable & CaseIterable>(_ field: String, _ value: JSONScanner.Scalar) -> E?
    where E.RawValue == String {
        guard let text = string(field, value) else { return nil }
        if let e = E(rawValue: text) { return e }
        let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
        readProblems.append((field, "\"\(text)\" is not one of \(allowed)"))
        return nil
    }

    /// A POST may carry the partner's click ID in its body or a header instead of the URL.
    var clickIDInBodyOrHeaders: Bool {
        guard method == .post else { return false }
        let texts = [body ?? ""] + (headers ?? []).map(\.value)
        return texts.contains { MacroText.references(in: Array($0.utf8)).contains { $0.macro?.isClickID == true } }
    }

    /// Applies every catalog rule; returns the postback or all that is wrong with it.
    func build() -> Result<Postback, CatalogError> {
        var problems = readProblems.map { CatalogProblem(subject: subject, field: $0.field, message: $0.message) }
        func problem(_ field: String, _ message: String) {
            problems.append(CatalogProblem(subject: subject, field: field, message: message))
        }
        func failed(_ field: String) -> Bool { readProblems.contains { $0.field == field } }

        if id == nil, !failed("id") { problem("id", "missing") }
        if type == nil, !failed("type") { problem("type", "missing (conversion, event or cpc)") }
        if level == nil, !failed("level") { problem("level", "missing (specific, global_offer or global)") }

        if let level {
            switch level {
            case .specific:
                if partnerID == nil, !failed("partner_id") { problem("partner_id", "required for level specific") }
                if offerID == nil, !failed("offer_id") { problem("offer_id", "required for level specific") }
            case .globalOffer:
                if partnerID != nil { problem("partner_id", "must be absent for level global_offer (it applies to every partner on the offer)") }
                if offerID == nil, !failed("offer_id") { problem("offer_id", "required for level global_offer") }
            case .global:
                if partnerID == nil, !failed("partner_id") { problem("partner_id", "required for level global") }
                if offerID != nil { problem("offer_id", "must be absent for level global (it applies to every offer of the partner)") }
            }
        }
        if let eventIDs, let type {
            if type != .event {
                problem("event_ids", "only allowed on type event (this postback is \(type.rawValue))")
            } else if eventIDs.isEmpty, !failed("event_ids") {
                problem("event_ids", "is empty; omit it to fire on every event")
            }
        }

        var template: URLTemplate?
        if let url {
            do {
                template = try URLTemplate.compile(url, requireClickID: !clickIDInBodyOrHeaders)
            } catch {
                for p in error.all { problem("url", p.message) }
            }
        } else if !failed("url") {
            problem("url", "missing")
        }

        let delivery = PostbackDelivery.read(self, problem: problem, failed: failed)

        guard problems.isEmpty, let id, let type, let level, let template, let delivery else {
            return .failure(CatalogError(problems: problems))
        }
        return .success(Postback(
            id: id, status: status ?? .active, description: description ?? "", type: type, level: level,
            partnerID: partnerID, offerID: offerID, eventIDs: eventIDs, delivery: self.delivery ?? .postback,
            template: template, author: author ?? .network, method: delivery.method, body: delivery.body,
            headers: delivery.headers, signingSecret: delivery.secret, delayMillis: delivery.delayMillis))
    }
}
