// Fires COUNT GETs at URL_PREFIX through the PostbackFiring engine alone (no spool, no
// logging), the way the daemon will: one producer thread calling submit(), completions on the
// driver thread. Same arguments and output shape as libcurl-ceiling.c, so run.sh can put
// the two side by side:
//
//   driver-bench URL_PREFIX COUNT CONCURRENCY
//   driver-bench: N requests, C concurrent, S s, R req/s, OK ok
import Dispatch
import Glibc
import PostbackCore
import PostbackFiring
import Synchronization

let arguments = CommandLine.arguments
guard arguments.count == 4, let count = Int(arguments[2]), let concurrency = Int(arguments[3]), count > 0 else {
    print("usage: driver-bench URL_PREFIX COUNT CONCURRENCY")
    exit(2)
}
let prefix = arguments[1]

/// Touched from the driver thread only, but the completion closure must be Sendable.
final class Tally: Sendable {
    let done = Atomic<Int>(0)
    let ok = Atomic<Int>(0)
    let finished = DispatchSemaphore(value: 0)
}

let engine = FiringEngine(
    configuration: FiringConfiguration(
        maxConcurrent: concurrency, perHost: concurrency,
        addressRules: AddressRules(allowList: [CIDR("127.0.0.0/8")!])))
let tally = Tally()
let started = ContinuousClock.now
for i in 0..<count {
    engine.submit(FireRequest(url: "\(prefix)c\(i)&currency=EUR")) { result in
        if result.verdict.kind == .success { tally.ok.add(1, ordering: .relaxed) }
        if tally.done.add(1, ordering: .relaxed).newValue == count { tally.finished.signal() }
    }
}
tally.finished.wait()
let elapsed = ContinuousClock.now - started
engine.shutdown()

let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let ok = tally.ok.load(ordering: .relaxed)
print("driver-bench: \(count) requests, \(concurrency) concurrent, \(String(format3: seconds)) s, \(Int((Double(count) / seconds).rounded())) req/s, \(ok) ok")
exit(ok == count ? 0 : 1)

extension String {
    init(format3 value: Double) {
        let millis = Int((value * 1000).rounded())
        self = "\(millis / 1000)." + String(String(millis % 1000 + 1000).dropFirst())
    }
}
