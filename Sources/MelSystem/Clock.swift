// The monotonic clock, and deadlines for sem_timedwait.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seconds on CLOCK_MONOTONIC (`clock_gettime(2)`): for intervals, never for wall time.
/// Not for the realtime path; the callback uses `monotonicNanoseconds()`.
public func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// CLOCK_MONOTONIC in nanoseconds (`clock_gettime(2)`). `clock_gettime` is served by the vDSO on
/// Linux (no kernel entry), which is why it is acceptable in the JACK callback.
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
@inlinable @inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    _unsafePerformance { _ = clock_gettime(CLOCK_MONOTONIC, &now) }
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// The CLOCK_REALTIME instant `seconds` from now (negative counts as 0), the absolute deadline
/// that `sem_timedwait(3)` takes (it measures against the wall clock, not the monotonic one).
public func realtimeDeadline(after seconds: Double) -> timespec {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    let nanoseconds = Int(now.tv_nsec) + Int(max(0, seconds) * 1e9)
    return timespec(tv_sec: now.tv_sec + nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
}

#if canImport(Glibc)
/// Waits on `semaphore` with `sem_timedwait(3)` until it is posted (true) or `seconds` pass
/// (false), retrying on EINTR against the same deadline. Blocks: never on the realtime thread.
@discardableResult
public func wait(on semaphore: UnsafeMutablePointer<sem_t>, seconds: Double) -> Bool {
    var deadline = realtimeDeadline(after: seconds)
    return retryingOnInterrupt { sem_timedwait(semaphore, &deadline) } == 0
}
#endif
