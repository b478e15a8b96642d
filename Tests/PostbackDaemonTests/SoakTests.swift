import Foundation
import PostbackTestSupport
import Testing

/// DESIGN's promises under sustained faults: every fire ends exactly once, in a 2xx or a dead
/// letter with its reason, and the books balance across restarts of `postbackd run --once`.
///
/// Two postbacks per record, each on its own `/chaos/SEED` sink (two hosts, so per-host caps and
/// breakers are separate), which answers every attempt with a fault drawn from the seed, the URL
/// and the attempt's arrival number: 2xx, a redirect to a 2xx, a dripped 2xx, 503 with and
/// without `Retry-After: 0`, 429, 404, a hang past the timeout, a reset mid-header
/// (`ChaosOutcome` has the weights). Short retry settings let the whole retry budget play out in
/// a few seconds: the test repeats `--once` runs, each after the last deferred fire is due,
/// until `deferred/` is empty.
///
/// The exactly-once check has one honest exception, which HTTP cannot avoid: a 2xx that reaches
/// the daemon after its total timeout fired is a success for the partner and a timeout for the
/// daemon, which retries it. Each such duplicate must match a timeout the daemon logged for that
/// fire; on an idle machine there are none, under CPU contention a few hundred per 100k fires.
///
/// Knobs: `POSTBACKD_SOAK_RECORDS` (default `defaultRecords`: 20k records, 40k fires, ~22 s
/// on an idle 2-core machine in a debug build; the issue's full 50k (100k fires) takes ~57 s
/// idle but 217 s was measured beside another engineer's build, and in CI it shares the cores
/// with the suites running in parallel, so the full size is the long mode:
/// `POSTBACKD_SOAK_RECORDS=50000 swift test --filter SoakTests`), `POSTBACKD_SOAK_SEED`
/// (the fault sequence; fire outcomes repeat exactly for one seed when no timeout is crossed).
@Suite("Soak: repeated --once runs against a fault-injecting sink", .serialized)
struct SoakTests {
    static let defaultRecords = 20_000
    /// Retries can need at most `max_attempts - 1` more runs; breaker hold-backs (which spend no
    /// attempt) can add a few. Past this the daemon is not converging.
    static let maxRuns = 25

    @Test func everyFireEndsOnceInASuccessOrADeadLetterAndTheBooksBalance() async throws {
        let environment = ProcessInfo.processInfo.environment
        let records = Int(environment["POSTBACKD_SOAK_RECORDS"] ?? "") ?? Self.defaultRecords
        let seed = UInt64(environment["POSTBACKD_SOAK_SEED"] ?? "") ?? 20_260_101
        let sinks = [try await TestServer(), try await TestServer()]
        defer { Task { for sink in sinks { await sink.stop() } } }
        let query = "t={transaction_id}&pb={postback_id}&click={sub1}"
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sinks[0].base)/chaos/\(seed)?\(query)"),
            (2, 7, 3, "specific", "\(sinks[1].base)/chaos/\(seed &+ 1)?\(query)"),
        ]), settings: [
            "retry_base": "50ms", "retry_cap": "200ms", "max_attempts": "4",
            "total_timeout": "300ms", "connect_timeout": "300ms",
            // Hangs hold a slot for the whole 300 ms timeout: a wider pool keeps them from
            // setting the pace. A short cool-down: should chance open a breaker, its hold-backs
            // are due again by the next run instead of in a minute.
            "max_concurrent": "128", "per_host": "64", "breaker_cooldown": "100ms",
            // Fire outcomes stay out of the shared journal. Notice level keeps the deferrals and
            // dead letters (with their reasons, timeouts among them) and the breaker's notices.
            "log_target": "stderr", "log_level": "notice",
        ])
        let postbacks = 2
        let perFile = 1000
        for start in stride(from: 0, to: records, by: perFile) {
            let lines = (start..<min(records, start + perFile)).map { conversion("s\($0)", partner: 7, offer: 3, sub1: "k\($0)") }
            try fixture.drop("soak-\(start / perFile).jsonl", lines.joined(separator: "\n") + "\n")
        }

        let began = ContinuousClock.now
        var summaries: [[String: Double]] = []
        var breakerNotices = 0
        var allStderr = ""
        repeat {
            if !summaries.isEmpty { try await Task.sleep(for: untilLastDeferredIsDue(fixture)) }
            let (summary, result) = try fixture.runOnce()
            try #require(result.status == 0, "run \(summaries.count + 1) stderr: \(result.stderr.suffix(2000))")
            allStderr += result.stderr
            breakerNotices += result.stderr.components(separatedBy: "circuit breaker for ").count - 1
            // Each run's own books: every fire it took on ended one of three ways.
            #expect(summary["fires"] == (summary["succeeded"] ?? 0) + (summary["deferred"] ?? 0) + (summary["failed"] ?? 0),
                    "run \(summaries.count + 1): \(summary)")
            summaries.append(summary)
        } while !fixture.files(in: "deferred").isEmpty && summaries.count < Self.maxRuns
        let elapsed = ContinuousClock.now - began

        // Daemon side: the first run took every record; later runs only retried.
        let fires = records * postbacks
        #expect(summaries[0]["records"] == Double(records) && summaries[0]["fires"] == Double(fires))
        #expect(summaries.dropFirst().allSatisfy { $0["records"] == 0 })
        #expect(fixture.files(in: "deferred").isEmpty, "still deferred after \(summaries.count) runs")
        #expect(fixture.files(in: "incoming").isEmpty && fixture.files(in: "active").isEmpty)
        let succeeded = Int(summaries.reduce(0) { $0 + ($1["succeeded"] ?? 0) })
        let failed = Int(summaries.reduce(0) { $0 + ($1["failed"] ?? 0) })
        #expect(succeeded + failed == fires, "succeeded \(succeeded) + failed \(failed) != \(fires) fires")

        // Dead letters: one per failed fire, each with its reason; a transient reason only
        // once the whole budget of 4 attempts was spent.
        var dead = Set<FireKey>()
        var reasons: [String: Int] = [:]
        for name in fixture.files(in: "failed") {
            let letter = try #require(
                try JSONSerialization.jsonObject(with: Data(fixture.read("failed", name).utf8)) as? [String: Any])
            let record = try #require(
                try JSONSerialization.jsonObject(with: Data(((letter["record"] as? String) ?? "").utf8)) as? [String: Any])
            let key = FireKey(transaction: record["transaction_id"] as? String ?? "", postback: (letter["postback_id"] as? NSNumber)?.intValue ?? 0)
            let reason = letter["last_error"] as? String ?? ""
            let attempts = (letter["attempts"] as? NSNumber)?.intValue ?? 0
            #expect(!reason.isEmpty, "dead letter \(name) has no reason")
            #expect(reason == "HTTP 404" || attempts == 4, "dead letter \(name): \(reason) after \(attempts) attempts")
            #expect(dead.insert(key).inserted, "two dead letters for \(key)")
            reasons[Self.kind(of: reason), default: 0] += 1
        }
        #expect(dead.count == failed, "\(dead.count) dead letters for \(failed) failed fires")

        // Sink side: what the partners counted as received. Together with the dead letters,
        // every fire of the first run. A fire arrives twice, or arrives and is dead-lettered,
        // only when the partner's 2xx crossed the daemon's total timeout: the partner sent it,
        // the daemon gave up first and tried again. HTTP cannot tell those apart, so each such
        // extra arrival must be matched by a timeout the daemon logged for that fire; anything
        // else (a success sent twice, a retry after a 2xx it read) fails the test.
        var received: [FireKey: Int] = [:]
        for uri in sinks.flatMap(\.stats.succeededURIs) {
            guard let key = FireKey(uri: uri) else { Issue.record("unexpected 2xx for \(uri)"); continue }
            received[key, default: 0] += 1
        }
        let timeouts = Self.timeoutsLogged(allStderr)
        var retried: [String: Int] = [:]
        for line in allStderr.split(separator: "\n") where line.contains("OUTCOME=deferred") {
            guard let range = line.range(of: "REASON=\"") else { continue }
            retried[Self.kind(of: String(line[range.upperBound...].prefix { $0 != "\"" })), default: 0] += 1
        }
        var unexplained: [String] = []
        var lateAnswers = 0
        for (key, count) in received {
            let extra = dead.contains(key) ? count : count - 1
            guard extra > 0 else { continue }
            if extra > timeouts[key, default: 0] {
                unexplained.append("\(key): received \(count)×, \(dead.contains(key) ? "dead-lettered" : "succeeded"), \(timeouts[key, default: 0]) timeouts")
            }
            lateAnswers += extra
        }
        #expect(unexplained.isEmpty, "duplicates not explained by a timeout: \(unexplained.prefix(10))")
        let arrived = Set(received.keys)
        let succeededAtSink = arrived.subtracting(dead).count
        #expect(succeededAtSink == succeeded, "\(succeededAtSink) fires received and not dead-lettered, \(succeeded) succeeded")
        let accounted = arrived.union(dead).count
        #expect(accounted == fires, "\(accounted) fires received or dead-lettered of \(fires)")

        var dealt: [ChaosOutcome: Int] = [:]
        for sink in sinks { dealt.merge(sink.stats.chaosOutcomes, uniquingKeysWith: +) }
        if records >= 1000 {
            #expect(ChaosOutcome.allCases.allSatisfy { dealt[$0, default: 0] > 0 }, "faults dealt: \(dealt)")
        }
        let attempts = dealt.values.reduce(0, +)
        print("""
            soak: \(records) records, \(fires) fires, \(attempts) attempts in \(summaries.count) runs, \
            \(String(format: "%.1f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)) s; \
            succeeded \(succeeded), dead-lettered \(failed), \
            2xx answers that crossed the timeout and were sent again \(lateAnswers), breaker notices \(breakerNotices)
            soak: faults dealt \(dealt.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", "))
            soak: deferral reasons \(retried.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            soak: dead-letter reasons \(reasons.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            soak: runs \(summaries.map { "\(Int($0["fires"] ?? 0))/\(Int($0["succeeded"] ?? 0))/\(Int($0["deferred"] ?? 0))/\(Int($0["failed"] ?? 0)) in \($0["seconds"] ?? 0) s" }.joined(separator: ", ")) (fires/succeeded/deferred/failed)
            """)
    }

    /// How long until the latest fire in `deferred/` is due (names start with the due time in
    /// Unix ms), plus a little, so the next `--once` run takes every one of them.
    private func untilLastDeferredIsDue(_ fixture: SpoolFixture) -> Duration {
        let latest = fixture.files(in: "deferred").compactMap { Int64($0.prefix { $0 != "-" }) }.max() ?? 0
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return .milliseconds(min(2000, max(0, latest - now)) + 20)
    }

    /// Per fire, how many of its attempts the daemon logged as ended by its own timeout
    /// (curl's "Operation timed out"), from `OUTCOME=deferred|failed ... REASON="timeout: ..."`.
    static func timeoutsLogged(_ log: String) -> [FireKey: Int] {
        func field(_ name: String, in line: Substring) -> Substring? {
            guard let range = line.range(of: " \(name)=") else { return nil }
            return line[range.upperBound...].prefix { $0 != " " }
        }
        var counts: [FireKey: Int] = [:]
        for line in log.split(separator: "\n") where line.contains("REASON=\"timeout") {
            guard let t = field("TRANSACTION_ID", in: line), let pb = field("POSTBACK_ID", in: line).flatMap({ Int($0) }) else { continue }
            counts[FireKey(transaction: String(t), postback: pb), default: 0] += 1
        }
        return counts
    }

    /// A dead letter's reason without its details ("timeout: Operation timed out after..." is
    /// "timeout"), to tally them.
    static func kind(of reason: String) -> String {
        reason.hasPrefix("HTTP ") ? String(reason.prefix(8)) : String(reason.prefix { $0 != ":" })
    }
}

/// One fire: a record's transaction and one postback.
struct FireKey: Hashable, CustomStringConvertible {
    var transaction: String
    var postback: Int

    init(transaction: String, postback: Int) {
        self.transaction = transaction
        self.postback = postback
    }

    /// From a request target's `t=` and `pb=` (the soak's transaction ids need no decoding).
    init?(uri: String) {
        guard let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        var fields: [Substring: Substring] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[kv[0]] = kv[1] }
        }
        guard let t = fields["t"], let pb = fields["pb"].flatMap({ Int($0) }) else { return nil }
        self.init(transaction: String(t), postback: pb)
    }

    var description: String { "\(transaction)/\(postback)" }
}
