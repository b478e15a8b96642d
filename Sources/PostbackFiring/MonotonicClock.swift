#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC in milliseconds: how long a fire has waited for a slot, how long a host's
/// oldest fire has been out. The same clock as `ConditionLock`'s timed waits, so a deadline
/// computed from it is the one the wait keeps.
func monotonicMillis() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}
