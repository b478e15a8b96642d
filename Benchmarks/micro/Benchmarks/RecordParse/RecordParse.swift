// Parse one spool line into a Record: what the daemon does for every line of a spool file
// (RecordParser.parseLines calls parse(line:) per line, on bytes straight from the file).
import Benchmark
import CatalogFixtures
import PostbackCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .instructions, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000)

    let lines: [(String, String)] = [
        ("typical conversion, 13 fields + 2 unknown", CatalogFixtures.recordLine),
        ("minimal conversion, required fields + sub1",
         #"{"kind":"conversion","transaction_id":"t-1001","partner_id":7,"offer_id":3,"sub1":"acme-click-1"}"#),
    ]
    for (what, line) in lines {
        Benchmark("parse one record line, \(what)") { benchmark, bytes in
            bytes.withUnsafeBufferPointer { buffer in
                guard case .success = RecordParser.parse(line: buffer) else { fatalError("fixture line refused") }
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    blackHole(RecordParser.parse(line: buffer))
                }
                benchmark.stopMeasurement()
            }
        } setup: {
            Array(line.utf8)
        }
    }
}
