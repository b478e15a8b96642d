import CCurl

/// curl_global_init must run once per process, before any thread uses curl, and is not
/// thread-safe itself; a lazily initialised static gives exactly that (Swift runs it once,
/// under a lock) without asking the daemon to remember a call at start-up.
enum CurlGlobal {
    private static let initialized: Bool = {
        curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK
    }()

    static func ensureInitialized() {
        precondition(initialized, "curl_global_init failed")
    }
}
