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
        curlCode: CURLcode, status: Int?, refusal: String?, stoppedReadingBody: Bool, errorText: String
    ) -> FireVerdict {
        if let refusal, curlCode == CURLE_COULDNT_CONNECT {
            return FireVerdict(.permanent, "refused: \(refusal)")
        }
        if curlCode == CURLE_OK || (stoppedReadingBody && curlCode == CURLE_WRITE_ERROR) {
            return classify(status: status ?? 0)
        }
        switch curlCode {
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
