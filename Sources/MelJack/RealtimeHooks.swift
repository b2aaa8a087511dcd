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

    /// Looks the hooks up in the running process (RTLD_DEFAULT is a null handle on glibc).
    public static func lookUp() -> RealtimeHooks {
        func symbol(_ name: String) -> UnsafeMutableRawPointer? { dlsym(nil, name) }
        if let enter = symbol("rtguard_enter"), let leave = symbol("rtguard_leave") {
            return RealtimeHooks(
                enter: unsafeBitCast(enter, to: Hook.self), leave: unsafeBitCast(leave, to: Hook.self),
                allocationCount: symbol("rtguard_allocs").map { unsafeBitCast($0, to: Counter.self) },
                freeCount: symbol("rtguard_frees").map { unsafeBitCast($0, to: Counter.self) },
                regionCount: symbol("rtguard_regions").map { unsafeBitCast($0, to: Counter.self) })
        }
        if let enter = symbol("__rtsan_realtime_enter"), let leave = symbol("__rtsan_realtime_exit") {
            return RealtimeHooks(enter: unsafeBitCast(enter, to: Hook.self),
                                 leave: unsafeBitCast(leave, to: Hook.self),
                                 allocationCount: nil, freeCount: nil, regionCount: nil)
        }
        return RealtimeHooks(enter: nil, leave: nil, allocationCount: nil, freeCount: nil, regionCount: nil)
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
