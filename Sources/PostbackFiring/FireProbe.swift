/// What `postbackctl test-fire` shows: every request sent, hop by hop, and the verdict.
public struct ProbeReport: Sendable, CustomStringConvertible {
    /// One result per request sent, in order; redirects are separate requests here.
    public var requests: [FireResult]
    /// Judged as the daemon would judge the fire (with no retry).
    public var verdict: FireVerdict
    /// What was sent for each of `requests` (method, header lines, body), same order.
    public var sent: [FireRequest] = []

    public init(requests: [FireResult], verdict: FireVerdict, sent: [FireRequest] = []) {
        self.requests = requests
        self.verdict = verdict
        self.sent = sent
    }

    public var description: String {
        var lines: [String] = []
        for (i, r) in requests.enumerated() {
            let request = sent.indices.contains(i) ? sent[i] : nil
            lines.append("request \(i + 1): \(request?.method.rawValue ?? "GET") \(r.url)")
            if let request {
                for line in request.headerLines { lines.append("  header: " + Self.masked(line)) }
                if request.method == .post { lines.append("  request body: \(String(decoding: request.body, as: UTF8.self).debugDescription)") }
            }
            if let c = r.connection { lines.append(contentsOf: Self.describe(c)) }
            var answer = r.status.map { "HTTP \($0)" } ?? "no answer (\(r.errorText))"
            answer += " in \(Self.milliseconds(r.latency)) ms"
            if let to = r.redirectURL { answer += ", redirect to \(to)" }
            if let after = r.retryAfter { answer += ", Retry-After \(after)" }
            lines.append("  answer: \(answer)")
            if !r.bodyPrefix.isEmpty {
                lines.append("  body: \(r.bodyText.debugDescription)\(r.bodyTruncated ? " (truncated)" : "")")
            }
        }
        lines.append("verdict: \(verdict)")
        return lines.joined(separator: "\n")
    }

    /// A header line as shown: the signature masked (it proves the secret to whoever holds
    /// this output; the secret itself is never in a header).
    static func masked(_ line: String) -> String {
        line.lowercased().hasPrefix("webhook-signature:") ? "webhook-signature: v1,(masked)" : line
    }

    /// "  connection: HTTP/2 over TLSv1.3, connect 0.210 ms, TLS handshake 1.712 ms" and the
    /// certificate's subject, issuer and expiry.
    static func describe(_ c: ConnectionDetails) -> [String] {
        var line = "  connection: \(c.httpVersion)"
        line += c.tlsVersion.map { " over \($0)" } ?? " (no TLS)"
        line += ", connect \(milliseconds(c.connectTime)) ms"
        if let handshake = c.tlsHandshakeTime { line += ", TLS handshake \(milliseconds(handshake)) ms" }
        var lines = [line]
        if let subject = c.certificateSubject { lines.append("  certificate: \(subject)") }
        if let issuer = c.certificateIssuer { lines.append("  issuer: \(issuer)") }
        if let expiry = c.certificateExpiry { lines.append("  expires: \(expiry)") }
        return lines
    }

    private static func milliseconds(_ d: Duration) -> String {
        let micros = d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000
        return "\(micros / 1000).\(String(micros % 1000 + 1000).dropFirst())"
    }
}

/// One fire, once, no retries, for people trying a postback by hand.
public enum FireProbe {
    /// Starts a private engine for the one fire; the CLI has no engine of its own.
    public static func run(url: String, configuration: FiringConfiguration = FiringConfiguration()) async -> ProbeReport {
        await run(FireRequest(url: url), configuration: configuration)
    }

    /// A built request (`FireRequest.build`): its method, headers and body on the first hop.
    public static func run(_ request: FireRequest, configuration: FiringConfiguration = FiringConfiguration()) async -> ProbeReport {
        let engine = FiringEngine(configuration: configuration)
        defer { engine.shutdown() }
        return await engine.probe(request)
    }
}

extension FiringEngine {
    /// Follows redirects itself, one request per hop, so each hop is reported with its own
    /// status and latency and each connection still goes through the connect-time address
    /// check. A redirect to another scheme fails as curl refuses the scheme (permanent).
    public func probe(url: String) async -> ProbeReport {
        await probe(FireRequest(url: url))
    }

    /// As `probe(url:)`, sending the request's method, headers and body; a redirect hop keeps
    /// them on 307 and 308 and becomes a plain GET otherwise, as curl does for the daemon.
    public func probe(_ first: FireRequest) async -> ProbeReport {
        var requests: [FireResult] = []
        var sent: [FireRequest] = []
        var next = first
        next.followRedirects = false
        next.reportsConnection = true
        while true {
            let result = await fire(next)
            requests.append(result)
            sent.append(next)
            guard let target = result.redirectURL else {
                return ProbeReport(requests: requests, verdict: result.verdict, sent: sent)
            }
            if requests.count > configuration.maxRedirects {
                return ProbeReport(
                    requests: requests,
                    verdict: FireVerdict(.permanent, "too many redirects: more than \(configuration.maxRedirects)"), sent: sent)
            }
            // As the daemon's fires: an https postback is never downgraded by a redirect.
            if first.url.isHTTPS && !target.isHTTPS {
                return ProbeReport(requests: requests, verdict: .refusedDowngrade, sent: sent)
            }
            next.url = target
            if next.method == .post, result.status != 307, result.status != 308 {
                next.method = .get
                next.body = []
                next.headerLines.removeAll { $0.lowercased().hasPrefix("content-type:") }
            }
        }
    }
}
