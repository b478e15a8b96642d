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
    private let rules: AddressRules
    private let bodyCap: Int
    private let bodyDiscardLimit: Int
    private var followsRedirects = true

    // Per transfer.
    var job: Job?
    private(set) var body: [UInt8] = []
    private var bodyBytesSeen = 0
    private(set) var stoppedReadingBody = false
    private var retryAfterValue: Substring?
    private var responseStatus = 0
    private(set) var hops: [RedirectHop] = []
    private var refusals: [String] = []
    private var permittedAddresses = 0

    init(configuration: FiringConfiguration) {
        guard let curl = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        self.curl = curl
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        rules = configuration.addressRules
        bodyCap = configuration.bodyCap
        bodyDiscardLimit = configuration.bodyDiscardLimit
        configure(configuration)
    }

    deinit {
        curl_easy_cleanup(curl)
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
        set(CURLOPT_TIMEOUT_MS, c.totalTimeout.curlMilliseconds)
        // An empty proxy disables http_proxy & co. from the environment: a proxy would hide
        // the real destination from the connect-time address check.
        set(CURLOPT_PROXY, "")
        if !c.userAgent.isEmpty { set(CURLOPT_USERAGENT, c.userAgent) }
        check(pbd_easy_setopt_ptr(curl, CURLOPT_ERRORBUFFER, errorBuffer))
        check(pbd_easy_setopt_ptr(curl, CURLOPT_PRIVATE, me))
        check(pbd_easy_setopt_write(curl, EasyHandle.onBody))
        check(pbd_easy_setopt_ptr(curl, CURLOPT_WRITEDATA, me))
        check(pbd_easy_setopt_header(curl, EasyHandle.onHeader))
        check(pbd_easy_setopt_ptr(curl, CURLOPT_HEADERDATA, me))
        check(pbd_easy_setopt_opensocket(curl, EasyHandle.onOpenSocket))
        check(pbd_easy_setopt_ptr(curl, CURLOPT_OPENSOCKETDATA, me))
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
        errorBuffer[0] = 0
        if job.request.followRedirects != followsRedirects {
            followsRedirects = job.request.followRedirects
            set(CURLOPT_FOLLOWLOCATION, followsRedirects ? 1 : 0)
        }
        return job.request.url.withCString { pbd_easy_setopt_ptr(curl, CURLOPT_URL, $0) }
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
        return FireResult(
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
                stoppedReadingBody: stoppedReadingBody, errorText: errorText))
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

    private static let onHeader: curl_write_callback = { data, size, count, userdata in
        let me = Unmanaged<EasyHandle>.fromOpaque(userdata!).takeUnretainedValue()
        let n = size * count
        guard let data, n > 0 else { return n }
        let line = UnsafeRawBufferPointer(start: data, count: n)
        me.header(line)
        return n
    }

    private func header(_ line: UnsafeRawBufferPointer) {
        if line.hasCaseInsensitivePrefix("http/") {
            // A new answer (after a redirect): what we kept belongs to the previous one,
            // and so do the addresses checked for it; the next hop is judged on its own.
            responseStatus = line.statusCode
            body.removeAll(keepingCapacity: true)
            bodyBytesSeen = 0
            retryAfterValue = nil
            refusals.removeAll(keepingCapacity: true)
            permittedAddresses = 0
        } else if line.hasCaseInsensitivePrefix("location:"), (300..<400).contains(responseStatus) {
            hops.append(RedirectHop(status: responseStatus, location: String(line.headerValue)))
        } else if line.hasCaseInsensitivePrefix("retry-after:") {
            retryAfterValue = line.headerValue
        }
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

extension UnsafeRawBufferPointer {
    fileprivate func hasCaseInsensitivePrefix(_ prefix: StaticString) -> Bool {
        let p = UnsafeRawBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        guard count >= p.count else { return false }
        for i in 0..<p.count where self[i] | 0x20 != p[i] | 0x20 { return false }
        return true
    }

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
