import Glibc
import Histogram

/// The ingest side: files of a few records each, written into `spool/tmp/` ahead of time and
/// renamed into `spool/incoming/` on a fixed schedule, as DESIGN.md's protocol has ingest do.
///
/// Every file is written and made durable (one `syncfs`) before the first timed rename, so the
/// timed part is renames alone: the schedule holds on a busy machine, the offerer costs the
/// daemon almost no CPU, and no write of ours competes with the daemon's fsyncs while it is
/// measured. The latency of a record starts just before its file's `rename` call.
struct Offerer {
    struct Plan {
        /// Fast records in all; the ids are 0..<fastCount.
        var fastCount: Int
        /// Fast records per second; 0 renames as fast as it can (a throughput burst).
        var rate: Double
        var perFile: Int
        /// One extra record for the slow partner after every `slowEvery` fast ones; 0 = none.
        var slowEvery: Int
    }

    struct StagedFile {
        var name: String
        var fast: Range<Int>
        var slow: Int
    }

    struct Report {
        var files = 0
        var firstRename: UInt64 = 0
        var lastRename: UInt64 = 0
        /// How late each rename was against its schedule, in µs.
        var lag = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    }

    let tmp: Int32
    let incoming: Int32

    init(spool: String) throws {
        tmp = try Self.openDirectory(spool + "/tmp")
        incoming = try Self.openDirectory(spool + "/incoming")
    }

    /// Writes the whole offer into tmp/ and makes it durable.
    func stage(_ plan: Plan) throws -> [StagedFile] {
        var files: [StagedFile] = []
        files.reserveCapacity(plan.fastCount / plan.perFile + 1)
        var slowID = 0
        var text: [UInt8] = []
        var start = 0
        while start < plan.fastCount {
            let fast = start..<min(start + plan.perFile, plan.fastCount)
            text.removeAll(keepingCapacity: true)
            var slow = 0
            for id in fast {
                Self.append(record: "f\(id)", partner: 7, sub1: "\(id)", to: &text)
                if plan.slowEvery > 0 && id % plan.slowEvery == plan.slowEvery - 1 {
                    Self.append(record: "s\(slowID)", partner: 8, sub1: "\(slowID)", to: &text)
                    slowID += 1
                    slow += 1
                }
            }
            let name = "offer-\(files.count).jsonl"
            try write(text, name: name)
            files.append(StagedFile(name: name, fast: fast, slow: slow))
            start = fast.upperBound
        }
        try sync()
        return files
    }

    /// Renames the staged files into incoming/ on schedule, noting each rename in `arrivals`.
    func offer(_ files: [StagedFile], plan: Plan, arrivals: Arrivals) throws -> Report {
        var report = Report()
        let start = monotonicNanos() + 1_000_000
        for file in files {
            var due = start
            if plan.rate > 0 {
                due = start + UInt64(Double(file.fast.lowerBound) / plan.rate * 1e9)
                var ts = timespec(tv_sec: Int(due / 1_000_000_000), tv_nsec: Int(due % 1_000_000_000))
                while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
            }
            let now = monotonicNanos()
            try rename(file.name)
            arrivals.renamed(fast: file.fast, slow: file.slow, at: now)
            if report.files == 0 { report.firstRename = now }
            _ = report.lag.record(now > due ? (now - due) / 1000 : 0)
            report.lastRename = now
            report.files += 1
        }
        return report
    }

    /// One file of one warm-up record; renamed by the caller until the daemon is seen firing.
    func stageWarmUp(_ n: Int) throws -> String {
        var text: [UInt8] = []
        Self.append(record: "w\(n)", partner: 7, sub1: "w\(n)", to: &text)
        let name = "warm-\(n).jsonl"
        try write(text, name: name, fsync: true)
        return name
    }

    func rename(_ name: String) throws {
        guard renameat(tmp, name, incoming, name) == 0 else { throw SystemError("rename tmp/\(name) into incoming/", errno) }
    }

    private func write(_ bytes: [UInt8], name: String, fsync: Bool = false) throws {
        let fd = openat(tmp, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("create tmp/\(name)", errno) }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemError("write tmp/\(name)", errno) }
            done += n
        }
        if fsync, Glibc.fsync(fd) != 0 { throw SystemError("fsync tmp/\(name)", errno) }
    }

    /// One sync(2) for the whole staged offer: durable before any rename, as the protocol asks,
    /// without an fsync per file (which would take minutes here and is ingest's cost anyway).
    /// Not syncfs(2): Glibc declares it only under _GNU_SOURCE, which Swift's import lacks.
    private func sync() throws {
        Glibc.sync()
    }

    private static func append(record transaction: String, partner: Int, sub1: String, to text: inout [UInt8]) {
        text.append(contentsOf: #"{"kind":"conversion","transaction_id":""#.utf8)
        text.append(contentsOf: transaction.utf8)
        text.append(contentsOf: #"","partner_id":\#(partner),"offer_id":3,"sub1":""#.utf8)
        text.append(contentsOf: sub1.utf8)
        text.append(contentsOf: "\"}\n".utf8)
    }

    private static func openDirectory(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)", errno) }
        return fd
    }
}

struct SystemError: Error, CustomStringConvertible {
    var description: String
    init(_ what: String, _ code: Int32) { description = "\(what): \(String(cString: strerror(code)))" }
}
