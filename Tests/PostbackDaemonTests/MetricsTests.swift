import Foundation
import Glibc
import PostbackTestSupport
import Testing

/// `metrics_listen`: the Prometheus endpoint of a running daemon, checked from outside as
/// Prometheus would see it. The daemon is given port 0 and logs the port it got
/// ("metrics: http://127.0.0.1:PORT/metrics"), so no port is guessed and none can be taken
/// between choosing and binding.
@Suite("postbackd metrics endpoint", .serialized)
struct MetricsTests {
    /// Every family the endpoint promises (README, "Metrics"); written out here rather than
    /// taken from PostbackMetrics so that renaming one is a visible, deliberate change.
    static let families = [
        "postbackd_fires_total", "postbackd_fires_held_back_total", "postbackd_fire_attempts_total",
        "postbackd_fire_duration_seconds", "postbackd_records_total", "postbackd_auto_pauses_total",
        "postbackd_fires_in_flight", "postbackd_spool_queue_depth", "postbackd_spool_oldest_age_seconds",
        "postbackd_deferred_fires_due", "postbackd_breaker_open_hosts", "postbackd_breaker_open",
        "postbackd_catalog_postbacks", "postbackd_catalog_last_reload_timestamp_seconds",
        "postbackd_catalog_last_reload_success", "postbackd_postbacks_auto_paused",
    ]

    @Test func countsEveryOutcomeAndServesEveryFamily() async throws {
        let sink = try await TestServer()
        let dead = try await TestServer()  // its own host, so its breaker is its own
        defer { Task { await sink.stop(); await dead.stop() } }
        let fixture = try SpoolFixture(catalog: """
            {"postbacks": [
            {"id": 1, "status": "active", "type": "conversion", "level": "specific", "partner_id": 7, "offer_id": 3, "delivery": "postback", "url": "\(sink.base)/status/204?c={sub1}&t={transaction_id}"},
            {"id": 2, "status": "active", "type": "conversion", "level": "specific", "partner_id": 8, "offer_id": 3, "delivery": "postback", "url": "\(sink.base)/status/404?c={sub1}&t={transaction_id}"},
            {"id": 3, "status": "active", "type": "conversion", "level": "specific", "partner_id": 10, "offer_id": 3, "delivery": "postback", "author": "partner", "url": "\(sink.base)/status/204?c={sub1}&t={transaction_id}"},
            {"id": 4, "status": "active", "type": "conversion", "level": "specific", "partner_id": 11, "offer_id": 3, "delivery": "postback", "url": "\(dead.base)/status/503?c={sub1}&t={transaction_id}"}
            ]}
            """, settings: [
                "metrics_listen": "127.0.0.1:0", "partner_postbacks": "off",
                // One 503 opens the dead host's breaker; its retry is then held back for an hour.
                "breaker_failures": "1", "breaker_cooldown": "1h",
            ])
        let daemon = try ProcessRunner.start(
            "postbackd", ["run", "--config", fixture.configPath], environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        defer { daemon.kill() }
        let port = try #require(Self.metricsPort(daemon), "stderr: \(daemon.stderr)")
        #expect(eventually { daemon.stderr.contains("postbackd ready") })
        // The endpoint is the daemon's only listening socket.
        #expect(Self.listeningPorts(pid: daemon.pid) == [port])

        try fixture.drop("mixed.jsonl", [
            conversion("t1", partner: 7, offer: 3), conversion("t2", partner: 7, offer: 3),
            conversion("t3", partner: 7, offer: 3),  // 3 × 204: succeeded
            conversion("t4", partner: 8, offer: 3), conversion("t5", partner: 8, offer: 3),  // 2 × 404: failed
            "{\"kind\":\"conversion\",\"transaction_id\":",  // rejected
            conversion("t6", partner: 9, offer: 3),  // no postback: no_match
            conversion("t7", partner: 10, offer: 3),  // partner-authored, off: skipped (the record: no_match)
            conversion("t8", partner: 11, offer: 3),  // 503: deferred, then held back by the breaker
        ].joined(separator: "\n") + "\n")
        try fixture.drop("junk.jsonl", "\u{0}\u{1}not text\n")  // quarantined whole: bad/

        // Counters settle once the held-back retry is recorded; spool depths within one 5 s sample.
        var metrics: [String: Double] = [:]
        let settled = eventually(20, every: 0.2) {  // each try is a scrape
            metrics = (try? Self.scrape(port: port).series) ?? [:]
            return metrics["postbackd_fires_held_back_total"] == 1 && metrics["postbackd_spool_queue_depth{queue=\"bad\"}"] == 1
                && metrics["postbackd_spool_queue_depth{queue=\"failed\"}"] == 2
        }
        #expect(settled, "last scrape: \(metrics)")

        let expected: [String: Double] = [
            "postbackd_fires_total{outcome=\"succeeded\"}": 3,
            "postbackd_fires_total{outcome=\"failed\"}": 2,
            "postbackd_fires_total{outcome=\"deferred\"}": 2,  // the 503, then the breaker's hold-back
            "postbackd_fires_total{outcome=\"skipped\"}": 1,
            "postbackd_fires_held_back_total": 1,
            "postbackd_fire_attempts_total": 6,
            "postbackd_fire_duration_seconds_count": 6,
            "postbackd_records_total{outcome=\"no_match\"}": 2,
            "postbackd_records_total{outcome=\"rejected\"}": 1,
            "postbackd_auto_pauses_total": 0,
            "postbackd_fires_in_flight": 0,
            "postbackd_spool_queue_depth{queue=\"incoming\"}": 0,
            "postbackd_spool_queue_depth{queue=\"active\"}": 0,
            "postbackd_spool_queue_depth{queue=\"deferred\"}": 1,
            "postbackd_spool_queue_depth{queue=\"failed\"}": 2,
            "postbackd_spool_queue_depth{queue=\"bad\"}": 1,
            "postbackd_breaker_open_hosts": 1,
            "postbackd_breaker_open{host=\"127.0.0.1:\(dead.port)\"}": 1,
            "postbackd_catalog_postbacks": 4,
            "postbackd_catalog_last_reload_success": 1,
            "postbackd_postbacks_auto_paused": 0,
        ]
        for (series, value) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(metrics[series] == value, "\(series)")
        }
        // Only the breaker's host has a series; the healthy sink (404s are the postback's fault) has none.
        #expect(metrics.keys.filter { $0.hasPrefix("postbackd_breaker_open{") }.count == 1)
        // Latency: every attempt against loopback is well under 10 s.
        #expect(metrics["postbackd_fire_duration_seconds_bucket{le=\"10.0\"}"] == 6)
        #expect((metrics["postbackd_spool_oldest_age_seconds{queue=\"failed\"}"] ?? -1) >= 0)
        let loadedAt = try #require(metrics["postbackd_catalog_last_reload_timestamp_seconds"])
        #expect(abs(loadedAt - Date().timeIntervalSince1970) < 120)

        let page = try Self.scrape(port: port)
        for family in Self.families {
            #expect(page.text.contains("\n# TYPE \(family) "), "family \(family) missing")
            #expect(page.text.contains("# HELP \(family) "), "help of \(family) missing")
        }
        #expect(page.status == 200)
        #expect(page.headers.contains("Content-Type: text/plain; version=0.0.4"))

        // Only GET /metrics is served.
        #expect(try Self.get(port: port, path: "/").status == 404)
        #expect(try Self.get(port: port, path: "/metrics", method: "POST").status == 405)

        // A refused catalog: the old one keeps serving, the reload is marked failed.
        try fixture.writeCatalog("{\"postbacks\": [{\"id\": 1, \"url\": \"ftp://x\"}]}")
        daemon.signal(SIGHUP)
        #expect(eventually(10, every: 0.2) { (try? Self.scrape(port: port).series["postbackd_catalog_last_reload_success"]) == 0 })
        #expect(try Self.scrape(port: port).series["postbackd_catalog_postbacks"] == 4)

        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0, "stderr: \(daemon.stderr)")
    }

    @Test func offByDefaultAndNeverInOnceMode() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let catalog = catalogJSON([(1, 7, 3, "specific", "\(sink.base)/status/204?c={sub1}&t={transaction_id}")])

        // No metrics_listen: the daemon listens nowhere.
        let off = try SpoolFixture(catalog: catalog)
        let daemon = try ProcessRunner.start(
            "postbackd", ["run", "--config", off.configPath], environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        defer { daemon.kill() }
        #expect(eventually { daemon.stderr.contains("postbackd ready") }, "stderr: \(daemon.stderr)")
        #expect(Self.listeningPorts(pid: daemon.pid).isEmpty)
        #expect(!daemon.stderr.contains("metrics"))
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0)

        // --once with metrics_listen on a port that is taken: never bound, so the run is as usual.
        let busy = try SpoolFixture(catalog: catalog, settings: ["metrics_listen": "127.0.0.1:\(sink.port)"])
        try busy.drop("one.jsonl", conversion("t1", partner: 7, offer: 3) + "\n")
        let (summary, result) = try busy.runOnce()
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(summary["succeeded"] == 1 && summary["fires"] == 1)

        // The same taken port in service mode: a clear refusal to start, exit 1.
        let refused = try ProcessRunner.run(
            "postbackd", ["run", "--config", busy.configPath], environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("metrics_listen 127.0.0.1:\(sink.port): cannot listen"), "stderr: \(refused.stderr)")

        // A malformed address is refused before anything starts.
        let malformed = try SpoolFixture(catalog: catalog, settings: ["metrics_listen": "9464"])
        let bad = try ProcessRunner.run(
            "postbackd", ["run", "--config", malformed.configPath], environment: ["POSTBACKD_LOG_TARGET": "stderr"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("metrics_listen \"9464\": no port"), "stderr: \(bad.stderr)")
    }

    // MARK: helpers

    /// The port from the daemon's "metrics: http://127.0.0.1:PORT/metrics" line.
    static func metricsPort(_ daemon: ProcessRunner.Child) -> Int? {
        var port: Int?
        _ = eventually {
            guard let range = daemon.stderr.range(of: "metrics: http://127.0.0.1:") else { return false }
            port = Int(daemon.stderr[range.upperBound...].prefix { $0.isNumber })
            return port != nil
        }
        return port
    }

    struct Page {
        var status: Int
        var headers: String
        var text: String
        /// `name{labels}` → value, comments left out.
        var series: [String: Double] {
            var out: [String: Double] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
                out[String(line[..<space])] = value
            }
            return out
        }
    }

    static func scrape(port: Int) throws -> Page {
        try get(port: port, path: "/metrics")
    }

    /// One HTTP/1.0 request over a plain loopback socket; the server closes after answering.
    static func get(port: Int, path: String, method: String = "GET") throws -> Page {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let request = Array("\(method) \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { throw POSIXError(.EIO) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw POSIXError(.EBADMSG) }
        let head = String(text[..<split.lowerBound])
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        return Page(status: status, headers: head, text: "\n" + String(text[split.upperBound...]))
    }

    /// TCP ports a process listens on: its socket inodes (/proc/PID/fd) matched against the
    /// LISTEN rows (state 0A) of /proc/net/tcp and tcp6.
    static func listeningPorts(pid: Int32) -> Set<Int> {
        let fdDir = "/proc/\(pid)/fd"
        var inodes = Set<Substring>()
        for fd in (try? FileManager.default.contentsOfDirectory(atPath: fdDir)) ?? [] {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: fdDir + "/" + fd),
                  target.hasPrefix("socket:[") else { continue }
            inodes.insert(Substring(target.dropFirst("socket:[".count).dropLast()))
        }
        var ports = Set<Int>()
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            // Read to the end: /proc files report size 0, and String(contentsOfFile:) stops
            // after its first 4 KiB read, which drops rows once the machine has many sockets.
            let bytes = FileHandle(forReadingAtPath: table).flatMap { try? $0.readToEnd() } ?? Data()
            let text = String(decoding: bytes, as: UTF8.self)
            for row in text.split(separator: "\n").dropFirst() {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
                let fields = row.split(separator: " ")
                guard fields.count > 9, fields[3] == "0A", inodes.contains(fields[9]),
                      let port = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }) else { continue }
                ports.insert(port)
            }
        }
        return ports
    }
}
