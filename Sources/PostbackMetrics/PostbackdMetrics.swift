import CoreMetrics
import Synchronization

/// The daemon's metric objects, made once through swift-metrics and then only updated.
///
/// Making a metric object takes the registry's lock and a dictionary lookup; updating one is an
/// atomic add (a histogram: one uncontended lock). So every object is made here, at start, and
/// a fire costs a few atomic adds. Made before ``MetricsExporter/bootstrap(listen:)`` (or with
/// metrics off) the objects are swift-metrics' no-ops, and a fire costs a few empty calls.
public final class PostbackdMetrics: Sendable {
    // One stored counter per label value, picked by a switch: no hashing on the hot path.
    private let succeeded, deferred, failed, skipped: Counter
    private let noMatch, rejected: Counter
    private let heldBackCounter: Counter
    private let attempts: Counter
    private let latency: Timer
    private let autoPauses: Counter

    private let inFlight: Gauge
    private let spoolDepth: [SpoolQueueLabel: Gauge]
    private let spoolOldestAge: [SpoolQueueLabel: Gauge]
    private let deferredDue: Gauge
    private let breakerOpenHosts: Gauge
    /// One gauge per host whose breaker is not closed, at most ``breakerHostSeriesLimit``.
    private let breakerOpen = Mutex<[String: Gauge]>([:])
    private let catalogPostbacks: Gauge
    private let catalogReloadTime: Gauge
    private let catalogReloadSuccess: Gauge
    private let autoPaused: Gauge
    /// Where metric objects come from: swift-metrics' process-wide factory unless a test
    /// passes its own. Kept for the per-host breaker gauges, made as hosts open.
    private let factory: any MetricsFactory

    /// Per-host breaker series are capped so that a bad day with many dead partners cannot
    /// blow up the scrape; ``MetricFamily/breakerOpenHosts`` still counts them all.
    public static let breakerHostSeriesLimit = 20

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        func counter(_ family: MetricFamily, _ dimensions: [(String, String)] = []) -> Counter {
            Counter(label: family.name, dimensions: dimensions, factory: factory)
        }
        func gauge(_ family: MetricFamily, _ dimensions: [(String, String)] = []) -> Gauge {
            Gauge(label: family.name, dimensions: dimensions, factory: factory)
        }
        func fires(_ outcome: FireOutcomeLabel) -> Counter { counter(.fires, [("outcome", outcome.rawValue)]) }
        func records(_ outcome: RecordOutcomeLabel) -> Counter { counter(.records, [("outcome", outcome.rawValue)]) }
        succeeded = fires(.succeeded)
        deferred = fires(.deferred)
        failed = fires(.failed)
        skipped = fires(.skipped)
        noMatch = records(.noMatch)
        rejected = records(.rejected)
        heldBackCounter = counter(.heldBack)
        attempts = counter(.attempts)
        latency = Timer(label: MetricFamily.fireDuration.name, factory: factory)
        autoPauses = counter(.autoPauses)
        inFlight = gauge(.inFlight)
        spoolDepth = Dictionary(uniqueKeysWithValues: SpoolQueueLabel.allCases.map {
            ($0, gauge(.spoolDepth, [("queue", $0.rawValue)]))
        })
        spoolOldestAge = Dictionary(uniqueKeysWithValues: SpoolQueueLabel.allCases.map {
            ($0, gauge(.spoolOldestAge, [("queue", $0.rawValue)]))
        })
        deferredDue = gauge(.deferredDue)
        breakerOpenHosts = gauge(.breakerOpenHosts)
        catalogPostbacks = gauge(.catalogPostbacks)
        catalogReloadTime = gauge(.catalogReloadTime)
        catalogReloadSuccess = gauge(.catalogReloadSuccess)
        autoPaused = gauge(.autoPaused)
    }

    // MARK: per fire and per record (hot path: no allocation, no lookup by name)

    /// A fire reached an outcome.
    public func fired(_ outcome: FireOutcomeLabel) {
        switch outcome {
        case .succeeded: succeeded.increment()
        case .deferred: deferred.increment()
        case .failed: failed.increment()
        case .skipped: skipped.increment()
        }
    }

    /// A fire was deferred unsent: its host's breaker was open or the host slow (count it as deferred too).
    public func heldBack() {
        heldBackCounter.increment()
    }

    /// An attempt came back after `latency`.
    public func attempted(latency duration: Duration) {
        attempts.increment()
        let (seconds, attoseconds) = duration.components
        latency.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// A record fired nothing.
    public func recorded(_ outcome: RecordOutcomeLabel) {
        switch outcome {
        case .noMatch: noMatch.increment()
        case .rejected: rejected.increment()
        }
    }

    public func autoPausedPostback() {
        autoPauses.increment()
    }

    // MARK: reload

    /// A catalog load or reload at `unixSeconds` was taken (`ok`) or refused.
    public func catalogLoaded(ok: Bool, unixSeconds: Double) {
        catalogReloadTime.record(unixSeconds)
        catalogReloadSuccess.record(ok ? 1 : 0)
    }

    // MARK: sampled gauges

    /// The cheap live values: read under a lock or two, so sampled at every scrape.
    public func sample(inFlight fires: Int, catalogPostbacks postbacks: Int, autoPaused paused: Int, breakerOpenHosts hosts: [String]) {
        inFlight.record(fires)
        catalogPostbacks.record(postbacks)
        autoPaused.record(paused)
        breakerOpenHosts.record(hosts.count)
        let shown = Set(hosts.sorted().prefix(Self.breakerHostSeriesLimit))
        breakerOpen.withLock { series in
            for (host, gauge) in series where !shown.contains(host) {
                // Closed again: drop the series rather than leave a 0 per host ever seen.
                gauge.destroy()
                series[host] = nil
            }
            for host in shown where series[host] == nil {
                let gauge = Gauge(label: MetricFamily.breakerOpen.name, dimensions: [("host", host)], factory: factory)
                gauge.record(1)
                series[host] = gauge
            }
        }
    }

    /// One spool queue's depth and the age of its oldest file.
    public func sample(queue: SpoolQueueLabel, count: Int, oldestAgeSeconds: Double) {
        spoolDepth[queue]?.record(count)
        spoolOldestAge[queue]?.record(oldestAgeSeconds)
    }

    public func sample(deferredDue due: Int) {
        deferredDue.record(due)
    }
}
