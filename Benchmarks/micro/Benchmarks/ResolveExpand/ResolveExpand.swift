// Resolve one record against a 100k-postback index and expand its one fire into a reused
// buffer: the per-fire work of the daemon's dispatch loop (Dispatcher: `index.resolve(record)
// .fires`, `url.removeAll(keepingCapacity: true)`, `template.expand(..., into: &url)`).
// Targets (issue #7): ≤ 1 µs, and no allocation beyond the output buffer.
import Benchmark
import CatalogFixtures
import PostbackCore

/// Built once per process, on first use, outside any measured region.
let index100k: PostbackIndex = CatalogFixtures.index(CatalogFixtures.catalogJSON(.init(count: 100_000)))

/// One fire: resolve, then expand each S2S postback of the winning level into `out`.
@inline(never)
func fire(_ index: PostbackIndex, _ record: Record, random: UInt64, into out: inout [UInt8]) {
    for postback in index.resolve(record).fires {
        out.removeAll(keepingCapacity: true)
        // `random` stands in for the daemon's SystemRandomNumberGenerator draw (a getrandom
        // system call, not part of resolving or expanding).
        postback.template.expand(
            record, context: .init(postbackID: postback.id, arrivalTime: 1_795_000_000, random: random),
            into: &out)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .instructions, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000)

    for level in [PostbackLevel.specific, .globalOffer, .global] {
        let what: String
        switch level {
        case .specific: what = "specific hit, 1 lookup"
        case .globalOffer: what = "global_offer hit, 2 lookups"
        case .global: what = "global partner hit, 3 lookups"
        }
        Benchmark("resolve+expand one fire, 100k catalog, \(what)") { benchmark, record in
            var out: [UInt8] = []
            out.reserveCapacity(1024)  // The output buffer: allocated once, reused by every fire.
            var random: UInt64 = 0x9E37_79B9_7F4A_7C15
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                random &+= 0x9E37_79B9_7F4A_7C15
                fire(index100k, record, random: random, into: &out)
                blackHole(out.count)
            }
            benchmark.stopMeasurement()
            blackHole(out)
        } setup: {
            CatalogFixtures.singleFireRecord(index100k, level: level)
        }
    }

    // The two halves, so a regression can be placed.
    Benchmark("resolve only, 100k catalog, specific hit") { benchmark, record in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(index100k.resolve(record).fires.first?.id)
        }
    } setup: {
        CatalogFixtures.singleFireRecord(index100k, level: .specific)
    }

    Benchmark("expand only, one template of the 100k catalog") { (benchmark: Benchmark, state: (Postback, Record)) in
        let (postback, record) = state
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            out.removeAll(keepingCapacity: true)
            postback.template.expand(
                record, context: .init(postbackID: postback.id, arrivalTime: 1_795_000_000, random: 42), into: &out)
            blackHole(out.count)
        }
        benchmark.stopMeasurement()
    } setup: {
        let record = CatalogFixtures.singleFireRecord(index100k, level: .specific)
        return (index100k.resolve(record).fires.first!, record)
    }

    // Issue 15: a POST body in JSON, 9 macros (strings escaped in place, amounts and ids bare),
    // expanded into a reused buffer as the URL is. Target: no allocation per fire, as for URLs.
    Benchmark("expand only, JSON body, 9 macros") { (benchmark: Benchmark, state: (BodyTemplate, Record)) in
        let (body, record) = state
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            out.removeAll(keepingCapacity: true)
            body.expand(record, context: .init(postbackID: 17, arrivalTime: 1_795_000_000, random: 42), into: &out)
            blackHole(out.count)
        }
        benchmark.stopMeasurement()
    } setup: {
        let body = try! BodyTemplate.compile(CatalogFixtures.jsonBody, contentType: .json)
        return (body, CatalogFixtures.conversion(partner: 7, offer: 3))
    }
}
