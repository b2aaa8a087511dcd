import CJack
import Glibc
import MelDSP
import MelTransport
import Synchronization

/// Values shared between the realtime thread and ordinary threads, all atomics.
///
/// Lives behind one preallocated `UnsafeMutablePointer` owned by `JackClient`.
/// Counters are written by one thread each and read by others with relaxed loads: they are
/// reports, not synchronisation. Handshakes (`pendingSet`, `retiredSet`) use acquire/release.
struct RealtimeShared: ~Copyable {
    /// Frames pushed into the ring.
    let frames = Atomic<UInt64>(0)
    /// Frames the ring had no room for.
    let drops = Atomic<UInt64>(0)
    /// Xrun notifications seen.
    let xruns = Atomic<UInt64>(0)
    /// Process callbacks run.
    let blocks = Atomic<UInt64>(0)
    /// Block-start discontinuities (frame time jumped), flagged `.gap`.
    let discontinuities = Atomic<UInt64>(0)
    /// Set by the xrun callback, taken by the realtime thread: flag the next frames `.xrun`.
    let pendingXrun = Atomic<Bool>(false)
    /// The current period, in samples, from the buffer-size callback.
    let blockLength = Atomic<UInt32>(0)
    /// Largest period seen.
    let largestBlockLength = Atomic<UInt32>(0)
    /// Periods larger than `JackClient.maximumBlockLength` (processed all the same; reported).
    let oversizedBlocks = Atomic<UInt64>(0)
    /// The server's sample rate from the sample-rate callback, in Hz.
    let serverSampleRate = Atomic<UInt32>(0)
    /// Set by the shutdown callback; the supervisor reopens the client.
    let serverGone = Atomic<Bool>(false)
    /// Set when a port appears: the supervisor rescans `--connect` patterns.
    let portsChanged = Atomic<Bool>(false)
    /// Set when a connection to one of our ports changes: the supervisor snapshots them.
    let connectionsChanged = Atomic<Bool>(false)
    /// Capture latency range of our inputs, in samples (min over ports of min, max of max).
    let captureLatencyMinimum = Atomic<UInt32>(0)
    let captureLatencyMaximum = Atomic<UInt32>(0)
    /// A new `AnalyzerSet` (bit pattern of its pointer) for the realtime thread to adopt, or 0.
    let pendingSet = Atomic<Int>(0)
    /// The set the realtime thread stopped using, for the supervisor to free, or 0.
    let retiredSet = Atomic<Int>(0)
    /// Callback durations.
    let histogram: DurationHistogram
    /// Wakes the supervisor thread (posted from notification callbacks; never from the realtime path).
    let supervisorWake: UnsafeMutablePointer<sem_t>

    init() {
        histogram = DurationHistogram()
        supervisorWake = .allocate(capacity: 1)
        sem_init(supervisorWake, 0, 0)
    }

    deinit {
        sem_destroy(supervisorWake)
        supervisorWake.deallocate()
    }

    /// Wakes the supervisor. Not called on the realtime path.
    func wakeSupervisor() { sem_post(supervisorWake) }
}

/// One analyzer per channel, built together for one sample rate. Owned by `JackClient`;
/// handed to the realtime thread by pointer, retired by pointer.
struct AnalyzerSet {
    /// `count` analyzers, retained (+1) by this set until `destroy`.
    let analyzers: UnsafeMutablePointer<Unmanaged<MelAnalyzer>>
    let count: Int
    let sampleRate: Double

    static func make(_ list: [MelAnalyzer], sampleRate: Double) -> UnsafeMutablePointer<AnalyzerSet> {
        let storage = UnsafeMutablePointer<Unmanaged<MelAnalyzer>>.allocate(capacity: max(1, list.count))
        for (index, analyzer) in list.enumerated() {
            // +1 retain, released in `destroy`: the realtime thread borrows without retaining.
            (storage + index).initialize(to: .passRetained(analyzer))
        }
        let set = UnsafeMutablePointer<AnalyzerSet>.allocate(capacity: 1)
        set.initialize(to: AnalyzerSet(analyzers: storage, count: list.count, sampleRate: sampleRate))
        return set
    }

    static func destroy(_ set: UnsafeMutablePointer<AnalyzerSet>) {
        for index in 0..<set.pointee.count { set.pointee.analyzers[index].release() }
        set.pointee.analyzers.deallocate()
        set.deinitialize(count: 1)
        set.deallocate()
    }
}

/// Everything the process callback reads and writes, preallocated before activation.
///
/// Plain values and pointers only (no class references, no arrays), so the callback does no
/// reference counting and no exclusivity checks. Written by the realtime thread while the client
/// is active; by the supervisor only while no client is active.
struct RealtimeState {
    /// The open client (`jack_client_t *`), nil while reconnecting.
    var client: OpaquePointer?
    /// `channelCount` input ports (`jack_port_t *`), channel order.
    let ports: UnsafeMutablePointer<OpaquePointer?>
    let channelCount: Int
    /// The analyzers in use.
    var set: UnsafeMutablePointer<AnalyzerSet>
    /// Destination ring; the JackClient keeps the object alive.
    let ring: Unmanaged<FrameRing>
    /// One frame's values, `frameWidth` floats.
    let scratch: UnsafeMutablePointer<Float>
    /// Per channel: the next frame's sequence number.
    let sequence: UnsafeMutablePointer<UInt64>
    /// Per channel: flags for the next frame pushed (raw `FrameFlags`).
    let pendingFlags: UnsafeMutablePointer<UInt32>
    /// Per channel: JACK frame time (64-bit) of the analyzer's input sample 0.
    let streamStart: UnsafeMutablePointer<Int64>
    /// The next block starts a new stream (after activation, restart, reconfiguration).
    var needsStreamStart: Bool = true
    /// Flags to put on every channel's first frame of the new stream.
    var streamStartFlags: UInt32 = 0
    /// Frame time extended to 64 bits: last 32-bit value seen and its extension.
    var lastFrameTime32: UInt32 = 0
    var frameTime64: Int64 = 0
    /// Expected frame time of the next block start (previous start + length), -1 before the first.
    var expectedBlockStart: Int64 = -1
    /// Analyzer input samples fed since the stream started (same for every channel).
    var samplesFed: Int64 = 0
    /// Input-sample index at which the block times last jumped: frames whose first sample lies
    /// before it but complete after it span the jump and are flagged `.gap`.
    var lastJumpIndex: Int64 = .min
    /// Shared atomics.
    let shared: UnsafeMutablePointer<RealtimeShared>
    /// rtguard / RealtimeSanitizer hooks, nil when not preloaded.
    let hooks: RealtimeHooks
}

/// `FrameFlags` raw values as literals: the `static let`s of another module are lazily
/// initialised and not inlinable, so the callback must not touch them. `JackClient.init`
/// checks that these match.
enum RawFlags {
    static var gap: UInt32 { 1 << 0 }
    static var xrun: UInt32 { 1 << 1 }
    static var reconfigured: UInt32 { 1 << 2 }
    static var serverRestart: UInt32 { 1 << 3 }

    static func check() {
        precondition(FrameFlags.gap.rawValue == gap && FrameFlags.xrun.rawValue == xrun
                     && FrameFlags.reconfigured.rawValue == reconfigured
                     && FrameFlags.serverRestart.rawValue == serverRestart,
                     "MelJack.RawFlags is out of date with MelTransport.FrameFlags")
    }
}

/// Extends a 32-bit JACK frame time to 64 bits and tracks block continuity.
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
@inline(__always)
private func blockStart(_ state: UnsafeMutablePointer<RealtimeState>, now: UInt32) -> Int64 {
    if state.pointee.expectedBlockStart < 0 {
        state.pointee.frameTime64 = Int64(now)
    } else {
        state.pointee.frameTime64 += Int64(now &- state.pointee.lastFrameTime32)
    }
    state.pointee.lastFrameTime32 = now
    return state.pointee.frameTime64
}

/// The body of the JACK process callback: feeds each channel's block to its analyzer and
/// pushes the completed frames into the ring.
/// Real-time safe: no allocation, locks or system calls (`sem_post` in `tryPush` enters the
/// kernel only to wake a sleeping consumer; `clock_gettime` is a vDSO call).
@_noAllocation @_noLocks
func realtimeProcess(_ state: UnsafeMutablePointer<RealtimeState>, blockLength: UInt32) {
    let hooks = state.pointee.hooks
    _unsafePerformance { hooks.enter?() }
    let started = monotonicNanoseconds()
    let shared = state.pointee.shared
    let count = Int(blockLength)

    // Adopt a new analyzer set without waiting. Acquiring: the set was fully built before it was
    // published; releasing: our last use of the old set happens before the supervisor frees it.
    let pending = shared.pointee.pendingSet.exchange(0, ordering: .acquiringAndReleasing)
    if pending != 0, let adopted = UnsafeMutablePointer<AnalyzerSet>(bitPattern: pending) {
        let old = state.pointee.set
        state.pointee.set = adopted
        state.pointee.needsStreamStart = true
        state.pointee.streamStartFlags |= RawFlags.reconfigured
        shared.pointee.retiredSet.store(Int(bitPattern: old), ordering: .releasing)
    }

    let client = state.pointee.client
    let now = _unsafePerformance { jack_last_frame_time(client) }
    let start = blockStart(state, now: now)
    let channelCount = state.pointee.channelCount
    var blockFlags: UInt32 = 0
    // Relaxed: a notification flag, no data travels with it.
    if shared.pointee.pendingXrun.exchange(false, ordering: .relaxed) {
        blockFlags |= RawFlags.xrun
    }
    if state.pointee.needsStreamStart {
        state.pointee.needsStreamStart = false
        for channel in 0..<channelCount { state.pointee.streamStart[channel] = start }
        state.pointee.samplesFed = 0
        state.pointee.lastJumpIndex = .min
        blockFlags |= state.pointee.streamStartFlags
        state.pointee.streamStartFlags = 0
    } else if start != state.pointee.expectedBlockStart {
        // The block clock jumped: a missed cycle, or jack2 restamping the first block after a
        // buffer-size change (previous start + new period). Later frames follow JACK's clock;
        // frames whose samples span the jump are flagged `.gap` (see `lastJumpIndex`).
        let jump = start - state.pointee.expectedBlockStart
        for channel in 0..<channelCount { state.pointee.streamStart[channel] += jump }
        state.pointee.lastJumpIndex = state.pointee.samplesFed
        blockFlags |= RawFlags.gap
        shared.pointee.discontinuities.add(1, ordering: .relaxed)
    }
    state.pointee.expectedBlockStart = start + Int64(count)

    let set = state.pointee.set
    let ring = state.pointee.ring
    let scratch = state.pointee.scratch
    let usable = min(channelCount, set.pointee.count)
    for channel in 0..<usable {
        state.pointee.pendingFlags[channel] |= blockFlags
        let port = state.pointee.ports[channel]
        let raw = _unsafePerformance { jack_port_get_buffer(port, blockLength) }
        guard let raw else { continue }
        let samples = raw.assumingMemoryBound(to: Float.self)
        let analyzer = set.pointee.analyzers[channel]
        var offset = 0
        while offset < count {
            let step = analyzer._withUnsafeGuaranteedRef {
                $0.process(UnsafeBufferPointer(start: samples + offset, count: count - offset), into: scratch)
            }
            offset += step.consumed
            if step.frameIndex >= 0 {
                let first = _unsafePerformance {
                    analyzer._withUnsafeGuaranteedRef { $0.firstSample(ofFrame: step.frameIndex) }
                }
                let sequence = state.pointee.sequence[channel]
                let frameTime = state.pointee.streamStart[channel] + Int64(first)
                var flags = state.pointee.pendingFlags[channel]
                if Int64(first) < state.pointee.lastJumpIndex { flags |= RawFlags.gap }  // spans a jump
                state.pointee.sequence[channel] = sequence &+ 1
                // Relaxed counters: reports only.
                if ring._withUnsafeGuaranteedRef({
                    $0.tryPush(sequence: sequence, channel: UInt32(channel), frameTime: frameTime,
                               rawFlags: flags, values: scratch)
                }) {
                    state.pointee.pendingFlags[channel] = 0
                    shared.pointee.frames.add(1, ordering: .relaxed)
                } else {
                    state.pointee.pendingFlags[channel] |= RawFlags.gap
                    shared.pointee.drops.add(1, ordering: .relaxed)
                }
            }
            if step.consumed == 0 && step.frameIndex < 0 { break }  // defensive: never spin
        }
    }
    state.pointee.samplesFed += Int64(count)
    shared.pointee.blocks.add(1, ordering: .relaxed)
    shared.pointee.histogram.record(nanoseconds: monotonicNanoseconds() &- started)
    _unsafePerformance { hooks.leave?() }
}

/// CLOCK_MONOTONIC in nanoseconds. `clock_gettime` is served by the vDSO on Linux (no kernel
/// entry), which is why it is acceptable in the callback.
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    _unsafePerformance { _ = clock_gettime(CLOCK_MONOTONIC, &now) }
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
