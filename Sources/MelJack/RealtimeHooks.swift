import Glibc

/// Optional instrumentation entry points found with `dlsym(RTLD_DEFAULT, …)` at setup:
/// `rtguard_enter`/`rtguard_leave` from `librtguard.so` (LD_PRELOAD allocation counter, see
/// Tools/rtguard) and `__rtsan_realtime_enter`/`__rtsan_realtime_exit` from a RealtimeSanitizer
/// build. All nil in a normal run, so the callback pays one predictable branch each.
public struct RealtimeHooks: Sendable {
    public typealias Hook = @convention(c) () -> Void
    public typealias Counter = @convention(c) () -> Int

    /// Called first thing in every realtime callback.
    let enter: Hook?
    /// Called last thing in every realtime callback.
    let leave: Hook?
    /// rtguard's counters, for the exit report.
    let allocationCount: Counter?
    let freeCount: Counter?
    let regionCount: Counter?
    /// rtguard's counts of blocking or kernel-entering calls (newer shims only).
    let postCount: Counter?
    let maximumPostCount: Counter?
    let lockCount: Counter?
    let systemCallCount: Counter?

    /// Looks the hooks up in the running process (RTLD_DEFAULT is a null handle on glibc).
    public static func lookUp() -> RealtimeHooks {
        func symbol(_ name: String) -> UnsafeMutableRawPointer? { dlsym(nil, name) }
        if let enter = symbol("rtguard_enter"), let leave = symbol("rtguard_leave") {
            return RealtimeHooks(
                enter: unsafeBitCast(enter, to: Hook.self), leave: unsafeBitCast(leave, to: Hook.self),
                allocationCount: symbol("rtguard_allocs").map { unsafeBitCast($0, to: Counter.self) },
                freeCount: symbol("rtguard_frees").map { unsafeBitCast($0, to: Counter.self) },
                regionCount: symbol("rtguard_regions").map { unsafeBitCast($0, to: Counter.self) },
                postCount: symbol("rtguard_posts").map { unsafeBitCast($0, to: Counter.self) },
                maximumPostCount: symbol("rtguard_max_posts").map { unsafeBitCast($0, to: Counter.self) },
                lockCount: symbol("rtguard_locks").map { unsafeBitCast($0, to: Counter.self) },
                systemCallCount: symbol("rtguard_syscalls").map { unsafeBitCast($0, to: Counter.self) })
        }
        if let enter = symbol("__rtsan_realtime_enter"), let leave = symbol("__rtsan_realtime_exit") {
            return RealtimeHooks(enter: unsafeBitCast(enter, to: Hook.self),
                                 leave: unsafeBitCast(leave, to: Hook.self),
                                 allocationCount: nil, freeCount: nil, regionCount: nil,
                                 postCount: nil, maximumPostCount: nil, lockCount: nil, systemCallCount: nil)
        }
        return RealtimeHooks(enter: nil, leave: nil, allocationCount: nil, freeCount: nil, regionCount: nil,
                             postCount: nil, maximumPostCount: nil, lockCount: nil, systemCallCount: nil)
    }

    /// rtguard's counts of calls that block or enter the kernel inside realtime regions: `sem_post`
    /// (total, and the most in one region), mutex / condition-variable calls, other system-call
    /// wrappers. Nil without rtguard or with a shim that does not count them.
    public var rtguardBlockingCounts: (posts: Int, mostPostsInOneRegion: Int, locks: Int, systemCalls: Int)? {
        guard let postCount, let maximumPostCount, let lockCount, let systemCallCount else { return nil }
        return (postCount(), maximumPostCount(), lockCount(), systemCallCount())
    }

    /// Whether rtguard is preloaded.
    public var rtguardLoaded: Bool { allocationCount != nil }

    /// rtguard's heap calls inside realtime regions so far, or nil without rtguard.
    /// rtguard's counts so far: heap calls inside realtime regions and regions entered
    /// (regions is -1 with a shim that does not count them). Nil without rtguard.
    public var rtguardCounts: (allocations: Int, frees: Int, regions: Int)? {
        guard let allocationCount, let freeCount else { return nil }
        return (allocationCount(), freeCount(), regionCount?() ?? -1)
    }
}
