#if canImport(Glibc)
import Glibc
#endif
import CCurl
import CCurlShim

/// A fire handed to the driver: the request, the host whose slot it holds, where the result goes.
struct Job {
    let request: FireRequest
    let host: String
    let completion: @Sendable (FireResult) -> Void
}

/// One curl multi handle driven by one dedicated thread.
///
/// Loop: curl_multi_perform, read finished transfers, then curl_multi_poll; producers hand in
/// work through a locked inbox and wake a sleeping poll with curl_multi_wakeup. We chose this
/// over the socket API (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION + an external event loop, as
/// swift-corelibs-foundation does) because it is exactly what libcurl-ceiling.c measures, it
/// needs no second event loop, and the benchmark (Benchmarks/driver) reaches the ceiling with it;
/// the socket API pays off with thousands of mostly idle connections, not with 64 busy ones.
///
/// Confinement: `multi`, `pool` and `running` belong to the driver thread alone; everything
/// under `lock` is shared with producers. Hence `@unchecked Sendable`.
final class MultiDriver: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer
    private let configuration: FiringConfiguration
    private let admission: Admission

    // Driver thread only.
    private var pool: [EasyHandle] = []
    private var running = 0
    private var finished: [(job: Job, result: FireResult)] = []

    // Guarded by `lock`.
    private let lock = ConditionLock()
    private var inbox: [Job] = []
    /// The driver is (about to be) asleep in curl_multi_poll and needs a wakeup to see the inbox.
    private var polling = false
    private var stopping = false
    private var thread: pthread_t?

    init(configuration: FiringConfiguration, admission: Admission) {
        CurlGlobal.ensureInitialized()
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed: out of memory") }
        self.multi = multi
        self.configuration = configuration
        self.admission = admission
        // These hold connections (so fires in flight, with HTTP/1.1) to the caps. Fires beyond
        // them wait in curl's pending queue, which Admission bounds to queuedPerConnection
        // per connection; everything else waits outside, in the spool.
        _ = pbd_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxConcurrent)
        _ = pbd_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.perHost)
        // Keep every connection of a full pool alive for reuse.
        _ = pbd_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, configuration.maxConcurrent)
    }

    deinit {
        pool.removeAll()  // easy handles are cleaned up before the multi handle
        curl_multi_cleanup(multi)
    }

    func start() {
        let retained = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            let driver = Unmanaged<MultiDriver>.fromOpaque(arg!).takeRetainedValue()
            driver.run()
            return nil
        }, retained)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        lock.withLock { self.thread = thread }
    }

    /// Hands in a fire whose slots are already taken. Returns false once stopping.
    func enqueue(_ job: Job) -> Bool {
        let (accepted, wake) = lock.withLock { () -> (Bool, Bool) in
            guard !stopping else { return (false, false) }
            inbox.append(job)
            let wake = polling
            polling = false  // one wakeup is enough: the driver drains the whole inbox
            return (true, wake)
        }
        if wake { curl_multi_wakeup(multi) }
        return accepted
    }

    /// Lets fires in flight finish (each bounded by the total timeout), then ends the thread.
    func stop() {
        let thread = lock.withLock { () -> pthread_t? in
            stopping = true
            defer { self.thread = nil }
            return self.thread
        }
        curl_multi_wakeup(multi)
        if let thread, thread != pthread_self() { pthread_join(thread, nil) }
    }

    // MARK: - Driver thread

    private func run() {
        var batch: [Job] = []
        while true {
            let stop = lock.withLock { () -> Bool in
                polling = false
                swap(&batch, &inbox)
                return stopping
            }
            for job in batch { add(job) }
            batch.removeAll(keepingCapacity: true)
            if stop && running == 0 { break }

            var stillRunning: Int32 = 0
            curl_multi_perform(multi, &stillRunning)
            collectFinished()

            let sleep = lock.withLock { () -> Bool in
                polling = inbox.isEmpty
                return polling
            }
            if sleep { curl_multi_poll(multi, nil, 0, 1000, nil) }
        }
    }

    private func add(_ job: Job) {
        let easy = pool.popLast() ?? EasyHandle(configuration: configuration)
        var code = easy.start(job)
        if code == CURLE_OK {
            let multiCode = curl_multi_add_handle(multi, easy.curl)
            if multiCode == CURLM_OK {
                // Only curl holds the handle while it runs: keep the object alive until
                // collectFinished takes this reference back.
                _ = Unmanaged.passRetained(easy)
                running += 1
                return
            }
            code = CURLE_FAILED_INIT
        }
        // Not started (e.g. a URL curl will not take): the answer is immediate.
        let result = easy.result(code: code)
        easy.job = nil
        pool.append(easy)
        admission.release(hosts: CollectionOfOne(job.host))
        job.completion(result)
    }

    private func collectFinished() {
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            var privateData: UnsafeMutablePointer<CChar>?
            _ = pbd_easy_getinfo_ptr(handle, CURLINFO_PRIVATE, &privateData)
            let easy = Unmanaged<EasyHandle>.fromOpaque(UnsafeRawPointer(privateData!)).takeRetainedValue()
            let result = easy.result(code: code)
            curl_multi_remove_handle(multi, handle)
            running -= 1
            finished.append((easy.job!, result))
            easy.job = nil
            pool.append(easy)
        }
        guard !finished.isEmpty else { return }
        // Slots first, so a fire's slot is free by the time its owner hears the result.
        admission.release(hosts: finished.lazy.map(\.job.host))
        for (job, result) in finished { job.completion(result) }
        finished.removeAll(keepingCapacity: true)
    }
}

