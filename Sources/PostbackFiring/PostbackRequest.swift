import PostbackCore

extension FireRequest {
    /// The request of one attempt of `postback` for `record`: the URL expanded into `url`
    /// (a buffer the caller reuses), and for POST postbacks the body, the headers and the
    /// signature. `context.fireID` must be set when `postback.usesFireID`; `now` is the
    /// attempt's Unix seconds (`webhook-timestamp`).
    ///
    /// Fails, with the reason, when a header value would hold CR, LF or NUL once expanded:
    /// such a fire is never sent (a permanent failure), so a record cannot add a header line.
    public static func build(
        _ postback: Postback, record: Record, context: URLTemplate.Context, now: Int64, url: inout [UInt8]
    ) -> Result<FireRequest, HeaderTemplate.Unsendable> {
        url.removeAll(keepingCapacity: true)
        postback.template.expand(record, context: context, into: &url)
        var request = FireRequest(url: String(decoding: url, as: UTF8.self))
        // The plain GET, every postback before issue 15: nothing more to build.
        if postback.method == .get && postback.headers.isEmpty { return .success(request) }
        request.method = postback.method
        for header in postback.headers {
            do {
                request.headerLines.append(header.name + ": " + (try header.expand(record, context: context)))
            } catch {
                return .failure(error)
            }
        }
        if let body = postback.body {
            request.body = body.expand(record, context: context)
            request.headerLines.append("Content-Type: " + body.contentType.rawValue)
        }
        if let secret = postback.signingSecret {
            request.headerLines += WebhookSignature.headerLines(
                key: secret.key, id: context.fireID, timestamp: now, body: request.body)
        }
        return .success(request)
    }
}

extension FireResult {
    /// A fire that was never sent because it cannot be (`FireRequest.build` refused it):
    /// permanent, and not held against the partner's host (it judges nothing there).
    public static func unsendable(_ url: String, reason: String) -> FireResult {
        FireResult(
            url: url, effectiveURL: nil, status: nil, curlCode: 2 /* CURLE_FAILED_INIT: not the partner's */,
            errorText: reason, latency: .zero, bodyPrefix: [], bodyTruncated: false,
            retryAfter: nil, redirects: [], redirectURL: nil, refusal: nil,
            verdict: FireVerdict(.permanent, reason))
    }
}
