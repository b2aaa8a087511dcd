import Glibc
import Synchronization

/// Values shared between the realtime thread and ordinary threads, all atomics.
///
/// Lives behind one preallocated `UnsafeMutablePointer` owned by the `RealtimeEngine` (freed by
/// its `destroy`). Counters are written by one thread each and read by others with relaxed loads:
/// they are reports, not synchronisation. Handshakes (`pendingSet`, `retiredSet`) use
/// acquire/release. The host's notifications (server gone, ports and connections changed, the
/// capture latency) live here too, so the host's supervisor reads every shared value in one place;
/// the engine itself never reads them.
package struct RealtimeShared: ~Copyable {
    /// Frames pushed into the rings.
    package let frames = Atomic<UInt64>(0)
    /// Frames the rings had no room for.
    package let drops = Atomic<UInt64>(0)
    /// Xrun notifications seen.
    package let xruns = Atomic<UInt64>(0)
    /// Blocks processed (process callbacks run).
    package let blocks = Atomic<UInt64>(0)
    /// Block-start discontinuities (frame time jumped); frames spanning one carry `.discontinuity`.
    package let discontinuities = Atomic<UInt64>(0)
    /// Frames pushed with `.xrun` (their window overlaps a stretch marked damaged by an xrun).
    package let xrunFrames = Atomic<UInt64>(0)
    /// Frames pushed with `.discontinuity`.
    package let discontinuityFrames = Atomic<UInt64>(0)
    /// Frames released from the hold early because it was full (they could miss a late xrun flag).
    package let holdOverflows = Atomic<UInt64>(0)
    /// Channel-blocks of one stream whose analysis the frame budget moved to the next block
    /// (`spreadFrames`), and the most frames computed in one block.
    package let deferredFeeds = Atomic<UInt64>(0)
    package let largestFrameBurst = Atomic<UInt64>(0)
    /// Set by `RealtimeEngine.noteXrun`, taken by the realtime thread at its next block start: it
    /// marks the recent stretch damaged (see `markXrunDamage`).
    package let pendingXrun = Atomic<Bool>(false)
    /// The current period, in samples, from `RealtimeEngine.noteBlockLength`.
    package let blockLength = Atomic<UInt32>(0)
    /// Largest period seen.
    package let largestBlockLength = Atomic<UInt32>(0)
    /// Periods larger than `realtimeMaximumBlockLength` (processed all the same; reported).
    package let oversizedBlocks = Atomic<UInt64>(0)
    /// The server's sample rate from `RealtimeEngine.noteSampleRate`, in Hz.
    package let serverSampleRate = Atomic<UInt32>(0)
    /// Set when the server went away; the supervisor reopens the client.
    package let serverGone = Atomic<Bool>(false)
    /// Set when a port appears: the supervisor rescans `--connect` patterns.
    package let portsChanged = Atomic<Bool>(false)
    /// Set when a connection to one of our ports changes: the supervisor snapshots them.
    package let connectionsChanged = Atomic<Bool>(false)
    /// Capture latency range of our inputs, in samples (min over ports of min, max of max).
    package let captureLatencyMinimum = Atomic<UInt32>(0)
    package let captureLatencyMaximum = Atomic<UInt32>(0)
    /// A new `AnalyzerSet` (bit pattern of its pointer) for the realtime thread to adopt, or 0.
    package let pendingSet = Atomic<Int>(0)
    /// The set the realtime thread stopped using, for the supervisor to free, or 0.
    package let retiredSet = Atomic<Int>(0)
    /// Wakes the supervisor thread (posted from notifications; never from the realtime path).
    package let supervisorWake: UnsafeMutablePointer<sem_t>

    package init() {
        supervisorWake = .allocate(capacity: 1)
        sem_init(supervisorWake, 0, 0)
    }

    deinit {
        sem_destroy(supervisorWake)
        supervisorWake.deallocate()
    }

    /// Wakes the supervisor. Not called on the realtime path.
    package func wakeSupervisor() { sem_post(supervisorWake) }
}

extension UnsafeMutablePointer {
    /// Allocates `count` elements and writes `value` into every one, so each page is touched
    /// (prefaulted) before the realtime thread reads or writes it. Not real-time safe: call it
    /// while building state, before activation or on the supervisor thread.
    package static func prefaulted(count: Int, repeating value: Pointee) -> UnsafeMutablePointer {
        let pointer = allocate(capacity: count)
        pointer.initialize(repeating: value, count: count)
        return pointer
    }
}
