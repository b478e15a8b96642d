#if canImport(Glibc)
import Glibc
#endif
import CCurl
import CCurlShim
import PostbackCore

/// One reusable curl easy handle and the state of the transfer it is running.
///
/// Confinement: created, configured and read only on the driver thread; curl calls its
/// callbacks on that same thread from inside curl_multi_perform. That is why plain stored
/// properties are safe here without a lock.
final class EasyHandle {
    let curl: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    /// CURLOPT_HTTPHEADER's list; curl reads it per request, so it lives as long as the handle.
    private var headers: UnsafeMutablePointer<curl_slist>?
    /// The lines of `headers`, for building a fire's own list on top of them.
    private var baseHeaderLines: [String] = []
    /// A POST's or custom-header fire's list (base lines + its own); nil while `headers`
    /// serves. Freed at the next `start` or with the handle: curl reads it until then.
    private var fireHeaders: UnsafeMutablePointer<curl_slist>?
    /// The handle is set up for POST (curl keeps the method between transfers).
    @exclusivity(unchecked) private var posting = false
    private let rules: AddressRules
    private let bodyCap: Int
    private let bodyDiscardLimit: Int
    // @exclusivity(unchecked): these are touched once or twice per fire on the driver thread,
    // which bounds the engine's rate; the runtime's dynamic exclusivity check costs ~80
    // instructions per access (Benchmarks/driver), and confinement to one thread, plus no
    // overlapping inout access in this file, is what makes them safe.
    @exclusivity(unchecked) private var followsRedirects = true
    @exclusivity(unchecked) private var redirectsToHTTPAllowed = true
    @exclusivity(unchecked) private var reportsConnection = false
    @exclusivity(unchecked) private var waitsToMultiplex = false
    /// Where the driver learns which hosts' requests went out in this loop turn.
    private let sendLog: SendLog

    // Per transfer.
    @exclusivity(unchecked) var job: Job?
    /// The driver's host lane whose slot this transfer holds.
    @exclusivity(unchecked) var lane: HostLane?
    @exclusivity(unchecked) private(set) var body: [UInt8] = []
    @exclusivity(unchecked) private var bodyBytesSeen = 0
    @exclusivity(unchecked) private(set) var stoppedReadingBody = false
    @exclusivity(unchecked) private var retryAfterValue: Substring?
    @exclusivity(unchecked) private var responseStatus = 0
    @exclusivity(unchecked) private(set) var hops: [RedirectHop] = []
    @exclusivity(unchecked) private var refusals: [String] = []
    @exclusivity(unchecked) private var permittedAddresses = 0
    @exclusivity(unchecked) private var sent = false
    /// Of the connection the request went out on; only read when `reportsConnection`.
    @exclusivity(unchecked) private var tlsVersion: String?

    init(configuration: FiringConfiguration, sendLog: SendLog) {
        guard let curl = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        self.curl = curl
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        rules = configuration.addressRules
        bodyCap = configuration.bodyCap
        bodyDiscardLimit = configuration.bodyDiscardLimit
        self.sendLog = sendLog
        configure(configuration)
    }

    deinit {
        curl_easy_cleanup(curl)
        curl_slist_free_all(headers)
        curl_slist_free_all(fireHeaders)
        errorBuffer.deallocate()
    }

    /// Options that never change between fires, set once per handle.
    private func configure(_ c: FiringConfiguration) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        set(CURLOPT_NOSIGNAL, 1)  // curl's timeouts must not use SIGALRM in a threaded process
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        set(CURLOPT_FOLLOWLOCATION, 1)
        set(CURLOPT_MAXREDIRS, c.maxRedirects)
        set(CURLOPT_CONNECTTIMEOUT_MS, c.connectTimeout.curlMilliseconds)
        // The partner's whole time to answer, from when curl starts the transfer; time the
        // fire waited in our own queues is not taken from it (that wait is ours, not theirs).
        set(CURLOPT_TIMEOUT_MS, c.totalTimeout.curlMilliseconds)
        // An empty proxy disables http_proxy & co. from the environment: a proxy would hide
        // the real destination from the connect-time address check.
        set(CURLOPT_PROXY, "")
        // Nothing bypasses the (absent) proxy; saves curl reading no_proxy from the
        // environment on every request.
        set(CURLOPT_NOPROXY, "")
        // TLS: always verify the peer's chain and its name (libcurl's defaults, stated so no
        // option elsewhere can turn them off). With `ca_file`, that bundle alone is trusted:
        // CAPATH is cleared too, or curl would still consult the system's /etc/ssl/certs.
        set(CURLOPT_SSL_VERIFYPEER, 1)
        set(CURLOPT_SSL_VERIFYHOST, 2)
        // CAPATH is cleared in both cases, for speed as much as for trust: libcurl 7.88 builds
        // an X509 store from the whole bundle for every new connection unless the store can be
        // cached in the multi handle (CURLOPT_CA_CACHE_TIMEOUT, 24 h), and it caches only a
        // store that comes from a CA file alone. Debian's libcurl has a default CAPATH, so by
        // default every handshake paid ~33 ms of parsing (140 certificates) on the driver
        // thread, and a burst of 64 new connections overran the 3 s connect timeout; with the
        // store cached a handshake costs ~1.7 ms (0.9 ms resumed) on loopback. Without
        // `ca_file` the bundle is libcurl's default CAINFO (Debian: the system store,
        // /etc/ssl/certs/ca-certificates.crt).
        if let caFile = c.caFile { set(CURLOPT_CAINFO, caFile) }
        check(pbd_easy_setopt_ptr(curl, CURLOPT_CAPATH, nil))
        // CURLOPT_PIPEWAIT is set per fire in `start`, for https only.
        // Request headers as a fixed list rather than CURLOPT_USERAGENT: curl 7.88 formats
        // the User-Agent line anew for every request through its printf, which cost ~7 % of
        // curl's CPU per fire in Benchmarks/driver; a list entry is copied as is. "Accept:"
        // drops curl's default "Accept: */*", which says nothing (no Accept means the same,
        // RFC 9110 §12.5.1) and costs the same formatting per request.
        if !c.userAgent.isEmpty { baseHeaderLines.append("User-Agent: \(c.userAgent)") }
        baseHeaderLines.append("Accept:")
        for line in baseHeaderLines { headers = curl_slist_append(headers, line) }
        precondition(headers != nil, "curl_slist_append failed: out of memory")
        check(pbd_easy_setopt_ptr(curl, CURLOPT_HTTPHEADER, headers))
        check(pbd_easy_setopt_ptr(curl, CURLOPT_ERRORBUFFER, errorBuffer))
        check(pbd_easy_setopt_ptr(curl, CURLOPT_PRIVATE, me))
        check(pbd_easy_setopt_write(curl, EasyHandle.onBody))
        check(pbd_easy_setopt_ptr(curl, CURLOPT_WRITEDATA, me))
        check(pbd_easy_setopt_header_filtered(curl, EasyHandle.onHeader))
        check(pbd_easy_setopt_ptr(curl, CURLOPT_HEADERDATA, me))
        check(pbd_easy_setopt_opensocket(curl, EasyHandle.onOpenSocket))
        check(pbd_easy_setopt_ptr(curl, CURLOPT_OPENSOCKETDATA, me))
        check(pbd_easy_setopt_prereq(curl, EasyHandle.onRequestSent))
        check(pbd_easy_setopt_ptr(curl, CURLOPT_PREREQDATA, me))
    }

    /// Arms the handle for the next fire; curl copies the URL.
    func start(_ job: Job) -> CURLcode {
        self.job = job
        body.removeAll(keepingCapacity: true)
        bodyBytesSeen = 0
        stoppedReadingBody = false
        retryAfterValue = nil
        responseStatus = 0
        hops.removeAll(keepingCapacity: true)
        refusals.removeAll(keepingCapacity: true)
        permittedAddresses = 0
        sent = false
        tlsVersion = nil
        errorBuffer[0] = 0
        if job.request.followRedirects != followsRedirects {
            followsRedirects = job.request.followRedirects
            set(CURLOPT_FOLLOWLOCATION, followsRedirects ? 1 : 0)
        }
        // A catalog URL that asks for https is never downgraded by a redirect to http: the
        // record's values would then cross the network in the clear.
        let toHTTPAllowed = !job.request.url.isHTTPS
        if toHTTPAllowed != redirectsToHTTPAllowed {
            redirectsToHTTPAllowed = toHTTPAllowed
            set(CURLOPT_REDIR_PROTOCOLS_STR, toHTTPAllowed ? "http,https" : "https")
        }
        // HTTP/2: a new transfer to an https host whose connection is still being set up
        // waits to multiplex on it instead of opening another connection and handshake of its
        // own; ALPN tells within the handshake, and over HTTP/1.1 curl then opens more. Not for
        // http://, where curl (HTTP_VERSION_2TLS) never multiplexes but with PIPEWAIT still
        // waits for the first connection's answer to learn so: fires to a slow or hanging
        // http partner went one at a time instead of perHost at once (BoundsTests).
        if toHTTPAllowed == waitsToMultiplex {
            waitsToMultiplex = !toHTTPAllowed
            set(CURLOPT_PIPEWAIT, waitsToMultiplex ? 1 : 0)
        }
        if job.request.reportsConnection != reportsConnection {
            reportsConnection = job.request.reportsConnection
            set(CURLOPT_CERTINFO, reportsConnection ? 1 : 0)
        }
        // A plain GET after a plain GET (the daemon's usual fire) costs no option here.
        if posting || fireHeaders != nil || job.request.method == .post || !job.request.headerLines.isEmpty {
            setMethodAndHeaders(job.request)
        }
        return job.request.url.withCString { pbd_easy_setopt_ptr(curl, CURLOPT_URL, $0) }
    }

    /// POST with its body (copied by curl) or back to GET; the fire's own header lines on top
    /// of the fixed ones. "Expect:" turns off curl's `Expect: 100-continue` for bodies over
    /// 1 KiB, which would cost a POST a round trip or a 1 s wait on partners that ignore it.
    /// The address rules are not touched: they act when curl opens the socket, whatever the
    /// method (PostDeliveryTests, and the POST rows of HostileURLTests).
    private func setMethodAndHeaders(_ request: FireRequest) {
        if let fireHeaders {
            check(pbd_easy_setopt_ptr(curl, CURLOPT_HTTPHEADER, headers))
            curl_slist_free_all(fireHeaders)
            self.fireHeaders = nil
        }
        if request.method == .post {
            posting = true
            set(CURLOPT_POSTFIELDSIZE, request.body.count)
            if request.body.isEmpty {
                set(CURLOPT_COPYPOSTFIELDS, "")
            } else {
                request.body.withUnsafeBytes { check(pbd_easy_setopt_ptr(curl, CURLOPT_COPYPOSTFIELDS, $0.baseAddress)) }
            }
        } else if posting {
            posting = false
            set(CURLOPT_HTTPGET, 1)
        }
        guard request.method == .post || !request.headerLines.isEmpty else { return }
        var list: UnsafeMutablePointer<curl_slist>?
        for line in baseHeaderLines { list = curl_slist_append(list, line) }
        for line in request.headerLines { list = curl_slist_append(list, line) }
        if request.method == .post {
            list = curl_slist_append(list, "Expect:")
            // Without a body curl would add its default form Content-Type; say nothing instead.
            if request.body.isEmpty { list = curl_slist_append(list, "Content-Type:") }
        }
        precondition(list != nil, "curl_slist_append failed: out of memory")
        fireHeaders = list
        check(pbd_easy_setopt_ptr(curl, CURLOPT_HTTPHEADER, list))
    }

    /// Reads the finished transfer into a value.
    func result(code: CURLcode) -> FireResult {
        let job = job!
        let status = info(CURLINFO_RESPONSE_CODE)
        let redirectCount = info(CURLINFO_REDIRECT_COUNT)
        var errorText = ""
        if code != CURLE_OK {
            errorText = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        }
        // Refused only if no address was let through: with several addresses, curl tries the
        // others, and a failure to reach a permitted one is an ordinary connection error.
        let refusal = permittedAddresses == 0 ? refusals.first : nil
        if code == CURLE_COULDNT_CONNECT, let refusal { errorText = "refused: \(refusal)" }
        var redirectURL: String?
        if !followsRedirects, (300..<400).contains(status) { redirectURL = infoString(CURLINFO_REDIRECT_URL) }
        var latencyMicros: curl_off_t = 0
        _ = pbd_easy_getinfo_off(curl, CURLINFO_TOTAL_TIME_T, &latencyMicros)
        let retryAfter = retryAfterValue.flatMap { RetryAfter.parse($0, now: Int64(time(nil))) }
        var result = FireResult(
            url: job.request.url,
            effectiveURL: redirectCount > 0 ? infoString(CURLINFO_EFFECTIVE_URL) : nil,
            status: status > 0 ? status : nil,
            curlCode: Int32(code.rawValue),
            errorText: errorText,
            latency: .microseconds(latencyMicros),
            bodyPrefix: body,
            bodyTruncated: bodyBytesSeen > body.count,
            retryAfter: retryAfter,
            redirects: redirectCount == 0 ? [] : Array(hops.prefix(redirectCount)),
            redirectURL: redirectURL,
            refusal: code == CURLE_COULDNT_CONNECT ? refusal : nil,
            verdict: .classify(
                curlCode: code, status: status > 0 ? status : nil, refusal: refusal,
                stoppedReadingBody: stoppedReadingBody, errorText: errorText,
                refusedDowngrade: code == CURLE_UNSUPPORTED_PROTOCOL && !redirectsToHTTPAllowed && redirectCount > 0))
        result.wasSent = sent
        if reportsConnection { result.connection = connectionDetails() }
        return result
    }

    /// What `FireProbe` reports about the connection: protocol, TLS, certificate, timings.
    private func connectionDetails() -> ConnectionDetails {
        let version: String
        switch info(CURLINFO_HTTP_VERSION) {
        case Int(CURL_HTTP_VERSION_1_0): version = "HTTP/1.0"
        case Int(CURL_HTTP_VERSION_1_1): version = "HTTP/1.1"
        case Int(CURL_HTTP_VERSION_2_0): version = "HTTP/2"
        case Int(CURL_HTTP_VERSION_3): version = "HTTP/3"
        default: version = "none"
        }
        var details = ConnectionDetails(httpVersion: version, connectTime: elapsed(CURLINFO_CONNECT_TIME_T))
        details.tlsVersion = tlsVersion
        let handshakeDone = elapsed(CURLINFO_APPCONNECT_TIME_T)
        if handshakeDone > .zero { details.tlsHandshakeTime = handshakeDone - details.connectTime }
        var chain: UnsafeMutablePointer<curl_certinfo>?
        if pbd_easy_getinfo_certinfo(curl, &chain) == CURLE_OK, let chain, chain.pointee.num_of_certs > 0 {
            var field = chain.pointee.certinfo[0]
            while let entry = field {
                let text = String(cString: entry.pointee.data)
                if let value = text.value(after: "Subject:") { details.certificateSubject = value }
                if let value = text.value(after: "Issuer:") { details.certificateIssuer = value }
                if let value = text.value(after: "Expire date:") { details.certificateExpiry = value }
                field = entry.pointee.next
            }
        }
        return details
    }

    private func elapsed(_ what: CURLINFO) -> Duration {
        var micros: curl_off_t = 0
        _ = pbd_easy_getinfo_off(curl, what, &micros)
        return .microseconds(micros)
    }

    // MARK: - curl callbacks (driver thread, inside curl_multi_perform)

    private static let onBody: curl_write_callback = { data, size, count, userdata in
        let me = Unmanaged<EasyHandle>.fromOpaque(userdata!).takeUnretainedValue()
        let n = size * count
        let keep = min(n, me.bodyCap - me.body.count)
        if keep > 0, let data {
            data.withMemoryRebound(to: UInt8.self, capacity: keep) {
                me.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: keep))
            }
        }
        me.bodyBytesSeen += n
        if me.bodyBytesSeen > me.bodyDiscardLimit {
            me.stoppedReadingBody = true
            return 0  // curl aborts with CURLE_WRITE_ERROR and closes the connection
        }
        return n
    }

    /// Only status lines, Location and Retry-After get here (pbd_easy_setopt_header_filtered).
    private static let onHeader: pbd_header_callback = { data, length, kind, userdata in
        let me = Unmanaged<EasyHandle>.fromOpaque(userdata!).takeUnretainedValue()
        me.header(UnsafeRawBufferPointer(start: data, count: length), kind)
    }

    private func header(_ line: UnsafeRawBufferPointer, _ kind: pbd_header_kind) {
        switch kind {
        case PBD_HEADER_STATUS:
            // A new answer (after a redirect): what we kept belongs to the previous one,
            // and so do the addresses checked for it; the next hop is judged on its own.
            responseStatus = line.statusCode
            if !body.isEmpty { body.removeAll(keepingCapacity: true) }
            bodyBytesSeen = 0
            retryAfterValue = nil
            if !refusals.isEmpty { refusals.removeAll(keepingCapacity: true) }
            permittedAddresses = 0
        case PBD_HEADER_LOCATION:
            if (300..<400).contains(responseStatus) {
                hops.append(RedirectHop(status: responseStatus, location: String(line.headerValue)))
            }
        case PBD_HEADER_RETRY_AFTER:
            retryAfterValue = line.headerValue
        default:
            break
        }
    }

    /// The request is about to go out on a connected (TLS-negotiated) connection: from here
    /// on, the wait is the partner's. Called once per hop; the first counts.
    private static let onRequestSent: curl_prereq_callback = { clientp, _, _, _, _ in
        let me = Unmanaged<EasyHandle>.fromOpaque(clientp!).takeUnretainedValue()
        if !me.sent, let lane = me.lane {
            me.sent = true
            me.sendLog.hosts.append(lane.host)
        }
        // Read now: once the transfer is done curl may no longer expose the TLS session.
        if me.reportsConnection { me.tlsVersion = pbd_easy_tls_version(me.curl).map { String(cString: $0) } }
        return CURL_PREREQFUNC_OK
    }

    private static let onOpenSocket: curl_opensocket_callback = { clientp, _, address in
        let me = Unmanaged<EasyHandle>.fromOpaque(clientp!).takeUnretainedValue()
        guard let address else { return CURL_SOCKET_BAD }
        guard let destination = address.destination else {
            me.refusals.append("address family \(address.pointee.family) is not IPv4 or IPv6")
            return CURL_SOCKET_BAD
        }
        switch me.rules.check(destination) {
        case .permitted:
            me.permittedAddresses += 1
            return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
        case .refused(let reason):
            me.refusals.append(reason)
            return CURL_SOCKET_BAD
        }
    }

    // MARK: - setopt/getinfo helpers

    private func set(_ option: CURLoption, _ value: Int) {
        check(pbd_easy_setopt_long(curl, option, value))
    }

    private func set(_ option: CURLoption, _ value: String) {
        check(value.withCString { pbd_easy_setopt_ptr(curl, option, $0) })
    }

    /// Options set here are all supported by the libcurl we link; failure is a build problem.
    private func check(_ code: CURLcode) {
        precondition(code == CURLE_OK, "curl_easy_setopt: \(String(cString: curl_easy_strerror(code)))")
    }

    private func info(_ what: CURLINFO) -> Int {
        var value = 0
        _ = pbd_easy_getinfo_long(curl, what, &value)
        return value
    }

    private func infoString(_ what: CURLINFO) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard pbd_easy_getinfo_ptr(curl, what, &value) == CURLE_OK, let value else { return nil }
        return String(cString: value)
    }
}

extension UnsafeMutablePointer where Pointee == curl_sockaddr {
    /// The address curl is about to connect to, after DNS: the one that matters.
    var destination: IPAddress? {
        let sockaddrOffset = MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr)!
        let raw = UnsafeRawPointer(self) + sockaddrOffset
        switch pointee.family {
        case AF_INET:
            let sin = raw.loadUnaligned(as: sockaddr_in.self)
            return .v4(IPv4Address(UInt32(bigEndian: sin.sin_addr.s_addr)))
        case AF_INET6:
            let bytesOffset = MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr)!
            let bytes = UnsafeRawBufferPointer(start: raw + bytesOffset, count: 16)
            return .v6(IPv6Address(bytes: bytes))
        default:
            return nil
        }
    }
}

extension String {
    /// Whether the URL's scheme is https (any case).
    /// Asked for every fire on the driver thread, so it compares bytes in place: mapping
    /// both sides to arrays cost two allocations per fire.
    var isHTTPS: Bool {
        var bytes = utf8.makeIterator()
        for expected in "https:".utf8 {
            guard let byte = bytes.next(), byte | 0x20 == expected | 0x20 else { return false }
        }
        return true
    }

    /// "Subject:CN = x" → "CN = x".
    fileprivate func value(after prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count).trimmingSpaces) : nil
    }
}

extension UnsafeRawBufferPointer {
    /// The value after the first colon, without surrounding blanks and the CRLF.
    fileprivate var headerValue: Substring {
        let colon = firstIndex(of: UInt8(ascii: ":")) ?? count - 1
        return String(decoding: self[(colon + 1)...], as: UTF8.self)[...].trimmingSpaces
    }

    /// "HTTP/1.1 204 No Content" → 204.
    fileprivate var statusCode: Int {
        guard let space = firstIndex(of: UInt8(ascii: " ")) else { return 0 }
        var code = 0
        for byte in self[(space + 1)...].prefix(3) {
            guard byte >= 0x30 && byte <= 0x39 else { return 0 }
            code = code * 10 + Int(byte - 0x30)
        }
        return code
    }
}
