#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with one condition variable. `FiringEngine.submit` must block the producer
/// thread until a slot is free (backpressure without a Task per fire), which needs a condition
/// variable; Synchronization.Mutex has none.
///
/// Also the lock for state that carries objects from one thread to another (the recorder's
/// hand-off): ThreadSanitizer sees a pthread mutex's hand-off, while a contended
/// Synchronization.Mutex hands over inside the kernel, where it cannot, and every object passed
/// through it is then reported as a race (Tests/sanitizers/tsan.supp).
public final class ConditionLock: @unchecked Sendable {
    @usableFromInline let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
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

    @inlinable
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Only inside `withLock`.
    public func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// Only inside `withLock`. False once CLOCK_MONOTONIC has passed `deadline` (ns).
    public func wait(untilMonotonicNanos deadline: Int64) -> Bool {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &time) != ETIMEDOUT
    }

    public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
