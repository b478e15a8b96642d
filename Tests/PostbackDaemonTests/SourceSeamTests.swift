import Foundation
import Logging
import PostbackCore
import PostbackFiring
import PostbackSpool
import PostbackTestSupport
import Synchronization
import Testing

@testable import PostbackDaemon

/// The source seam: records that do not come from a spool file go through the same planning,
/// firing and recording, and their outcomes come back to where they came from.
@Suite("the source seam: planning, firing and recording fed by another source")
struct SourceSeamTests {
    @Test func recordsFromAnotherSourceFireAndTheirOutcomesComeBack() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let stages = try Stages(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?t={transaction_id}&pb={postback_id}"),
            (2, 7, 3, "specific", "\(sink.base)/status/503?t={transaction_id}&pb={postback_id}"),
        ]))
        let lines = [conversion("a1", partner: 7, offer: 3), conversion("n1", partner: 99, offer: 9), "not json at all"]
        let records = MemoryRecords(name: "stream/1-0", lines: lines)
        await stages.plan(records)

        #expect(records.ended == .finished)
        #expect(records.syncs == 1, "one sync for the finished group")
        let outcomes = records.outcomes
        #expect(outcomes.count == 4)
        #expect(outcomes.contains("succeeded line 1 postback 1 HTTP 204"))
        #expect(outcomes.contains("deferred line 1 postback 2 HTTP 503 record \(lines[0])"))
        #expect(outcomes.contains("no match line 2"))
        #expect(outcomes.contains { $0.hasPrefix("rejected line 3 raw not json at all") })
        #expect(Set(sink.stats.uris) == ["/status/204?t=a1&pb=1", "/status/503?t=a1&pb=2"])
    }

    @Test func whatAnEarlierOwnerRecordedIsNotFiredAgain() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let stages = try Stages(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?t={transaction_id}&pb={postback_id}"),
            (2, 7, 3, "specific", "\(sink.base)/status/204?t={transaction_id}&pb={postback_id}"),
        ]))
        let records = MemoryRecords(name: "stream/2-0", lines: [conversion("b1", partner: 7, offer: 3)],
                                    recordedEarlier: [Fire(line: 1, postbackID: 1)])
        await stages.plan(records)
        #expect(records.outcomes == ["succeeded line 1 postback 2 HTTP 204"])
        #expect(sink.stats.uris == ["/status/204?t=b1&pb=2"])
        #expect(records.ended == .finished)
    }

    @Test func aDueFireFromAnotherSourceGetsItsNextAttempt() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let stages = try Stages(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?t={transaction_id}"),
            (2, 7, 3, "specific", "\(sink.base)/status/503?t={transaction_id}"),
        ]))
        let now = SpoolTime.unixMillis()
        func due(_ postbackID: Int64) -> MemoryDueFire {
            MemoryDueFire(DeferredFire(source: "stream/3-0", line: 1, postbackID: postbackID,
                                       record: Array(conversion("d1", partner: 7, offer: 3).utf8), attempts: 1,
                                       firstAttempt: now - 1000, nextDue: now, lastError: "HTTP 503"))
        }
        let (succeeds, fails) = (due(1), due(2))
        let gone = MemoryDueFire(DeferredFire(source: "stream/3-0", line: 2, postbackID: 9, record: Array("{}".utf8),
                                              attempts: 1, firstAttempt: now, nextDue: now, lastError: ""))
        await stages.plan(succeeds, fails, gone)
        #expect(succeeds.ending == "succeeded HTTP 204")
        #expect(fails.ending?.hasPrefix("rescheduled HTTP 503") == true)
        #expect(gone.ending?.hasPrefix("dead letter: record no longer parses") == true)
        #expect(sink.stats.requests == 2)
    }
}

/// Planner, engine and recorder wired as the daemon wires them, minus the spool.
private struct Stages {
    let planner: Planner
    let recorder: Recorder

    init(catalog json: String) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("seam-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        var settings = Settings()
        settings.allowAddresses = ["127.0.0.0/8"]
        settings.retryBase = .milliseconds(100)
        settings.retryCap = .milliseconds(200)
        let engine = FiringEngine(configuration: settings.firingConfiguration)
        let logger = Logger(label: "seam-test")
        recorder = Recorder(logger: logger, policy: settings.retryPolicy,
                            breakers: HostBreakers(engine: engine, configuration: settings.breakerConfiguration),
                            outstandingLimit: 64) { _, _ in }
        planner = Planner(engine: engine, catalog: try CatalogStore(path: path), recorder: recorder, logger: logger,
                          partnerPostbacks: true)
    }

    /// Plans on a thread of its own (the engine may block its caller), then waits for every
    /// outcome to be recorded and the finished records to be finished.
    func plan(_ records: MemoryRecords) async {
        await planning { $0.plan(records) }
    }

    func plan(_ fires: MemoryDueFire...) async {
        await planning { planner in for fire in fires { planner.plan(fire) } }
    }

    private func planning(_ body: @escaping @Sendable (Planner) -> Void) async {
        let (planner, recorder) = (planner, recorder)
        await onThread {
            body(planner)
            recorder.inFlight.wait()
            recorder.settle()
        }
    }
}

struct Fire: Hashable {
    var line: Int
    var postbackID: Int64
}

/// Records held in memory, as a stream's entries would be: each outcome is written down in
/// words so a test can read what the recorder told the source.
final class MemoryRecords: ClaimedRecords {
    enum Ended: Equatable { case open, finished, released }
    let name: String
    let maxLineBytes = 1 << 20
    let releaseKeepsOutcomes = false
    private let bytes: [UInt8]
    private let ranges: [Range<Int>]
    private let earlier: Set<Fire>
    private let state = Mutex<(outcomes: [String], ended: Ended, syncs: Int)>(([], .open, 0))

    init(name: String, lines: [String], recordedEarlier: Set<Fire> = []) {
        self.name = name
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        for line in lines {
            ranges.append(bytes.count..<(bytes.count + line.utf8.count))
            bytes += Array(line.utf8) + [10]
        }
        self.bytes = bytes
        self.ranges = ranges
        self.earlier = recordedEarlier
    }

    var outcomes: [String] { state.withLock { $0.outcomes } }
    var ended: Ended { state.withLock { $0.ended } }
    var syncs: Int { state.withLock { $0.syncs } }
    private func note(_ text: String) { state.withLock { $0.outcomes.append(text) } }
    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func forEachLine(_ body: (SpoolLine) -> Bool) throws {
        bytes.withUnsafeBufferPointer { all in
            for (index, range) in ranges.enumerated() {
                let line = SpoolLine(number: index + 1, range: range, bytes: UnsafeBufferPointer(rebasing: all[range]),
                                     length: range.count, tooLong: false)
                if !body(line) { return }
            }
        }
    }

    func bytes(_ range: Range<Int>) throws -> [UInt8] { Array(bytes[range]) }
    func hasOutcome(line: Int, postbackID: Int64) -> Bool { earlier.contains(Fire(line: line, postbackID: postbackID)) }

    func succeeded(line: Int, postbackID: Int64, attempt: FireAttempt) throws {
        note("succeeded line \(line) postback \(postbackID) HTTP \(attempt.httpStatus)")
    }

    func deferred(line: Int, postbackID: Int64, record: [UInt8], attempt: FireAttempt?, nextDue: Int64, error: String) throws {
        note("deferred line \(line) postback \(postbackID) HTTP \(attempt?.httpStatus ?? 0) record \(Self.text(record))")
    }

    func failed(line: Int, postbackID: Int64, record: [UInt8], attempt: FireAttempt?, error: String) throws {
        note("failed line \(line) postback \(postbackID): \(error)")
    }

    func noMatch(line: Int) throws { note("no match line \(line)") }
    func rejected(line: Int, reason: String, raw: [UInt8]) throws { note("rejected line \(line) raw \(Self.text(raw)): \(reason)") }
    func flushIfDue() throws {}

    func finishInGroup() throws -> Bool {
        state.withLock { $0.ended = .finished }
        return true
    }

    func syncFinishedGroup() throws { state.withLock { $0.syncs += 1 } }
    func release() throws { state.withLock { $0.ended = .released } }
}

/// A retry held in memory, as one from a sorted set would be.
final class MemoryDueFire: DueFire {
    let fire: DeferredFire
    var name: String { "\(fire.source)#\(fire.line)/\(fire.postbackID)" }
    private let end = Mutex<String?>(nil)

    init(_ fire: DeferredFire) { self.fire = fire }

    var ending: String? { end.withLock { $0 } }
    private func ends(_ text: String) { end.withLock { $0 = $0 ?? text } }

    func succeeded(attempt: FireAttempt) throws { ends("succeeded HTTP \(attempt.httpStatus)") }
    func reschedule(nextDue: Int64, attempt: FireAttempt?, error: String) throws {
        ends("rescheduled HTTP \(attempt?.httpStatus ?? 0): \(error)")
    }
    func deadLetter(attempt: FireAttempt?, error: String) throws { ends("dead letter: \(error)") }
}
