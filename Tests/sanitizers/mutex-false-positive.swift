// Why Tests/sanitizers/tsan.supp silences reports inside Mutex.withLock bodies: this program is
// race-free (eight threads take turns under one Mutex and the count comes out exact), yet
// ThreadSanitizer on Linux reports "Swift access race" on the state inside the lock, because
// the contended hand-off happens in FUTEX_LOCK_PI/FUTEX_UNLOCK_PI in the uninstrumented
// libswiftSynchronization.so. Not part of any target.
//
//     swiftc -sanitize=thread -g Tests/sanitizers/mutex-false-positive.swift -o /tmp/mutex-fp
//     /tmp/mutex-fp    # prints 160000, and WARNING: ThreadSanitizer: Swift access race
import Dispatch
import Synchronization

final class Counts: Sendable {
    let byKey = Mutex<[Int: Int]>([:])
}

let counts = Counts()
DispatchQueue.concurrentPerform(iterations: 8) { _ in
    for i in 0..<20_000 { counts.byKey.withLock { $0[i % 50, default: 0] += 1 } }
}
print(counts.byKey.withLock { $0.values.reduce(0, +) })
