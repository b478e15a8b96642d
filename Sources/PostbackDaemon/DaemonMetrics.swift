import PostbackMetrics
import PostbackSpool

/// The sampled side of metrics: gauges read from the daemon's live state, so the firing path
/// does not maintain them. Counters and latency are recorded where outcomes are (Recorder).
extension Daemon {
    /// Fires in flight, catalog size, paused postbacks and open breakers: each a lock or an
    /// atomic read, cheap enough to sample at every scrape.
    public func sampleLiveMetrics() {
        recorder.metrics.sample(
            inFlight: engine.inFlight, catalogPostbacks: catalog.index.catalog.postbacks.count,
            autoPaused: paused.ids.count, breakerOpenHosts: recorder.breakers.openHosts)
    }

    /// Spool queue depths: one lstat per file in the spool, so sampled every few seconds by the
    /// metrics service rather than at each scrape. A spool that cannot be read keeps the last values.
    public func sampleSpoolMetrics() {
        guard let status = try? spool.status() else { return }
        let metrics = recorder.metrics
        metrics.sample(queue: .incoming, count: status.incoming.count, oldestAgeSeconds: status.incoming.oldestAgeSeconds)
        metrics.sample(queue: .active, count: status.active.count, oldestAgeSeconds: status.active.oldestAgeSeconds)
        metrics.sample(queue: .deferred, count: status.deferred.count, oldestAgeSeconds: status.deferred.oldestAgeSeconds)
        metrics.sample(queue: .failed, count: status.failed.count, oldestAgeSeconds: status.failed.oldestAgeSeconds)
        metrics.sample(queue: .bad, count: status.bad.count, oldestAgeSeconds: status.bad.oldestAgeSeconds)
        metrics.sample(deferredDue: status.deferredDue)
    }
}
