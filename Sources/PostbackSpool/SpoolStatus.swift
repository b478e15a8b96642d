import Glibc

/// How full each queue is and how long its oldest item has waited: what an operator looks at
/// first (`postbackctl spool`), and what an alert on "incoming is backing up" reads.
public struct SpoolStatus: Sendable, Equatable, Codable {
    public struct Queue: Sendable, Equatable, Codable {
        public var count = 0
        /// Seconds since the oldest item's modification time (for `deferred/`, since it was
        /// deferred); 0 when empty.
        public var oldestAgeSeconds: Double = 0

        enum CodingKeys: String, CodingKey { case count, oldestAgeSeconds = "oldest_age_seconds" }
    }

    public var incoming = Queue()
    /// Spool files being processed (ledgers not counted).
    public var active = Queue()
    /// Taken deferred fires being retried right now.
    public var activeFires = Queue()
    public var deferred = Queue()
    /// Deferred fires whose due time has passed.
    public var deferredDue = 0
    public var failed = Queue()
    /// Quarantined files (reason and rejected-line files not counted).
    public var bad = Queue()
    public var done = Queue()

    enum CodingKeys: String, CodingKey {
        case incoming, active, activeFires = "active_fires", deferred, deferredDue = "deferred_due", failed, bad, done
    }
}

extension Spool {
    /// A snapshot of every queue at `now` (Unix ms). Costs one lstat per file; meant for the
    /// CLI and for a status line every few seconds, not for the firing loop.
    public func status(now: Int64 = SpoolTime.unixMillis()) throws(SpoolError) -> SpoolStatus {
        var status = SpoolStatus()
        func scan(_ dir: System.Dir, into queue: inout SpoolStatus.Queue, where include: (String) -> Bool) throws(SpoolError) {
            var oldest = Int64.max
            for name in try System.list(dir) where !name.hasPrefix(".") && include(name) {
                guard let st = try System.statAtIfPresent(dir, name) else { continue }
                queue.count += 1
                oldest = min(oldest, Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000)
            }
            if queue.count > 0 { queue.oldestAgeSeconds = max(0, Double(now - oldest) / 1000) }
        }
        try scan(incoming, into: &status.incoming) { _ in true }
        try scan(active, into: &status.active) { !UniqueName.isReserved($0) }
        try scan(active, into: &status.activeFires) { $0.hasSuffix(DeferredFire.fileSuffix) }
        try scan(deferred, into: &status.deferred) { $0.hasSuffix(DeferredFire.fileSuffix) }
        try scan(failed, into: &status.failed) { $0.hasSuffix(DeferredFire.deadLetterSuffix) }
        try scan(bad, into: &status.bad) { !$0.hasSuffix(".reason") && !$0.hasSuffix(".rejected") }
        try scan(done, into: &status.done) { !$0.hasSuffix(ActiveFile.ledgerSuffix) }
        status.deferredDue = try due(now: now).count
        return status
    }

    /// Removes files in `done/` older than the configured retention, and `tmp/` leftovers of
    /// crashed writers older than 36 hours (Maildir's rule: no honest writer takes that long).
    /// Returns how many files went. Call it now and then (hourly is plenty).
    @discardableResult
    public func prune(now: Int64 = SpoolTime.unixMillis()) throws(SpoolError) -> Int {
        var removed = 0
        func sweep(_ dir: System.Dir, olderThanMillis age: Int64) throws(SpoolError) {
            for name in try System.list(dir) {
                guard let st = try System.statAtIfPresent(dir, name), st.st_mode & S_IFMT != S_IFDIR else { continue }
                let mtime = Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000
                if now - mtime > age, try System.unlink(dir, name) { removed += 1 }
            }
        }
        if let retention = configuration.doneRetention {
            try sweep(done, olderThanMillis: retention.components.seconds * 1000 + retention.components.attoseconds / 1_000_000_000_000_000)
        }
        try sweep(tmp, olderThanMillis: 36 * 3600 * 1000)
        return removed
    }
}
