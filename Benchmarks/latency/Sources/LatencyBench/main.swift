// LatencyBench: offers records to a running postbackd at a fixed rate and measures, per fire,
// the time from the rename of its file into spool/incoming/ to the request's arrival at this
// process's own loopback sink. Prints p50/p90/p99/max (HdrHistogram) and the counts, and a last
// line `RESULT key=value ...` for run.sh. See README.md next to Package.swift.
//
// The daemon is started by run.sh once the sink listens (--ready-file); the harness then warms
// up (one record at a time until one arrives: the daemon watches the spool and has a keep-alive
// connection), offers, waits for the fast fires, reports (--done-file), and keeps serving the
// slow partner's answers until it is killed, so the daemon's drain sees ordinary answers.
import Foundation
import Glibc
import Histogram
import NIOCore

struct Options {
    var spool = ""
    var port = 18190
    var rate = 5000.0
    var seconds = 20.0
    var count: Int?
    var perFile = 5
    var slowEvery = 0
    var slowDelayMillis = 5000
    var drainSeconds = 30.0
    var readyFile: String?
    var doneFile: String?
    var label = "run"
    var lingerSeconds = 120.0

    static let usage = """
        usage: LatencyBench --spool DIR [--port 18190] [--rate 5000] [--seconds 20] [--count N]
                            [--per-file 5] [--slow-every 0] [--slow-delay-ms 5000] [--drain 30]
                            [--ready-file PATH] [--done-file PATH] [--label TEXT] [--linger 120]
        --rate 0 renames every file at once (throughput burst of --count records).
        """

    init(_ arguments: [String]) {
        var args = arguments[...]
        func value(_ flag: String) -> String {
            guard let v = args.popFirst() else { Self.fail("\(flag) needs a value") }
            return v
        }
        func number(_ flag: String) -> Double {
            let v = value(flag)
            guard let d = Double(v), d >= 0 else { Self.fail("\(flag): not a number: \(v)") }
            return d
        }
        while let flag = args.popFirst() {
            switch flag {
            case "--spool": spool = value(flag)
            case "--port": port = Int(number(flag))
            case "--rate": rate = number(flag)
            case "--seconds": seconds = number(flag)
            case "--count": count = Int(number(flag))
            case "--per-file": perFile = max(1, Int(number(flag)))
            case "--slow-every": slowEvery = Int(number(flag))
            case "--slow-delay-ms": slowDelayMillis = Int(number(flag))
            case "--drain": drainSeconds = number(flag)
            case "--ready-file": readyFile = value(flag)
            case "--done-file": doneFile = value(flag)
            case "--label": label = value(flag)
            case "--linger": lingerSeconds = number(flag)
            case "-h", "--help": print(Self.usage); exit(0)
            default: Self.fail("unknown argument \(flag)")
            }
        }
        if spool.isEmpty { Self.fail("--spool is required") }
    }

    var fastCount: Int { count ?? Int((rate * seconds).rounded()) }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("LatencyBench: \(message)\n\(usage)\n".utf8))
        exit(64)
    }
}

/// Unbuffered, so run.sh sees each line when it is said.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func sleepSeconds(_ s: Double) { usleep(UInt32(s * 1e6)) }

func touch(_ path: String?) {
    guard let path else { return }
    _ = FileManager.default.createFile(atPath: path, contents: Data())
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let plan = Offerer.Plan(fastCount: options.fastCount, rate: options.rate, perFile: options.perFile, slowEvery: options.slowEvery)
let arrivals = Arrivals(fastCount: plan.fastCount)

let sink: Sink
let offerer: Offerer
let staged: [Offerer.StagedFile]
do {
    sink = try Sink(hosts: ["127.0.0.1", "127.0.0.2"], port: options.port,
                    slowDelay: .milliseconds(Int64(options.slowDelayMillis)), arrivals: arrivals)
    offerer = try Offerer(spool: options.spool)
    staged = try offerer.stage(plan)
} catch {
    FileHandle.standardError.write(Data("LatencyBench: \(error)\n".utf8))
    exit(1)
}
touch(options.readyFile)

// Warm-up: a record at a time until the daemon fires one, then until it has fired them all.
var warmUps = 0
let warmDeadline = monotonicNanos() + 120_000_000_000
while arrivals.warmUpArrived == 0 {
    if monotonicNanos() > warmDeadline {
        say("LatencyBench: no warm-up fire arrived in 120 s; is postbackd running on \(options.spool)?")
        exit(1)
    }
    do {
        try offerer.rename(try offerer.stageWarmUp(warmUps))
    } catch {
        say("LatencyBench: \(error)")
        exit(1)
    }
    warmUps += 1
    sleepSeconds(0.1)
}
let settle = monotonicNanos() + 5_000_000_000
while arrivals.warmUpArrived < warmUps && monotonicNanos() < settle { sleepSeconds(0.01) }
sleepSeconds(0.5)

// The offer, on its own thread so this one can watch the arrivals.
let offerDone = DispatchSemaphore(value: 0)
nonisolated(unsafe) var offerReport = Offerer.Report()
nonisolated(unsafe) var offerError: (any Error)?
let offerThread = Thread {
    do {
        offerReport = try offerer.offer(staged, plan: plan, arrivals: arrivals)
    } catch {
        offerError = error
    }
    offerDone.signal()
}
offerThread.name = "offerer"
offerThread.start()
offerDone.wait()
if let offerError {
    say("LatencyBench: \(offerError)")
    exit(1)
}

// Wait for the fast fires, at most --drain seconds after the last rename.
let drainDeadline = offerReport.lastRename + UInt64(options.drainSeconds * 1e9)
while arrivals.fastArrived < plan.fastCount && monotonicNanos() < drainDeadline { sleepSeconds(0.005) }
let endedAt = monotonicNanos()
let final = arrivals.snapshot

// Latency per fast fire, and by the record's position in its file.
var latency = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
var byPosition = (0..<plan.perFile).map { _ in
    Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
}
var lastArrival: UInt64 = 0
var perSecond: [Int] = []
for id in 0..<plan.fastCount where final.arrivedAt[id] != 0 && final.renamedAt[id] != 0 {
    let arrived = final.arrivedAt[id]
    let micros = arrived > final.renamedAt[id] ? (arrived - final.renamedAt[id]) / 1000 : 0
    _ = latency.record(micros)
    _ = byPosition[id % plan.perFile].record(micros)
    lastArrival = max(lastArrival, arrived)
    if arrived >= offerReport.firstRename {
        let second = Int((arrived - offerReport.firstRename) / 1_000_000_000)
        while perSecond.count <= second { perSecond.append(0) }
        perSecond[second] += 1
    }
}

// The longest stretch without a fast arrival while a renamed fast record had not arrived yet
// (from the first rename; a record never arrived waits until the harness stopped waiting).
// A daemon that keeps firing while work waits keeps this near the gap between two fires.
let renames = final.renamedAt.filter { $0 != 0 }.sorted()
let arrivalTimes = (0..<plan.fastCount).compactMap { final.arrivedAt[$0] != 0 && final.renamedAt[$0] != 0 ? final.arrivedAt[$0] : nil }.sorted()
var longestStallNanos: UInt64 = 0
var stallEndsAt: UInt64 = 0
if var previous = renames.first {
    var renamedSoFar = 0
    for (index, arrival) in (arrivalTimes + [endedAt]).enumerated() {
        while renamedSoFar < renames.count && renames[renamedSoFar] <= previous { renamedSoFar += 1 }
        let waiting = renamedSoFar - index  // renamed by `previous`, not arrived by it
        if waiting > 0 && arrival > previous && arrival - previous > longestStallNanos {
            longestStallNanos = arrival - previous
            stallEndsAt = arrival
        }
        previous = max(previous, arrival)
    }
}

func ms(_ micros: UInt64) -> String { String(format: "%.3f", Double(micros) / 1000) }
func p(_ h: Histogram<UInt64>, _ q: Double) -> UInt64 { h.totalCount == 0 ? 0 : h.valueAtPercentile(q) }

let offerSeconds = Double(offerReport.lastRename - offerReport.firstRename) / 1e9
// Fast throughput while the offer lasts: fast fires that arrived by one second after the last
// rename, over the offer's scheduled span (records / rate), so a daemon that keeps up scores the
// offered rate. One that stalls and catches up after the offer ends scores its stall here;
// over the whole run (arrived / time to the last arrival) a stall of 15 s could still average
// out to ~70 % of a fixed offered rate.
let windowEnd = offerReport.lastRename + 1_000_000_000
let windowSeconds = plan.rate > 0 ? Double(plan.fastCount) / plan.rate : 0
var inWindow = 0
for id in 0..<plan.fastCount where final.arrivedAt[id] != 0 && final.arrivedAt[id] <= windowEnd { inWindow += 1 }
let activeSeconds = lastArrival > offerReport.firstRename ? Double(lastArrival - offerReport.firstRename) / 1e9 : 0
// A burst (--rate 0) is offered in an instant: its throughput is all arrivals over the time to the last.
let fastPerSecond = plan.rate > 0 ? Double(inWindow) / windowSeconds : (activeSeconds > 0 ? Double(final.fastArrived) / activeSeconds : 0)
let missing = plan.fastCount - final.fastArrived

say("[\(options.label)] offered \(final.fastOffered) fast records in \(offerReport.files) files of \(plan.perFile) over "
    + String(format: "%.2f s", offerSeconds)
    + (plan.rate > 0 ? " (\(Int(plan.rate))/s)" : " (all at once)")
    + (plan.slowEvery > 0 ? ", plus \(final.slowOffered) for the slow partner (1 per \(plan.slowEvery), answers after \(options.slowDelayMillis) ms)" : "")
    + "; offer lag p99 \(ms(p(offerReport.lag, 99))) ms, max \(ms(offerReport.lag.max)) ms")
say("[\(options.label)] arrived \(final.fastArrived), missing \(missing), duplicates \(final.duplicates), unknown \(final.unknown)"
    + (plan.slowEvery > 0 ? "; slow partner: \(final.slowArrived) of \(final.slowOffered) arrived" : "")
    + (missing > 0 ? String(format: "; stopped waiting %.1f s after the last rename", Double(endedAt - offerReport.lastRename) / 1e9) : ""))
say("[\(options.label)] rename -> arrival, ms: p50 \(ms(p(latency, 50)))  p90 \(ms(p(latency, 90)))  p99 \(ms(p(latency, 99)))  "
    + "p99.9 \(ms(p(latency, 99.9)))  max \(ms(latency.max))  (n=\(latency.totalCount))")
say("[\(options.label)] p50 by position in file: "
    + byPosition.enumerated().map { "#\($0.offset + 1) \(ms(p($0.element, 50)))" }.joined(separator: "  "))
say("[\(options.label)] fast throughput while offered: " + String(format: "%.0f fires/s", fastPerSecond)
    + String(format: " (%d arrived by 1 s after the last rename, over the %.2f s offered); all %d by %.2f s",
             inWindow, windowSeconds, final.fastArrived, activeSeconds))
say("[\(options.label)] fast arrivals per second: " + perSecond.map(String.init).joined(separator: " "))
say("[\(options.label)] longest stretch without a fire while records waited: \(ms(longestStallNanos / 1000)) ms"
    + (stallEndsAt > offerReport.firstRename ? String(format: ", ending %.2f s after the first rename", Double(stallEndsAt - offerReport.firstRename) / 1e9) : ""))
say("RESULT label=\(options.label) p50_ms=\(ms(p(latency, 50))) p90_ms=\(ms(p(latency, 90))) p99_ms=\(ms(p(latency, 99))) "
    + "max_ms=\(ms(latency.max)) offered=\(final.fastOffered) arrived=\(final.fastArrived) missing=\(missing) "
    + "duplicates=\(final.duplicates) fast_per_s=\(String(format: "%.0f", fastPerSecond)) "
    + "longest_stall_ms=\(ms(longestStallNanos / 1000)) slow_offered=\(final.slowOffered) slow_arrived=\(final.slowArrived) offer_lag_max_ms=\(ms(offerReport.lag.max))")
touch(options.doneFile)

// Keep answering (the slow partner's fires in flight) while run.sh stops the daemon.
sleepSeconds(options.lingerSeconds)
withExtendedLifetime(sink) {}
