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
    /// Makes metric objects that this exporter serves (with their help text and the latency buckets).
    public let factory: any MetricsFactory

    /// Parses `metrics_listen` and installs the Prometheus factory (once per process).
    public static func bootstrap(listen text: String) throws(MetricsEndpointError) -> MetricsExporter {
        let exporter = standalone(listen: try ListenAddress.parse(text))
        MetricsSystem.bootstrap(exporter.factory)
        return exporter
    }

    /// An exporter on a registry of its own, not installed process-wide: for tests, which
    /// pass its `factory` to ``PostbackdMetrics/init(factory:)``.
    public static func standalone(listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 0)) -> MetricsExporter {
        let registry = PrometheusCollectorRegistry()
        return MetricsExporter(listen: listen, registry: registry, factory: HelpTextFactory(registry: registry))
    }

    private init(listen: ListenAddress, registry: PrometheusCollectorRegistry, factory: any MetricsFactory) {
        self.listen = listen
        self.registry = registry
        self.factory = factory
    }

    /// The Prometheus text of every metric now (help included, from the registry), in the
    /// stable order of ``Exposition``.
    public func scrape() -> String {
        Exposition.render(registry.emitToString())
    }
}
