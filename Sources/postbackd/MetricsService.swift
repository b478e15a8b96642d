import Foundation
import Logging
import PostbackDaemon
import PostbackMetrics
import ServiceLifecycle

/// The Prometheus endpoint as a service: started only when `metrics_listen` is set (never in
/// --once). It samples the spool's queue depths every few seconds (a scan of the spool is too
/// dear for every scrape) and closes the endpoint at shutdown.
struct MetricsService: Service {
    let daemon: Daemon
    let endpoint: MetricsEndpoint
    static let spoolSampleInterval: Duration = .seconds(5)

    /// Binds the endpoint before the daemon starts, so a port in use stops the start with a
    /// clear message instead of a daemon without the metrics it was asked for.
    static func start(_ exporter: MetricsExporter, daemon: Daemon, logger: Logger) async throws(MetricsEndpointError) -> MetricsService {
        let endpoint = try await MetricsEndpoint.start(exporter) { daemon.sampleLiveMetrics() }
        logger.notice("metrics: http://\(endpoint.address)/metrics")
        return MetricsService(daemon: daemon, endpoint: endpoint)
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            daemon.sampleSpoolMetrics()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.spoolSampleInterval) }
        }
        await endpoint.stop()
    }
}
