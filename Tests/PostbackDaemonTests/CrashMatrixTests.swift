import Foundation
import Glibc
import PostbackCore
import PostbackTestSupport
import Testing

/// Issue #6, item 2: kill -9 at steps the test chooses, not wherever a random moment lands.
///
/// A debug build of postbackd has named crash points (`CrashPoint` in PostbackSpool):
/// `POSTBACKD_CRASH_AT=<point>:<n>` makes the daemon SIGKILL itself the n-th time it passes
/// that step. Each round starts `postbackd run` (service mode) on a fresh spool, triggers the
/// point (SIGHUP for `reload`, SIGTERM for `drain`), checks the daemon died of SIGKILL at that
/// point and pass (any other death, or none within the bound, fails the round), reads what was
/// durable on disk at the kill, then restarts with `--once` until the spool is empty and checks:
///
/// - 0 lost: every 2xx fire reached its sink, every always-503 fire ended in a dead letter
///   after its whole retry budget;
/// - a restart never re-sends a fire whose final outcome was durable at the kill (a
///   `succeeded` ledger entry, its file already finished, a dead letter), and a fire arrives
///   twice (or is dead-lettered twice) only if the killed run had sent it and its outcome was
///   not yet durable: in flight, or waiting in a group commit;
/// - every `--once` run balances, against its own summary and against what the sinks counted;
/// - nothing is left in `incoming/`, `active/` or `deferred/`.
///
/// The spool of a round: 5 files × 30 lines. Per file, 23 records fire postback 1 (a 204 at
/// once) and 2 (a 200 after 80 ms, so fires are in flight at a kill); 5 fire postback 3 on
/// another host, which always answers 503 (deferred, taken back from `deferred/`, rescheduled,
/// dead-lettered after 3 attempts: the take and rename paths); one record matches nothing and
/// one line is rejected.
///
/// Which pass is killed is drawn per round from a seed, printed by every round:
/// `POSTBACKD_CRASH_MATRIX_SEED` replays one. CI runs one round per point (`rounds`, 10-15 s
/// in all on an idle 2-core machine); the nightly mode is `POSTBACKD_CRASH_MATRIX_ROUNDS=4` (20 rounds), or
/// `scripts/crash-matrix.sh`.
@Suite("Crash matrix: kill -9 at chosen points loses no fire", .serialized)
struct CrashMatrixTests {
    static let environment = ProcessInfo.processInfo.environment
    static let rounds = Int(environment["POSTBACKD_CRASH_MATRIX_ROUNDS"] ?? "") ?? 1
    static let seed = UInt64(environment["POSTBACKD_CRASH_MATRIX_SEED"] ?? "") ?? UInt64.random(in: 1...(1 << 48))

    /// The daemon's crash points, with the passes a round may kill at: each range stays well
    /// inside how often one round passes the point, so the armed pass is always reached.
    enum Point: String, CaseIterable, CustomTestStringConvertible {
        /// 5 file claims, then about 50 takes from `deferred/`.
        case claim
        /// One pass per outcome appended to a ledger: about 265.
        case midBatch = "mid-batch"
        /// 5 finishes, the flushes that move deferrals into place, 25 reschedules, 25 dead letters.
        case fsyncRename = "fsync-rename"
        /// One pass per SIGHUP; the test sends them one at a time.
        case reload
        /// Pass 1: fires in flight; pass 2: they are in, files not yet released.
        case drain

        var passes: ClosedRange<Int> {
            switch self {
            case .claim: 1...10
            case .midBatch: 1...200
            case .fsyncRename: 1...30
            case .reload: 1...3
            case .drain: 1...2
            }
        }

        var testDescription: String { rawValue }
    }

    static let files = 5
    static let linesPerFile = 30
    static let maxConcurrent = 16
    static let maxAttempts = 3
    /// Every wait of a round is bounded: the crashing run, and the restarts until the spool is empty.
    static let crashRunSeconds = 20.0
    static let maxRestarts = 12

    @Test(arguments: Point.allCases)
    func killedAtAPointLosesNoFire(_ point: Point) async throws {
        var random = SplitMix64(seed: Self.seed ^ fnv1a(point.rawValue))
        var totals = Totals()
        for round in 1...Self.rounds {
            let pass = Int.random(in: point.passes, using: &random)
            let trigger = Int.random(in: 5...80, using: &random)
            let label = "\(point.rawValue) round \(round)/\(Self.rounds) (seed \(Self.seed), pass \(pass))"
            try await runRound(point, pass: pass, trigger: trigger, label: label, totals: &totals)
        }
        print("crash matrix: \(point.rawValue): \(totals.rounds) rounds, \(totals.kills) kills at the point, "
              + "\(totals.fires) fires, lost \(totals.lost), duplicates \(totals.duplicates) "
              + "(2xx twice \(totals.duplicate2xx), dead letters twice \(totals.duplicateDeadLetters)), "
              + "durable fires sent again \(totals.durableResent), seed \(Self.seed)")
    }

    struct Totals {
        var rounds = 0, kills = 0, fires = 0, lost = 0, duplicates = 0
        var duplicate2xx = 0, duplicateDeadLetters = 0, durableResent = 0
    }

    /// One spool file as written: for each line, the transaction and the postbacks it fires.
    struct Layout {
        var files: [(name: String, lines: [Int: (transaction: String, postbacks: [Int])])] = []

        var succeeding: Set<FireKey> { keys { $0 != 3 } }
        var deadLettered: Set<FireKey> { keys { $0 == 3 } }

        private func keys(_ include: (Int) -> Bool) -> Set<FireKey> {
            var keys = Set<FireKey>()
            for file in files {
                for (_, line) in file.lines {
                    for pb in line.postbacks where include(pb) { keys.insert(FireKey(transaction: line.transaction, postback: pb)) }
                }
            }
            return keys
        }
    }

    private func runRound(_ point: Point, pass: Int, trigger: Int, label: String, totals: inout Totals) async throws {
        let sink = try await TestServer()
        let flaky = try await TestServer()
        defer { Task { await sink.stop(); await flaky.stop() } }
        let query = "t={transaction_id}&pb={postback_id}"
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?\(query)"),
            (2, 7, 3, "specific", "\(sink.base)/delay/80?\(query)"),
            (3, 7, 4, "specific", "\(flaky.base)/status/503?\(query)"),
        ]), settings: [
            "max_concurrent": "\(Self.maxConcurrent)", "per_host": "\(Self.maxConcurrent)",
            "max_attempts": "\(Self.maxAttempts)",
            // The 503 host trips its breaker (over half of 50+ outcomes failed) when a crashing
            // run lasts: a short cool-down keeps its hold-backs due within the restarts' bound,
            // and a restart's books count the fires it held back.
            "breaker_cooldown": "50ms",
            // Out of the shared journal; notice keeps the reload and drain lines the test reads.
            "log_target": "stderr", "log_level": "notice",
        ])
        let layout = try Self.writeSpool(fixture)
        let expectedFires = layout.succeeding.count + layout.deadLettered.count

        // 1. The crashing run.
        let daemon = try ProcessRunner.start(
            "postbackd", ["run", "--config", fixture.configPath],
            environment: ["POSTBACKD_CRASH_AT": "\(point.rawValue):\(pass)"])
        defer { daemon.kill() }
        let requests = { sink.stats.requests + flaky.stats.requests }
        switch point {
        case .claim, .midBatch, .fsyncRename:
            break
        case .reload:
            // One SIGHUP at a time, each after the previous reload is done: signals sent
            // together may be delivered as one.
            _ = eventually(10, every: 0.005) { requests() >= trigger }
            for sent in 1...pass {
                daemon.signal(SIGHUP)
                if sent < pass {
                    _ = eventually(10, every: 0.005) { daemon.stderr.components(separatedBy: "catalog reloaded from").count - 1 >= sent }
                }
            }
        case .drain:
            _ = eventually(10, every: 0.005) { requests() >= trigger }
            daemon.signal(SIGTERM)
        }
        let status = daemon.wait(timeoutSeconds: Self.crashRunSeconds)
        let marker = "crash point \(point.rawValue) reached (pass \(pass)): SIGKILL"
        let killedThere = daemon.terminatingSignal == SIGKILL && daemon.stderr.contains(marker)
        try #require(killedThere, """
            \(label): the daemon did not die at the crash point (status \(status), signal \
            \(daemon.terminatingSignal.map(String.init) ?? "none"), -1 = still running after \(Self.crashRunSeconds) s; \
            crash points exist only in debug builds); stderr: \(daemon.stderr.suffix(1500))
            """)
        // Requests the dead daemon sent may still be on their way into the sinks.
        usleep(100_000)
        let sentBeforeKill = (sink.stats.uris.count, flaky.stats.uris.count)
        let durable = Self.durableAtKill(fixture, layout)

        // 2. Clean restarts until the spool is empty; each run's books must balance.
        var restarts: [[String: Double]] = []
        while restarts.count < Self.maxRestarts {
            if !restarts.isEmpty { usleep(Self.untilLastDeferredIsDue(fixture)) }
            let before = (requests(), sink.stats.succeededURIs.count + flaky.stats.succeededURIs.count)
            let (summary, result) = try fixture.runOnce()
            try #require(result.status == 0, "\(label): restart \(restarts.count + 1) stderr: \(result.stderr.suffix(1500))")
            restarts.append(summary)
            let value = { (key: String) in Int(summary[key] ?? -1) }
            let answered = sink.stats.succeededURIs.count + flaky.stats.succeededURIs.count - before.1
            #expect(value("fires") == value("succeeded") + value("deferred") + value("failed"), "\(label): \(summary)")
            // A fire its host's open breaker held back is deferred unsent (logged with its reason).
            let heldBack = result.stderr.components(separatedBy: "REASON=\"circuit breaker open for").count - 1
            #expect(value("fires") == requests() - before.0 + heldBack,
                    "\(label): the sinks saw \(requests() - before.0) requests, \(heldBack) held back: \(summary)")
            #expect(value("succeeded") == answered, "\(label): the sinks answered \(answered) 2xx: \(summary)")
            #expect(value("records") <= value("fires") + value("no_match") + value("rejected"), "\(label): \(summary)")
            if fixture.files(in: "deferred").isEmpty && fixture.files(in: "incoming").isEmpty
                && fixture.files(in: "active").isEmpty { break }
        }
        #expect(fixture.files(in: "incoming").isEmpty && fixture.files(in: "active").isEmpty,
                "\(label): stuck: incoming \(fixture.files(in: "incoming")), active \(fixture.files(in: "active"))")
        #expect(fixture.files(in: "deferred").isEmpty, "\(label): still deferred after \(restarts.count) restarts")

        // 3. Nothing lost.
        var received: [FireKey: Int] = [:]
        for uri in sink.stats.succeededURIs { if let key = FireKey(uri: uri) { received[key, default: 0] += 1 } }
        let lostSuccesses = layout.succeeding.filter { received[$0, default: 0] == 0 }
        var letters: [FireKey: Int] = [:]
        var shortLetters: [String] = []
        for name in fixture.files(in: "failed") {
            guard let (key, attempts) = Self.deadLetter(fixture.read("failed", name)) else {
                Issue.record("\(label): unreadable dead letter \(name)")
                continue
            }
            letters[key, default: 0] += 1
            if attempts != Self.maxAttempts { shortLetters.append("\(key) after \(attempts) attempts") }
        }
        let lostDeadLetters = layout.deadLettered.filter { letters[$0, default: 0] == 0 }
        #expect(lostSuccesses.isEmpty, "\(label): \(lostSuccesses.count) fires never reached the sink: \(lostSuccesses.prefix(10))")
        #expect(lostDeadLetters.isEmpty, "\(label): \(lostDeadLetters.count) 503 fires have no dead letter: \(lostDeadLetters.prefix(10))")
        #expect(Set(letters.keys).isSubset(of: layout.deadLettered), "\(label): dead letters for fires that succeed")
        #expect(shortLetters.isEmpty, "\(label): dead letters before the budget was spent: \(shortLetters.prefix(5))")
        let rejected = layout.files.filter { !fixture.read("bad", $0.name + ".rejected").contains("\"line\":\(Self.linesPerFile)") }
        #expect(rejected.isEmpty, "\(label): rejected lines missing from bad/: \(rejected.map(\.name))")

        // 4. Duplicates only where the outcome was not durable at the kill: a fire sent again
        // must have been sent by the killed run, without a durable outcome.
        let sentBefore = Set((sink.stats.uris.prefix(sentBeforeKill.0) + flaky.stats.uris.prefix(sentBeforeKill.1)).compactMap(FireKey.init(uri:)))
        // A retry the killed run had taken (in `active/`) was in flight: its attempt's outcome
        // was not durable even though the first attempt's deferral was. A deferral already in
        // `deferred/` whose ledger entry was not yet written was not durable either; it may
        // never have been sent (an open breaker holds a fire back unsent).
        let notDurable = sentBefore.subtracting(durable.recorded).union(durable.retrying).union(durable.queuedUnrecorded)
        var resent: [String] = []
        for uri in sink.stats.uris.dropFirst(sentBeforeKill.0) + flaky.stats.uris.dropFirst(sentBeforeKill.1) {
            if let key = FireKey(uri: uri), durable.final.contains(key) { resent.append(key.description) }
        }
        #expect(resent.isEmpty, "\(label): sent again after their outcome was durable: \(resent.prefix(10))")
        let duplicated = received.filter { $0.value > 1 }.map(\.key) + letters.filter { $0.value > 1 }.map(\.key)
        let unexplained = duplicated.filter { !notDurable.contains($0) }
        #expect(unexplained.isEmpty, "\(label): duplicates of fires that were not in flight or pending at the kill: \(unexplained.prefix(10))")
        let duplicate2xx = received.values.reduce(0) { $0 + max(0, $1 - 1) }
        let duplicateLetters = letters.values.reduce(0) { $0 + max(0, $1 - 1) }
        let duplicates = duplicate2xx + duplicateLetters

        let lost = lostSuccesses.count + lostDeadLetters.count
        print("crash matrix: \(label): killed with \(sentBefore.count) fires sent, \(notDurable.count) of them not durable; "
              + "\(restarts.count) restarts, "
              + "\(expectedFires) fires, lost \(lost), duplicates \(duplicates) (2xx twice \(duplicate2xx), "
              + "dead letters twice \(duplicateLetters)), tmp/ leftovers \(fixture.files(in: "tmp").count)")
        totals.rounds += 1
        totals.kills += 1
        totals.fires += expectedFires
        totals.lost += lost
        totals.duplicates += duplicates
        totals.duplicate2xx += duplicate2xx
        totals.duplicateDeadLetters += duplicateLetters
        totals.durableResent += resent.count
    }

    // MARK: the spool and what is on disk

    private static func writeSpool(_ fixture: SpoolFixture) throws -> Layout {
        var layout = Layout()
        for f in 0..<files {
            let name = "matrix-\(f).jsonl"
            var text: [String] = []
            var lines: [Int: (transaction: String, postbacks: [Int])] = [:]
            for line in 1...linesPerFile {
                let transaction = "m\(f)-\(line)"
                switch line {
                case linesPerFile:
                    text.append("{\"kind\":\"conversion\"}")
                case linesPerFile - 1:
                    text.append(conversion(transaction, partner: 99, offer: 3))
                case _ where line % 5 == 0:
                    text.append(conversion(transaction, partner: 7, offer: 4))
                    lines[line] = (transaction, [3])
                default:
                    text.append(conversion(transaction, partner: 7, offer: 3))
                    lines[line] = (transaction, [1, 2])
                }
            }
            try fixture.drop(name, text.joined(separator: "\n") + "\n")
            layout.files.append((name, lines))
        }
        return layout
    }

    /// What was durable on disk at the kill. `final`: fires a restart must not send again,
    /// 2xx fires whose `succeeded` entry was in a ledger (or whose file was already finished
    /// and removed) and 503 fires already dead-lettered. `recorded`: those, and 503 fires
    /// whose deferral was in a ledger (their retries go on, from `deferred/`, exactly once).
    /// A torn last ledger line does not count. `retrying`: retries taken from `deferred/` into
    /// `active/` and not yet ended. Ending one writes its next file before it removes the taken
    /// one ("a crash in between leaves a duplicate, never nothing", `TakenFire.replace`), so a
    /// kill there repeats that attempt and can make two dead letters of one fire.
    /// `queuedUnrecorded`: fires in `deferred/` without a durable ledger entry. A group commit
    /// moves deferrals into place before it writes the ledger, so a kill in between leaves the
    /// deferral queued and its line without an outcome: both go on, and one fire can end in
    /// two dead letters.
    static func durableAtKill(_ fixture: SpoolFixture, _ layout: Layout)
        -> (final: Set<FireKey>, recorded: Set<FireKey>, retrying: Set<FireKey>, queuedUnrecorded: Set<FireKey>) {
        var final = Set<FireKey>()
        var recorded = Set<FireKey>()
        var retrying = Set<FireKey>()
        let active = Set(fixture.files(in: "active"))
        let incoming = Set(fixture.files(in: "incoming"))
        for file in layout.files {
            if incoming.contains(file.name) { continue }
            guard active.contains(file.name) else {
                for (_, line) in file.lines {
                    for pb in line.postbacks {
                        let key = FireKey(transaction: line.transaction, postback: pb)
                        recorded.insert(key)
                        if pb != 3 { final.insert(key) }
                    }
                }
                continue
            }
            let ledger = fixture.read("active", file.name + ".ledger")
            for entry in ledger.split(separator: "\n", omittingEmptySubsequences: true).dropLast(ledger.hasSuffix("\n") ? 0 : 1) {
                guard let object = try? JSONSerialization.jsonObject(with: Data(entry.utf8)) as? [String: Any],
                      let outcome = object["outcome"] as? String, ["succeeded", "deferred", "failed"].contains(outcome),
                      let line = (object["line"] as? NSNumber)?.intValue, let pb = (object["pb"] as? NSNumber)?.intValue,
                      let transaction = file.lines[line]?.transaction else { continue }
                let key = FireKey(transaction: transaction, postback: pb)
                recorded.insert(key)
                if outcome == "succeeded" { final.insert(key) }
            }
        }
        for name in fixture.files(in: "failed") {
            if let (key, _) = deadLetter(fixture.read("failed", name)) {
                final.insert(key)
                recorded.insert(key)
            }
        }
        for name in active where name.hasSuffix(".fire") {
            if let (key, _) = deadLetter(fixture.read("active", name)) { retrying.insert(key) }
        }
        var queuedUnrecorded = Set<FireKey>()
        for name in fixture.files(in: "deferred") {
            if let (key, _) = deadLetter(fixture.read("deferred", name)), !recorded.contains(key) { queuedUnrecorded.insert(key) }
        }
        return (final, recorded, retrying, queuedUnrecorded)
    }

    /// A dead letter's fire and attempt count (a taken retry in `active/` is the same JSON).
    static func deadLetter(_ text: String) -> (FireKey, Int)? {
        guard let letter = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let recordText = letter["record"] as? String,
              let record = try? JSONSerialization.jsonObject(with: Data(recordText.utf8)) as? [String: Any],
              let transaction = record["transaction_id"] as? String,
              let pb = (letter["postback_id"] as? NSNumber)?.intValue else { return nil }
        return (FireKey(transaction: transaction, postback: pb), (letter["attempts"] as? NSNumber)?.intValue ?? 0)
    }

    /// Microseconds until the latest fire in `deferred/` is due (names start with the due time
    /// in Unix ms), plus a little, so the next `--once` run takes every one of them.
    static func untilLastDeferredIsDue(_ fixture: SpoolFixture) -> UInt32 {
        let latest = fixture.files(in: "deferred").compactMap { Int64($0.prefix { $0 != "-" }) }.max() ?? 0
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return UInt32(min(2000, max(0, latest - now)) + 20) * 1000
    }
}


/// FNV-1a, to give each point its own stream from the one seed.
func fnv1a(_ text: String) -> UInt64 {
    text.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
}
