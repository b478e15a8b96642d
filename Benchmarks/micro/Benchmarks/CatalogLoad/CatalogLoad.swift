// Load a 1M-postback catalog from its JSON bytes: decode, validate every entry (URL templates
// compiled, levels checked, ids unique) and build the resolution index — what the daemon does
// at start and on every SIGHUP before swapping the new index in.
// Target (issue #7): ≤ 2 s; peak RSS reported.
import Benchmark
import CatalogFixtures
import PostbackCore

let benchmarks: @Sendable () -> Void = {
    Benchmark("load+validate+index 1M-postback catalog from JSON bytes",
              configuration: .init(
                metrics: [.wallClock, .cpuTotal, .instructions, .mallocCountTotal,
                          .peakMemoryResident, .peakMemoryResidentDelta],
                timeUnits: .milliseconds,
                units: [.peakMemoryResident: .mega, .peakMemoryResidentDelta: .mega],
                warmupIterations: 0,
                maxDuration: .seconds(60),
                maxIterations: 5)) { benchmark, json in
        let index = CatalogFixtures.index(json)
        benchmark.stopMeasurement()  // Freeing the index is not part of loading it.
        precondition(index.catalog.postbacks.count == 1_000_000)
        blackHole(index)
    } setup: {
        CatalogFixtures.catalogJSON(.init(count: 1_000_000))
    }
}
