#if canImport(Glibc)
import Glibc
#endif

/// Standard-error lines that one thread logs inside ``collect(_:)``, written together at its end.
///
/// The daemon's recorder logs one line per fire's outcome, and records outcomes in batches: a
/// `write(2)` per line cost more than formatting it. Inside a batch the lines wait in memory
/// until the batch ends (a few milliseconds) or ``limit`` bytes have gathered, so they may come
/// after a line another thread logged meanwhile; a crash loses at most those lines, never an
/// outcome (outcomes are in the spool's ledgers). Lines to journald are not batched: each entry
/// is its own datagram.
public enum StderrBatch {
    /// Bytes gathered before they are written anyway, so one long batch does not sit in memory.
    static let limit = 64 * 1024

    @TaskLocal static var current: Buffer?

    /// Runs `body`, gathering what it logs to standard error on this thread, then writes it.
    public static func collect<Result>(_ body: () throws -> Result) rethrows -> Result {
        let buffer = Buffer()
        defer { buffer.writeOut() }
        return try $current.withValue(buffer) { try body() }
    }

    /// @unchecked: bound to one thread by `collect` (a task-local value read on that thread
    /// only) and touched by nothing else.
    final class Buffer: @unchecked Sendable {
        var bytes: [UInt8] = []

        func writeOut() {
            guard !bytes.isEmpty else { return }
            StderrLogHandler.write(bytes)
            bytes.removeAll(keepingCapacity: true)
        }
    }
}
