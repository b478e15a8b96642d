import Foundation
import Logging
import PostbackCore
import PostbackFiring
import PostbackSpool
import Synchronization

/// The planning stage: turns claimed records and due retries, from whichever source, into
/// fires. Parses each record, resolves its postbacks (`PostbackIndex`), expands their
/// requests, asks the host's breaker, and hands each fire to the engine, which holds the
/// caller while the pool is full, so waiting work stays where its source keeps it. Outcomes
/// go to the `Recorder`, which writes them back to the records they came from.
///
/// Runs on the caller's thread (the source's loop); knows nothing of files or streams.
final class Planner: Sendable {
    let engine: FiringEngine
    let catalog: CatalogStore
    let recorder: Recorder
    let logger: Logger
    /// `partner_postbacks`; replaced by a reload.
    private let partnerPostbacks: Atomic<Bool>
    private let stopping = Atomic<Bool>(false)

    init(engine: FiringEngine, catalog: CatalogStore, recorder: Recorder, logger: Logger, partnerPostbacks: Bool) {
        self.engine = engine
        self.catalog = catalog
        self.recorder = recorder
        self.logger = logger
        self.partnerPostbacks = Atomic(partnerPostbacks)
    }

    func update(partnerPostbacks: Bool) {
        self.partnerPostbacks.store(partnerPostbacks, ordering: .releasing)
    }

    /// A drain: the fire being handed over is the last; what is left of its records stays
    /// with the source for the next start.
    func stop() {
        stopping.store(true, ordering: .releasing)
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    // MARK: claimed records

    /// Plans and sends every fire of `records` that has no outcome yet; the recorder finishes
    /// them (or releases them, after a drain or a read error) once the last outcome is in.
    func plan(_ records: any ClaimedRecords) {
        let work = FileWork(records)
        recorder.opened(work)
        let index = catalog.index
        let partnerPostbacks = partnerPostbacks.load(ordering: .acquiring)
        let arrivalMillis = SpoolTime.unixMillis()
        let arrival = arrivalMillis / 1000  // `{timestamp}`: Unix seconds
        var url: [UInt8] = []
        url.reserveCapacity(512)
        var random = SplitMix64.cacheBuster()
        // A drain stops part-way only where the next owner resumes from the outcomes.
        let stopsPartWay = records.releaseKeepsOutcomes
        do {
            // A chunk at a time: a line's bytes are valid during the call, and `range` is where
            // they are in the records, for the recorder to read again (a deferred fire's record).
            try records.forEachLine { line in
                if stopsPartWay && isStopping { return false }
                let range = line.range
                let record: Record
                switch line.tooLong
                    ? .failure(.init(message: "longer than max_line_size (\(records.maxLineBytes) bytes)"))
                    : RecordParser.parse(line: line.bytes) {
                case .failure(let rejection):
                    if !records.hasOutcome(line: line.number, postbackID: 0) {
                        recorder.recordOnly(work, line: line.number, rejection: rejection.message, raw: range)
                    }
                    return true
                case .success(let r):
                    record = r
                }
                var fired = false
                for postback in index.resolve(record).fires {
                    let subject = FireLog.Subject(
                        postbackID: postback.id, partnerID: record.partnerID, offerID: record.offerID,
                        transactionID: record.transactionID, source: records.name, line: line.number)
                    if postback.author == .partner && !partnerPostbacks {
                        recorder.skipped(subject)
                        continue
                    }
                    fired = true
                    if records.hasOutcome(line: line.number, postbackID: postback.id) { continue }
                    if stopsPartWay && isStopping { return false }
                    let host = postback.template.hostKey
                    work.add()
                    recorder.inFlight.enter()
                    if postback.delayMillis > 0 {
                        // delay_ms: the first attempt waits with the retries, not in memory.
                        recorder.heldBack(work: work, subject: subject, raw: range, dueMillis: arrivalMillis + postback.delayMillis,
                                          reason: "delay_ms: first attempt \(postback.delayMillis) ms after arrival")
                        continue
                    }
                    let context = URLTemplate.Context(
                        postbackID: postback.id, arrivalTime: arrival, random: random.next(),
                        fireID: postback.usesFireID ? FireIdentity.make(source: records.name, line: line.number, postbackID: postback.id,
                                                                        transactionID: record.transactionID) : "")
                    guard let request = build(postback, record, context, url: &url, unsendable: { result in
                        self.recorder.completed(result, work: work, subject: subject, raw: range, sentAt: SpoolTime.unixMicros(),
                                                host: host, probe: false)
                    }) else { continue }
                    guard let probe = admit(host, holdBack: { due, why in
                        self.recorder.heldBack(work: work, subject: subject, raw: range, dueMillis: due, reason: why)
                    }) else { continue }
                    let sentAt = SpoolTime.unixMicros()
                    let recorder = self.recorder
                    let sent = submit(request, probe: probe) { result in
                        recorder.completed(result, work: work, subject: subject, raw: range, sentAt: sentAt,
                                           host: host, probe: probe)
                    }
                    if !sent {
                        recorder.heldBack(work: work, subject: subject, raw: range,
                                          dueMillis: SpoolTime.unixMillis() + Self.slowHostDelay(age: 0),
                                          reason: Self.slowHostReason(host))
                    }
                }
                if !fired && !records.hasOutcome(line: line.number, postbackID: 0) {
                    recorder.recordOnly(work, line: line.number, rejection: nil, raw: range)
                }
                return true
            }
        } catch {
            // The records cannot be read on (an I/O error): what has outcomes keeps them, and
            // they are released, not finished, so a later run fires the rest.
            logger.error("\(records.name): \(error); released, to be resumed from its outcomes")
            work.broken.store(true, ordering: .relaxed)
        }
        if stopsPartWay && isStopping {
            // Drain: the fires already out finish; the rest waits for a restart.
            work.interrupted.store(true, ordering: .relaxed)
        }
        if work.done() { recorder.finish(work) }
    }

    /// Asks the host's circuit breaker: nil when the fire was held back (and handed to
    /// `holdBack` with its due time), else whether it goes out as the breaker's probe.
    private func admit(_ host: String, holdBack: (_ dueMillis: Int64, _ reason: String) -> Void) -> Bool? {
        switch recorder.breakers.admit(host) {
        case .allow:
            return false
        case .probe:
            logger.notice("circuit breaker for \(host): sending one probe")
            return true
        case .reject(let until):
            let wait = max(Duration.milliseconds(1), until - .now)
            holdBack(SpoolTime.unixMillis() + wait.milliseconds, "circuit breaker open for \(host)")
            return nil
        }
    }

    // MARK: due retries

    /// Sends the next attempt of a due fire, or dead-letters it when its record no longer
    /// parses or its postback is gone or paused.
    func plan(_ due: any DueFire) {
        let deferred = due.fire
        var subject = FireLog.Subject(
            postbackID: deferred.postbackID, partnerID: 0, offerID: 0, transactionID: "",
            source: deferred.source, line: deferred.line)
        let record: Record
        switch deferred.record.withUnsafeBufferPointer({ RecordParser.parse(line: $0) }) {
        case .success(let r): record = r
        case .failure(let f):
            recorder.deadLetter(due, subject: subject, reason: "record no longer parses: \(f.message)")
            return
        }
        subject.partnerID = record.partnerID
        subject.offerID = record.offerID
        subject.transactionID = record.transactionID
        guard let postback = catalog.index.catalog[id: deferred.postbackID] else {
            recorder.deadLetter(due, subject: subject, reason: "postback \(deferred.postbackID) is no longer in the catalog")
            return
        }
        guard postback.status == .active, !catalog.index.paused.contains(postback.id) else {
            recorder.deadLetter(due, subject: subject, reason: "postback \(deferred.postbackID) is paused")
            return
        }
        let host = postback.template.hostKey
        let known = subject
        recorder.inFlight.enter()
        var random = SplitMix64.cacheBuster()
        let context = URLTemplate.Context(
            postbackID: postback.id, arrivalTime: deferred.firstAttempt / 1000, random: random.next(),
            fireID: postback.usesFireID ? FireIdentity.make(source: deferred.source, line: deferred.line, postbackID: postback.id,
                                                            transactionID: record.transactionID) : "")
        var url: [UInt8] = []
        let recorder = self.recorder
        guard let request = build(postback, record, context, url: &url, unsendable: { result in
            recorder.completed(result, due: due, subject: known, sentAt: SpoolTime.unixMicros(), host: host, probe: false)
        }) else { return }
        guard let probe = admit(host, holdBack: { when, why in
            self.recorder.heldBack(due: due, subject: known, dueMillis: when, reason: why)
        }) else { return }
        let sentAt = SpoolTime.unixMicros()
        let sent = submit(request, probe: probe) { result in
            recorder.completed(result, due: due, subject: known, sentAt: sentAt, host: host, probe: probe)
        }
        if !sent {
            let now = SpoolTime.unixMillis()
            recorder.heldBack(due: due, subject: known,
                              dueMillis: now + Self.slowHostDelay(age: now - deferred.firstAttempt),
                              reason: Self.slowHostReason(host))
        }
    }

    /// The attempt's request, or nil after handing `unsendable` the permanent failure of a
    /// fire that must not be sent (a header value with CR, LF or NUL once expanded).
    private func build(_ postback: Postback, _ record: Record, _ context: URLTemplate.Context, url: inout [UInt8],
                       unsendable: (FireResult) -> Void) -> FireRequest? {
        let now = postback.signingSecret == nil ? 0 : SpoolTime.unixMillis() / 1000
        switch FireRequest.build(postback, record: record, context: context, now: now, url: &url) {
        case .success(let request): return request
        case .failure(let why):
            unsendable(.unsendable(String(decoding: url, as: UTF8.self), reason: why.description))
            return nil
        }
    }

    // MARK: slow hosts

    /// Hands a fire to the engine, waiting for a free slot unless the fire's host is slow:
    /// false then. A slow partner costs its own fires a delay (they wait with the retries),
    /// not everyone's: the loop goes on with other hosts. A fast host is waited for, which is
    /// the backpressure that keeps work with its source. A breaker's probe always waits its
    /// turn, since the breaker waits for it.
    private func submit(_ request: FireRequest, probe: Bool, completion: @escaping @Sendable (FireResult) -> Void) -> Bool {
        if probe {
            engine.submit(request, completion: completion)
        } else if !engine.submitUnlessHostSlow(request, completion: completion) {
            return false
        }
        recorder.stats.submitted.add(1, ordering: .relaxed)
        return true
    }

    /// How long a fire set aside for a slow host waits: 1 s at first, then half as long as it
    /// has waited so far (at most 5 min), so a host that stays slow costs each waiting fire a
    /// few rewrites in all, not one a second.
    static func slowHostDelay(age: Int64) -> Int64 {
        max(1000, min(300_000, age / 2))
    }

    static func slowHostReason(_ host: String) -> String {
        "host \(host) is slow: all its connections are busy; deferred unsent"
    }
}

extension SplitMix64 {
    /// For `{random}`, one per claimed batch or retry: a cache buster, not a secret. Each
    /// batch starts its own stream from one process-wide seed (from the system generator,
    /// once) and a counter, so a one-record file costs no `getrandom` call.
    static func cacheBuster() -> SplitMix64 {
        let stream = batches.add(1, ordering: .relaxed).oldValue
        var mixer = SplitMix64(seed: processSeed &+ stream &* 0xD1B5_4A32_D192_ED03)
        return SplitMix64(seed: mixer.next())
    }

    private static let processSeed: UInt64 = {
        var system = SystemRandomNumberGenerator()
        return system.next()
    }()
    private static let batches = Atomic<UInt64>(0)
}
