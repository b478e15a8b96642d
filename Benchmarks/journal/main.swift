// Journal logging throughput: how many fire-outcome entries per second PostbackSystemd's
// JournalLogHandler gets into journald, against the ceiling of sd_journal_sendv with prebuilt
// iovecs (what libsystemd and journald cost alone) and against the stderr fallback.
// Built and run by run.sh; not part of the package, so it can use the release objects directly.
import CSystemd
import Glibc
import Logging
import PostbackSystemd

let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 100_000 : 100_000

func seconds(_ body: () -> Void) -> Double {
    var start = timespec()
    var end = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    body()
    clock_gettime(CLOCK_MONOTONIC, &end)
    return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
}

func report(_ name: String, _ elapsed: Double) {
    let rate = Double(count) / elapsed
    let perEntry = elapsed / Double(count) * 1e9
    print("\(name): \(Int(rate)) entries/s, \(Int(perEntry)) ns/entry (\(count) entries)")
}

/// What the daemon logs for every fire's final outcome.
func logFires(_ logger: Logger) {
    for i in 0..<count {
        logger.info(
            "fire succeeded",
            metadata: [
                "postback_id": "17", "partner_id": "7", "offer_id": "3",
                "transaction_id": "bench-\(i)", "http_status": "200", "attempt": "1",
                "latency_us": "48211", "outcome": "succeeded",
            ])
    }
}

guard JournalLogHandler.detectDestination() == .journal else {
    print("no journald socket; run .ci/start-journald.sh first")
    exit(1)
}

let fields: [StaticString] = [
    "MESSAGE=fire succeeded", "PRIORITY=6", "SYSLOG_IDENTIFIER=postbackd-bench",
    "CODE_FILE=Bench/main.swift", "CODE_LINE=1", "CODE_FUNC=logFires",
    "POSTBACK_ID=17", "PARTNER_ID=7", "OFFER_ID=3", "TRANSACTION_ID=bench-0", "HTTP_STATUS=200",
    "ATTEMPT=1", "LATENCY_US=48211", "OUTCOME=succeeded",
]
let vectors = fields.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.utf8Start), iov_len: $0.utf8CodeUnitCount) }
report("sd_journal_sendv, prebuilt iovecs (ceiling)", seconds {
    vectors.withUnsafeBufferPointer { buffer in
        for _ in 0..<count { _ = sd_journal_sendv(buffer.baseAddress, Int32(buffer.count)) }
    }
})

let journal = Logger(label: "bench") { _ in JournalLogHandler(identifier: "postbackd-bench") }
report("JournalLogHandler via Logger, 8 metadata fields", seconds { logFires(journal) })

let devNull = open("/dev/null", O_WRONLY)
let savedStderr = dup(STDERR_FILENO)
dup2(devNull, STDERR_FILENO)
let plain = Logger(label: "bench") { _ in StderrLogHandler() }
let stderrTime = seconds { logFires(plain) }
dup2(savedStderr, STDERR_FILENO)
report("StderrLogHandler to /dev/null, 8 metadata fields", stderrTime)
