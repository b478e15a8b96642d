import CoreMetrics
import Foundation
import PostbackMetrics
import Testing

/// The daemon's metric objects against a registry of their own (not the process-wide one).
@Suite("daemon metric objects")
struct PostbackdMetricsTests {
    /// `name{labels}` → value from a scrape.
    static func series(_ exporter: MetricsExporter) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in exporter.scrape().split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = value
        }
        return out
    }

    @Test func countsLandInTheirSeries() {
        let exporter = MetricsExporter.standalone()
        let metrics = PostbackdMetrics(factory: exporter.factory)
        metrics.fired(.succeeded)
        metrics.fired(.succeeded)
        metrics.fired(.skipped)
        metrics.recorded(.noMatch)
        metrics.attempted(latency: .microseconds(1500))
        metrics.attempted(latency: .seconds(20))
        metrics.catalogLoaded(ok: false, unixSeconds: 1_700_000_000)
        metrics.sample(queue: .deferred, count: 7, oldestAgeSeconds: 3.5)
        let s = Self.series(exporter)
        #expect(s["postbackd_fires_total{outcome=\"succeeded\"}"] == 2)
        #expect(s["postbackd_fires_total{outcome=\"skipped\"}"] == 1)
        #expect(s["postbackd_fires_total{outcome=\"failed\"}"] == 0)
        #expect(s["postbackd_records_total{outcome=\"no_match\"}"] == 1)
        #expect(s["postbackd_fire_attempts_total"] == 2)
        // 1.5 ms is above the 1 ms bucket and in the 2.5 ms one; 20 s only in +Inf.
        #expect(s["postbackd_fire_duration_seconds_bucket{le=\"0.001\"}"] == 0)
        #expect(s["postbackd_fire_duration_seconds_bucket{le=\"0.0025\"}"] == 1)
        #expect(s["postbackd_fire_duration_seconds_bucket{le=\"10.0\"}"] == 1)
        #expect(s["postbackd_fire_duration_seconds_bucket{le=\"+Inf\"}"] == 2)
        #expect(s["postbackd_fire_duration_seconds_sum"] == 20.0015)
        #expect(s["postbackd_catalog_last_reload_success"] == 0)
        #expect(s["postbackd_catalog_last_reload_timestamp_seconds"] == 1_700_000_000)
        #expect(s["postbackd_spool_queue_depth{queue=\"deferred\"}"] == 7)
        #expect(s["postbackd_spool_oldest_age_seconds{queue=\"deferred\"}"] == 3.5)
    }

    @Test func breakerHostSeriesAreCappedAndGoAwayWhenClosed() {
        let exporter = MetricsExporter.standalone()
        let metrics = PostbackdMetrics(factory: exporter.factory)
        let many = (0..<30).map { "partner-\(String(format: "%02d", $0)).example:443" }
        metrics.sample(inFlight: 3, catalogPostbacks: 9, autoPaused: 1, breakerOpenHosts: many.reversed())
        var s = Self.series(exporter)
        let hosts = s.keys.filter { $0.hasPrefix("postbackd_breaker_open{") }.sorted()
        #expect(s["postbackd_breaker_open_hosts"] == 30)
        #expect(hosts.count == PostbackdMetrics.breakerHostSeriesLimit)
        #expect(hosts.first == "postbackd_breaker_open{host=\"partner-00.example:443\"}")
        #expect(s["postbackd_fires_in_flight"] == 3 && s["postbackd_catalog_postbacks"] == 9 && s["postbackd_postbacks_auto_paused"] == 1)

        metrics.sample(inFlight: 0, catalogPostbacks: 9, autoPaused: 1, breakerOpenHosts: ["partner-05.example:443"])
        s = Self.series(exporter)
        #expect(s.keys.filter { $0.hasPrefix("postbackd_breaker_open{") } == ["postbackd_breaker_open{host=\"partner-05.example:443\"}"])
        #expect(s["postbackd_breaker_open_hosts"] == 1)

        metrics.sample(inFlight: 0, catalogPostbacks: 9, autoPaused: 1, breakerOpenHosts: [])
        s = Self.series(exporter)
        #expect(!s.keys.contains { $0.hasPrefix("postbackd_breaker_open{") })
        #expect(s["postbackd_breaker_open_hosts"] == 0)
    }

    /// What metrics add to one fire in the recorder (an attempt with its latency, then its
    /// outcome), with Prometheus behind swift-metrics and with metrics off. Printed for the
    /// record; the bound is loose, since the machine is shared, and only catches a blunder
    /// such as a lookup by name or an allocation per fire.
    @Test func perFireCostIsSmall() {
        let n = 1_000_000
        func nanosPerFire(_ metrics: PostbackdMetrics) -> Double {
            let start = ContinuousClock.now
            for i in 0..<n {
                metrics.attempted(latency: .microseconds(Int64(i & 0xFFFF)))
                metrics.fired(.succeeded)
            }
            let elapsed = ContinuousClock.now - start
            return (Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9) / Double(n)
        }
        let prometheus = nanosPerFire(PostbackdMetrics(factory: MetricsExporter.standalone().factory))
        let off = nanosPerFire(PostbackdMetrics(factory: NOOPMetricsHandler.instance))
        print("metrics per fire: prometheus \(Int(prometheus)) ns, off \(Int(off)) ns")
        #expect(prometheus < 5_000)
    }
}
