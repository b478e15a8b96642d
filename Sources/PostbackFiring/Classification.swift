import CCurl

// DESIGN.md, Firing: success is a 2xx; connection errors, timeouts, 408, 425, 429 and 5xx are
// transient; any other 4xx, a 3xx left over and a refused address are permanent.

extension FireVerdict {
    /// - Parameters:
    ///   - curlCode: the transfer's CURLcode.
    ///   - status: the final answer's status, if one arrived.
    ///   - refusal: the address rules refused every address tried.
    ///   - stoppedReadingBody: we cut a huge body short ourselves; the status stands.
    static func classify(
        curlCode: CURLcode, status: Int?, refusal: String?, stoppedReadingBody: Bool, errorText: String,
        refusedDowngrade: Bool = false
    ) -> FireVerdict {
        if let refusal, curlCode == CURLE_COULDNT_CONNECT {
            return FireVerdict(.permanent, "refused: \(refusal)")
        }
        if curlCode == CURLE_OK || (stoppedReadingBody && curlCode == CURLE_WRITE_ERROR) {
            return classify(status: status ?? 0)
        }
        if refusedDowngrade { return .refusedDowngrade }
        if let tls = tlsReason(curlCode: curlCode, errorText: errorText) {
            return FireVerdict(.transient, tls)
        }
        switch curlCode {
        case CURLE_COULDNT_RESOLVE_HOST:
            // "Could not resolve host: p1.example" names the name already.
            return FireVerdict(.transient, "DNS: \(errorText.prefix(1).lowercased() + errorText.dropFirst())")
        case CURLE_TOO_MANY_REDIRECTS:
            return FireVerdict(.permanent, "too many redirects: \(errorText)")
        case CURLE_UNSUPPORTED_PROTOCOL:
            return FireVerdict(.permanent, "scheme not allowed: \(errorText)")
        case CURLE_URL_MALFORMAT:
            return FireVerdict(.permanent, "malformed URL: \(errorText)")
        case CURLE_OPERATION_TIMEDOUT:
            return FireVerdict(.transient, "timeout: \(errorText)")
        default:
            // Resolution, connection, TLS and read/write failures: the partner may be back later.
            return FireVerdict(.transient, "connection error: \(errorText)")
        }
    }

    /// A TLS failure said in words that name the problem, or nil when it is not one. All are
    /// transient: the partner's certificate or server is misconfigured, which partners fix
    /// (an expired certificate is renewed), and retries over the backoff give them that time;
    /// each also counts against the host's breaker, since every fire to it fails the same way.
    /// OpenSSL's own text stays in brackets for the operator.
    static func tlsReason(curlCode: CURLcode, errorText: String) -> String? {
        let text = errorText.lowercased()
        switch curlCode {
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CACERT_BADFILE,
            CURLE_SSL_CERTPROBLEM, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            break
        default:
            return nil
        }
        let what: String
        if text.contains("certificate has expired") {
            what = "certificate has expired"
        } else if text.contains("certificate is not yet valid") {
            what = "certificate is not yet valid"
        } else if text.contains("subject name") || text.contains("does not match") || text.contains("hostname mismatch") {
            what = "certificate does not match the host name"
        } else if text.contains("self-signed") || text.contains("self signed") || text.contains("local issuer")
            || text.contains("unable to verify") || text.contains("unable to get issuer") {
            what = "certificate not trusted (unknown certificate authority)"
        } else if text.contains("wrong version number") || text.contains("packet length too long") || text.contains("record layer failure") {
            what = "handshake failed: the server did not answer in TLS (plain HTTP on a TLS port?)"
        } else if curlCode == CURLE_SSL_CACERT_BADFILE {
            what = "cannot use the CA file"
        } else if curlCode == CURLE_PEER_FAILED_VERIFICATION {
            what = "certificate rejected"
        } else {
            what = "handshake failed"
        }
        return "TLS: \(what) [\(errorText)]"
    }

    /// An https postback redirected to http: refused, by curl for the daemon's fires and by
    /// `FireProbe`, which follows hops itself.
    static let refusedDowngrade = FireVerdict(.permanent, "refused: redirect from https to http (the catalog URL is https)")

    /// The verdict on an answer that arrived whole.
    static func classify(status: Int) -> FireVerdict {
        let label = httpLabel(status)
        switch status {
        case 200..<300: return FireVerdict(.success, label)
        case 408, 425, 429, 500..<600: return FireVerdict(.transient, label)
        case 300..<400: return FireVerdict(.permanent, label + ": redirect not followed")
        case 400..<500: return FireVerdict(.permanent, label)
        default: return FireVerdict(.permanent, "unexpected HTTP status \(status)")
        }
    }

    /// "HTTP 204" for every status, built once: formatting it per fire showed in the profile.
    private static let httpLabels: [String] = (0..<600).map { "HTTP \($0)" }

    private static func httpLabel(_ status: Int) -> String {
        httpLabels.indices.contains(status) ? httpLabels[status] : "HTTP \(status)"
    }
}
