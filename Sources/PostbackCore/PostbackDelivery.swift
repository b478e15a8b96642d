/// The catalog rules of the fields beyond GET (`method`, `body`, `content_type`, `headers`,
/// `signing_secret`, `delay_ms`), checked together because they depend on each other (a body
/// needs POST, its content type says how to read it). Each problem names its field.
struct PostbackDelivery {
    var method: HTTPMethod
    var body: BodyTemplate?
    var headers: [HeaderTemplate]
    var secret: WebhookSecret?
    var delayMillis: Int64

    /// The compiled fields, or nil after reporting each problem through `problem`.
    static func read(_ draft: PostbackDraft, problem: (String, String) -> Void, failed: (String) -> Bool) -> PostbackDelivery? {
        var ok = !["method", "body", "content_type", "headers", "signing_secret", "delay_ms"].contains(where: failed)
        func refuse(_ field: String, _ message: String) {
            problem(field, message)
            ok = false
        }
        let method = draft.method ?? .get
        if method == .post, let delivery = draft.delivery, delivery != .postback {
            refuse("method", "POST is only for delivery postback (a \(delivery.rawValue) is rendered into a page, never fired)")
        }
        var body: BodyTemplate?
        if let text = draft.body {
            if method != .post {
                refuse("body", "only allowed with method POST (this postback is GET)")
            } else if !failed("content_type") {
                do {
                    body = try BodyTemplate.compile(text, contentType: draft.contentType ?? .json)
                } catch {
                    for p in error.all { refuse("body", p.message) }
                }
            }
        } else if draft.contentType != nil {
            refuse("content_type", "only allowed with a body")
        }
        var headers: [HeaderTemplate] = []
        var seen: Set<String> = []
        for (name, value) in draft.headers ?? [] {
            if !seen.insert(name.lowercased()).inserted {
                refuse("headers", "header \"\(name)\" appears twice")
                continue
            }
            do {
                headers.append(try HeaderTemplate.compile(name: name, value: value))
            } catch {
                for p in error.all { refuse("headers", p.message) }
            }
        }
        var secret: WebhookSecret?
        if let text = draft.signingSecret {
            if method != .post {
                refuse("signing_secret", "only allowed with method POST (the signature covers the body)")
            } else {
                switch WebhookSecret.parse(text) {
                case .success(let s): secret = s
                case .failure(let p): refuse("signing_secret", p.message)
                }
            }
        }
        let delay = draft.delayMillis ?? 0
        if !(0...Postback.maxDelayMillis).contains(delay) {
            refuse("delay_ms", "must be from 0 to \(Postback.maxDelayMillis) (milliseconds, Everflow's bound), got \(delay)")
        }
        guard ok else { return nil }
        return PostbackDelivery(method: method, body: body, headers: headers, secret: secret, delayMillis: delay)
    }
}
