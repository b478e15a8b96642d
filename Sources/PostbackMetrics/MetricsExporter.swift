import CoreMetrics
import Prometheus

/// swift-metrics' backend for the process: Prometheus, installed once, and what the endpoint
/// serves from.
///
/// `bootstrap` must run before the daemon is assembled: swift-metrics binds each metric object
/// to the factory in place when the object is made, so objects made earlier stay no-ops. With
/// `metrics_listen` empty it is never called, and every metric in the daemon is a no-op.
public struct MetricsExporter: Sendable {
    public let listen: ListenAddress
    let registry: PrometheusCollectorRegistry

    /// Parses `metrics_listen` and installs the Prometheus factory (once per process).
    public static func bootstrap(listen text: String) throws(MetricsEndpointError) -> MetricsExporter {
        let listen = try ListenAddress.parse(text)
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[MetricFamily.fireDuration.name] = MetricFamily.fireDurationBuckets
        MetricsSystem.bootstrap(factory)
        return MetricsExporter(listen: listen, registry: registry)
    }

    /// For tests: an exporter on its own registry, without touching the process-wide factory.
    init(listen: ListenAddress, registry: PrometheusCollectorRegistry) {
        self.listen = listen
        self.registry = registry
    }

    /// The Prometheus text of every metric now, tidied by ``Exposition``.
    public func scrape() -> String {
        Exposition.render(registry.emitToString())
    }
}
