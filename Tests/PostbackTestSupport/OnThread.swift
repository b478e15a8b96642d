import Foundation

/// Runs a call that may block on a thread of its own, never on the Swift concurrency pool
/// (one thread per core, which tests beside it may be holding in blocking waits).
public func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}
