#if POSTBACKD_CRASH_POINTS
import Glibc
import Synchronization

/// Named steps where a debug build kills itself, so a test can crash the daemon at the exact
/// moment it wants to prove safe instead of hoping a random `kill -9` lands there
/// (`Tests/PostbackDaemonTests/CrashMatrixTests.swift`).
///
/// `POSTBACKD_CRASH_AT=<point>:<n>` arms one point: the n-th time any thread passes it, the
/// process writes one line to stderr (so the test can tell this death from any other) and
/// sends itself SIGKILL: no drain, no flush, no atexit, as the OOM killer would. Unset, a
/// pass costs one atomic increment.
///
/// Compiled only into debug builds (`POSTBACKD_CRASH_POINTS` in Package.swift): a release
/// binary has neither this type nor the hooks, nor the variable's name in its strings.
public enum CrashPoint: String, CaseIterable, Sendable {
    /// A file (or a deferred fire) was renamed into `active/`; its ledger does not exist yet.
    case claim
    /// An outcome was appended to a ledger's group-commit batch, not yet written or fsync'd.
    case midBatch = "mid-batch"
    /// A promise is fsync'd and the rename (or unlink) that acts on it has not happened: a
    /// finished file whose ledger is durable, still in `active/`; a deferred or dead-letter
    /// file fsync'd in `tmp/`, not yet renamed into `deferred/` or `failed/`.
    case fsyncRename = "fsync-rename"
    /// SIGHUP: the new catalog is read and valid, not yet swapped in.
    case reload
    /// SIGTERM: claiming has stopped; 1st pass with fires in flight, 2nd once they are in.
    case drain

    /// Call at the named step. Never returns when the armed pass is reached.
    public static func reached(_ point: CrashPoint) {
        guard let armed, armed.point == point else { return }
        let pass = passes.add(1, ordering: .relaxed).newValue
        guard pass == armed.pass else { return }
        say("postbackd: crash point \(point.rawValue) reached (pass \(pass)): SIGKILL\n")
        kill(getpid(), SIGKILL)
        // SIGKILL cannot be caught; this thread must not take one more step meanwhile.
        while true { pause() }
    }

    /// The armed point and pass, read once. A value that does not parse stops the process,
    /// since a test that misspells a point would otherwise pass without ever crashing.
    private static let armed: (point: CrashPoint, pass: Int)? = {
        guard let raw = getenv("POSTBACKD_CRASH_AT") else { return nil }
        let value = String(cString: raw)
        let parts = value.split(separator: ":")
        guard parts.count == 2, let point = CrashPoint(rawValue: String(parts[0])), let pass = Int(parts[1]), pass > 0 else {
            let names = allCases.map(\.rawValue).joined(separator: ", ")
            say("postbackd: POSTBACKD_CRASH_AT=\(value): expected <point>:<n>, n ≥ 1, point one of \(names)\n")
            exit(70)
        }
        return (point, pass)
    }()

    private static let passes = Atomic<Int>(0)

    /// Straight to fd 2 with one write(2): no buffer that the SIGKILL would throw away.
    private static func say(_ text: String) {
        var text = text
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
#endif
