// The one place meltap retries a system call that a signal interrupted (EINTR).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Calls `call` until it returns something other than -1 with `errno == EINTR`.
///
/// `call` is a system call in the C convention (-1 and `errno` on failure); the result and
/// `errno` of the last attempt are left for the caller, as swift-system's `retryOnInterrupt`.
/// Not for the realtime path: a caller there must not make system calls.
@inlinable
public func retryingOnInterrupt<Result: FixedWidthInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result != -1 || errno != EINTR { return result }
    }
}

/// `strerror(3)` of `code`, for messages.
public func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }
