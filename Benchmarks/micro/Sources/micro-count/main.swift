// The benchmarks' hot paths as a plain program, for counting instructions with callgrind:
// perf_events (the benchmark library's `instructions` metric) is not available on every
// machine this project runs on, and callgrind's counts do not move with the machine's load.
//
//     valgrind --tool=callgrind --toggle-collect='*measured*' \
//         .build/release/micro-count fire 100000
//
// Each mode builds its input first, then runs `measured(...)` N times; dividing the
// instructions inside `measured` by N gives the per-operation figure.
#if canImport(Glibc)
import Glibc
#endif
import CatalogFixtures
import PostbackCore

@inline(never)
func measuredFire(_ index: PostbackIndex, _ record: Record, _ n: Int, _ out: inout [UInt8]) -> Int {
    var total = 0
    for i in 0..<n {
        for postback in index.resolve(record).fires {
            out.removeAll(keepingCapacity: true)
            postback.template.expand(
                record, context: .init(postbackID: postback.id, arrivalTime: 1_795_000_000, random: UInt64(i)),
                into: &out)
            total &+= out.count
        }
    }
    return total
}

@inline(never)
func measuredParse(_ line: UnsafeBufferPointer<UInt8>, _ n: Int) -> Int {
    var total = 0
    for _ in 0..<n {
        if case .success(let record) = RecordParser.parse(line: line) { total &+= Int(record.partnerID) }
    }
    return total
}

@inline(never)
func measuredLoad(_ json: [UInt8]) -> Int {
    CatalogFixtures.index(json).catalog.postbacks.count
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let n = Int(arguments[2]) else {
    print("usage: micro-count fire|parse|parse-minimal|load N")
    exit(64)
}
switch arguments[1] {
case "fire":
    let index = CatalogFixtures.index(CatalogFixtures.catalogJSON(.init(count: 100_000)))
    let record = CatalogFixtures.singleFireRecord(index, level: .specific)
    var out: [UInt8] = []
    out.reserveCapacity(1024)
    print(measuredFire(index, record, n, &out))
case "parse", "parse-minimal":
    let line = arguments[1] == "parse" ? CatalogFixtures.recordLine
        : #"{"kind":"conversion","transaction_id":"t-1001","partner_id":7,"offer_id":3,"sub1":"acme-click-1"}"#
    print(Array(line.utf8).withUnsafeBufferPointer { measuredParse($0, n) })
case "load":
    print(measuredLoad(CatalogFixtures.catalogJSON(.init(count: n))))
default:
    print("unknown mode \(arguments[1])")
    exit(64)
}
