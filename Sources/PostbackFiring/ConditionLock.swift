#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with one condition variable. `submit` must block the producer thread until
/// a slot is free (backpressure without a Task per fire), which needs a condition variable;
/// Synchronization.Mutex has none.
final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        precondition(pthread_mutex_init(mutex, nil) == 0)
        // Timed waits count on the monotonic clock, so a clock step cannot stretch them.
        var attributes = pthread_condattr_t()
        precondition(pthread_condattr_init(&attributes) == 0)
        precondition(pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) == 0)
        precondition(pthread_cond_init(condition, &attributes) == 0)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Only inside `withLock`.
    func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// Only inside `withLock`. False once CLOCK_MONOTONIC has passed `deadline` (ns).
    func wait(untilMonotonicNanos deadline: Int64) -> Bool {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &time) != ETIMEDOUT
    }

    func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
