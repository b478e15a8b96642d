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
    // Also timed and its peak RSS read here, outside the benchmark library, whose malloc
    // interposer adds a header to every allocation and a counter to every call.
    let json = CatalogFixtures.catalogJSON(.init(count: n))
    let before = Process.status()
    Process.resetPeakRSS()
    let (cpu0, wall0) = (Process.cpuSeconds(), Process.wallSeconds())
    let count = measuredLoad(json)
    let (cpu1, wall1) = (Process.cpuSeconds(), Process.wallSeconds())
    let after = Process.status()
    print("postbacks=\(count) json_mb=\(json.count >> 20) user_s=\(rounded(cpu1.user - cpu0.user))"
        + " sys_s=\(rounded(cpu1.system - cpu0.system)) wall_s=\(rounded(wall1 - wall0))"
        + " rss_before_mb=\(before.rss >> 20) peak_rss_mb=\(after.peak >> 20) peak_delta_mb=\((after.peak - before.rss) >> 20)")
default:
    print("unknown mode \(arguments[1])")
    exit(64)
}

func rounded(_ x: Double) -> Double { (x * 100).rounded() / 100 }

/// Linux process figures, read the way `ps` and `time` do.
enum Process {
    /// User and system CPU seconds of the process so far.
    static func cpuSeconds() -> (user: Double, system: Double) {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return (Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
                Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)
    }

    static func wallSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// VmRSS and VmHWM (the peak) from /proc/self/status, in bytes.
    static func status() -> (rss: Int, peak: Int) {
        guard let file = fopen("/proc/self/status", "r") else { return (0, 0) }
        defer { fclose(file) }
        var rss = 0, peak = 0
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let kB = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
            if text.hasPrefix("VmRSS:") { rss = kB << 10 }
            if text.hasPrefix("VmHWM:") { peak = kB << 10 }
        }
        return (rss, peak)
    }

    /// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+), so the peak read
    /// afterwards is the load's own, not the JSON generation's.
    static func resetPeakRSS() {
        guard let file = fopen("/proc/self/clear_refs", "w") else { return }
        fputs("5", file)
        fclose(file)
    }
}
