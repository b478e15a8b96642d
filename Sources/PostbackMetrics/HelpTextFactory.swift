import CoreMetrics
import Prometheus

/// swift-metrics' factory over the Prometheus registry that registers each family of
/// ``MetricFamily`` with its help text, so the registry writes `# HELP` itself.
///
/// swift-prometheus's own factory registers everything with an empty help (swift-metrics has
/// none to give), and the registry refuses a second help text for a name already made, so the
/// help has to be there when the metric is first made: here. Labels not in the table (none
/// today) and every destroy go through swift-prometheus's factory unchanged.
struct HelpTextFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let prometheus: PrometheusMetricsFactory
    private let families: [String: MetricFamily]

    init(registry: PrometheusCollectorRegistry, families: [MetricFamily] = MetricFamily.all) {
        self.registry = registry
        var prometheus = PrometheusMetricsFactory(registry: registry)
        prometheus.durationHistogramBuckets[MetricFamily.fireDuration.name] = MetricFamily.fireDurationBuckets
        self.prometheus = prometheus
        self.families = Dictionary(families.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    private func descriptor(_ label: String) -> MetricNameDescriptor? {
        families[label].map { MetricNameDescriptor(metricName: $0.name, unitName: "", helpText: $0.help) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let descriptor = descriptor(label) else { return prometheus.makeCounter(label: label, dimensions: dimensions) }
        return registry.makeCounter(descriptor: descriptor, labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        guard let descriptor = descriptor(label) else { return prometheus.makeFloatingPointCounter(label: label, dimensions: dimensions) }
        return registry.makeCounter(descriptor: descriptor, labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard !aggregate, let descriptor = descriptor(label) else {
            return prometheus.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        }
        return registry.makeGauge(descriptor: descriptor, labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let descriptor = descriptor(label) else { return prometheus.makeMeter(label: label, dimensions: dimensions) }
        return registry.makeGauge(descriptor: descriptor, labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let descriptor = descriptor(label) else { return prometheus.makeTimer(label: label, dimensions: dimensions) }
        let buckets = prometheus.durationHistogramBuckets[label] ?? prometheus.defaultDurationHistogramBuckets
        return registry.makeDurationHistogram(descriptor: descriptor, labels: dimensions, buckets: buckets)
    }

    func destroyCounter(_ handler: any CounterHandler) { prometheus.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { prometheus.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { prometheus.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { prometheus.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { prometheus.destroyTimer(handler) }
}
