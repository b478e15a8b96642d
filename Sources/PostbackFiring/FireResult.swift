import PostbackCore

/// One fire to send. A value so the spool can build it anywhere and hand it across threads.
public struct FireRequest: Sendable, Hashable {
    public var url: String
    /// GET unless the postback says POST; `body` goes only with POST.
    public var method: HTTPMethod = .get
    /// Extra header lines, `Name: value`, checked when built (`FireRequest.build`): never CR,
    /// LF or NUL. Content-Type and the webhook-* headers are among them.
    public var headerLines: [String] = []
    public var body: [UInt8] = []
    /// Off for `FireProbe`, which follows hops itself to report each one.
    var followRedirects: Bool
    /// On for `FireProbe`: the result carries `ConnectionDetails` (certificate chain included,
    /// which costs curl a parse per connection, so the daemon's fires leave it off).
    var reportsConnection: Bool

    public init(url: String) {
        self.url = url
        followRedirects = true
        reportsConnection = false
    }

    init(url: String, followRedirects: Bool, reportsConnection: Bool = false) {
        self.url = url
        self.followRedirects = followRedirects
        self.reportsConnection = reportsConnection
    }
}

/// How a request reached its partner, for `postbackctl test-fire`.
public struct ConnectionDetails: Sendable, Hashable {
    /// "HTTP/1.1", "HTTP/2", ...
    public var httpVersion: String
    /// "TLSv1.3"; nil for plain http.
    public var tlsVersion: String?
    /// Of the server's own certificate (the first of the chain), as OpenSSL prints them.
    public var certificateSubject: String?
    public var certificateIssuer: String?
    public var certificateExpiry: String?
    /// From the start until the TCP connection was up (includes name resolution).
    public var connectTime: Duration
    /// The TLS handshake alone; nil for plain http.
    public var tlsHandshakeTime: Duration?
}

/// A redirect answer on the way to the final one.
public struct RedirectHop: Sendable, Hashable {
    public var status: Int
    /// As the partner sent it (may be relative); the probe reports it resolved.
    public var location: String

    public init(status: Int, location: String) {
        self.status = status
        self.location = location
    }
}

/// Everything the ledger, the journal and the retry policy need about one attempt.
public struct FireResult: Sendable {
    /// The URL as sent on the first hop.
    public var url: String
    /// Where the last hop went, when redirects were followed.
    public var effectiveURL: String?
    /// The final answer's status; nil when no answer arrived.
    public var status: Int?
    /// libcurl's CURLcode (0 = the transfer completed).
    public var curlCode: Int32
    /// CURLOPT_ERRORBUFFER's text (or curl_easy_strerror), or our own refusal; empty on success.
    public var errorText: String
    /// curl's total time for the transfer, redirects included (not time spent waiting for a slot).
    public var latency: Duration
    /// The first `bodyCap` bytes of the final answer.
    public var bodyPrefix: [UInt8]
    /// The answer had more than `bodyPrefix`.
    public var bodyTruncated: Bool
    /// The partner's Retry-After, as a delay from when the answer arrived.
    public var retryAfter: Duration?
    /// Redirect answers followed on the way, in order.
    public var redirects: [RedirectHop]
    /// Absolute target of an unfollowed 3xx (CURLINFO_REDIRECT_URL), for `FireProbe`.
    public var redirectURL: String?
    /// Set when the address rules refused every address the host resolved to.
    public var refusal: String?
    public var verdict: FireVerdict
    /// Only when the request asked for it (`FireProbe`).
    public var connection: ConnectionDetails? = nil
    /// The request went out on a connection (curl's PREREQFUNCTION ran): whatever happened
    /// after that is the partner's answer; before it, only connecting and the handshake.
    public var wasSent = false

    /// Whether this result says something about the partner's health, for the circuit
    /// breaker: not a destination our own address rules refused, nor a failure on our side
    /// (the engine shut down, a CA file curl could not read, out of memory).
    public var judgesPartner: Bool {
        if refusal != nil { return false }
        switch curlCode {
        case 2 /* FAILED_INIT */, 27 /* OUT_OF_MEMORY */, 77 /* SSL_CACERT_BADFILE */, 58 /* SSL_CERTPROBLEM */: return false
        default: return true
        }
    }

    /// The body prefix as text, for logs (invalid UTF-8 repaired).
    public var bodyText: String { String(decoding: bodyPrefix, as: UTF8.self) }
}

/// What the daemon does next with a fire.
public struct FireVerdict: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// A 2xx: done.
        case success
        /// Worth retrying later (RetryPolicy).
        case transient
        /// Retrying cannot help: dead-letter now.
        case permanent
    }

    public var kind: Kind
    /// Short and human: "HTTP 503", "timeout: ...", "refused: 127.0.0.1 is loopback".
    public var reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public var description: String { "\(kind.rawValue): \(reason)" }
}
