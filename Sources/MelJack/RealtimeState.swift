import CJack
import Glibc
import MelDSP
import MelResample
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
    /// Block-start discontinuities (frame time jumped); frames spanning one carry `.discontinuity`.
    let discontinuities = Atomic<UInt64>(0)
    /// Frames pushed with `.xrun` (their window overlaps a stretch marked damaged by an xrun).
    let xrunFrames = Atomic<UInt64>(0)
    /// Frames pushed with `.discontinuity`.
    let discontinuityFrames = Atomic<UInt64>(0)
    /// Frames released from the hold early because it was full (they could miss a late xrun flag).
    let holdOverflows = Atomic<UInt64>(0)
    /// Set by the xrun callback, taken by the realtime thread at its next block start: it marks
    /// the recent stretch damaged (see `RealtimeState.markXrunDamage`).
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

/// One stream's analyzers, one per channel, built together for one input rate and one analysis
/// rate. When the two differ, the stream reads its input from a *rate group*: one resampler per
/// channel per distinct analysis rate, owned (retained, with its scratch buffer) by the first
/// stream at that rate and shared by later streams at the same rate (`resamplerOwner`), so each
/// channel is resampled once per rate, not once per stream. The sets of all streams lie side by
/// side in one allocation (`makeAll`); owned by `JackClient`; handed to the realtime thread by
/// pointer, retired by pointer.
///
/// Two sample clocks: *input* samples are JACK frames (the server's rate, `inputRate`);
/// *analysis* samples are what the analyzers count (`analysisRate`, the configuration's
/// `sampleRate`). Without a resampler they are the same. The resampler is time-aligned, so
/// analysis sample k sits at input instant k · inputRate / analysisRate of the same stream.
struct AnalyzerSet {
    /// `count` analyzers, retained (+1) by this set until `destroy`.
    let analyzers: UnsafeMutablePointer<Unmanaged<MelAnalyzer>>
    let count: Int
    /// `count` resamplers, retained (+1) until `destroy`; nil when the input is at the analysis
    /// rate, and on a stream that reads another stream's resamplers.
    let resamplers: UnsafeMutablePointer<Unmanaged<Resampler>>?
    /// One channel's resampled block (channels are converted one after another), for
    /// `realtimeMaximumBlockLength` input samples; nil without resamplers. Prefaulted.
    let resampled: UnsafeMutablePointer<Float>?
    /// Floats `resampled` holds.
    let resampledCapacity: Int
    /// The most input samples converted into `resampled` at once (JACK's largest period).
    let resampleInputLimit: Int
    /// The stream (index in `makeAll`'s list) whose `resamplers` and `resampled` feed this
    /// stream: its own index when it owns them, an earlier stream's when it shares them, −1
    /// without resampling.
    let resamplerOwner: Int
    /// The server's rate and the analysis rate, Hz, as integers for exact time arithmetic.
    let inputRate: Int64
    let analysisRate: Int64
    /// Input samples a resampler reads past an output's instant before emitting it (0 without).
    let lookahead: Int
    /// Analysis samples one frame's window spans (n_fft, or win_length for Kaldi framing).
    let frameSpan: Int
    /// Analysis samples a computed frame is held before it is pushed (the xrun hold), ≥ 0.
    let holdSamples: Int
    /// The same hold in input samples.
    let holdInputSamples: Int

    /// The xrun hold in samples: `seconds` (negative counts as 0) at `sampleRate`, rounded.
    static func holdSamples(seconds: Double, sampleRate: Double) -> Int {
        Int((max(0, seconds) * sampleRate).rounded())
    }

    /// One stream's parts for `makeAll`.
    struct Parts {
        /// One analyzer per channel.
        var analyzers: [MelAnalyzer]
        /// One resampler per channel when this stream owns its rate group's; else empty.
        var resamplers: [Resampler]
        /// See `AnalyzerSet.resamplerOwner`.
        var resamplerOwner: Int
    }

    /// The sets of every stream, side by side: `streams.count` sets (free with `destroyAll`).
    static func makeAll(_ streams: [Parts], inputRate: Double, holdSeconds: Double) -> UnsafeMutablePointer<AnalyzerSet> {
        let sets = UnsafeMutablePointer<AnalyzerSet>.allocate(capacity: max(1, streams.count))
        for (index, parts) in streams.enumerated() {
            let owner = parts.resamplerOwner >= 0 ? streams[parts.resamplerOwner].resamplers.first : nil
            (sets + index).initialize(to: make(parts.analyzers, resamplers: parts.resamplers, owner: parts.resamplerOwner,
                                               lookahead: owner?.lookahead ?? 0, inputRate: inputRate,
                                               holdSeconds: holdSeconds))
        }
        return sets
    }

    private static func make(_ list: [MelAnalyzer], resamplers: [Resampler], owner: Int, lookahead: Int,
                             inputRate: Double, holdSeconds: Double) -> AnalyzerSet {
        precondition(resamplers.isEmpty || resamplers.count == list.count)
        let storage = UnsafeMutablePointer<Unmanaged<MelAnalyzer>>.allocate(capacity: max(1, list.count))
        for (index, analyzer) in list.enumerated() {
            // +1 retain, released in `destroy`: the realtime thread borrows without retaining.
            (storage + index).initialize(to: .passRetained(analyzer))
        }
        var resamplerStorage: UnsafeMutablePointer<Unmanaged<Resampler>>?
        var resampled: UnsafeMutablePointer<Float>?
        var resampledCapacity = 0
        if let first = resamplers.first {
            let pointers = UnsafeMutablePointer<Unmanaged<Resampler>>.allocate(capacity: resamplers.count)
            // +1 retain each, as for the analyzers.
            for (index, resampler) in resamplers.enumerated() { (pointers + index).initialize(to: .passRetained(resampler)) }
            resamplerStorage = pointers
            resampledCapacity = first.outputCapacity(forInputCount: realtimeMaximumBlockLength)
            resampled = .prefaulted(count: resampledCapacity, repeating: 0)
        }
        let analysisRate = list.first?.configuration.sampleRate ?? inputRate
        let span = list.first.map { $0.configuration.frameLength } ?? 0
        return AnalyzerSet(
            analyzers: storage, count: list.count, resamplers: resamplerStorage, resampled: resampled,
            resampledCapacity: resampledCapacity, resampleInputLimit: realtimeMaximumBlockLength,
            resamplerOwner: owner, inputRate: Int64(inputRate.rounded()),
            analysisRate: Int64(analysisRate.rounded()), lookahead: lookahead,
            frameSpan: span, holdSamples: holdSamples(seconds: holdSeconds, sampleRate: analysisRate),
            holdInputSamples: holdSamples(seconds: holdSeconds, sampleRate: inputRate))
    }

    /// Frees `count` sets made by `makeAll`.
    static func destroyAll(_ sets: UnsafeMutablePointer<AnalyzerSet>, count: Int) {
        for index in 0..<count {
            let set = sets + index
            for channel in 0..<set.pointee.count { set.pointee.analyzers[channel].release() }
            set.pointee.analyzers.deallocate()
            if let resamplers = set.pointee.resamplers {
                for channel in 0..<set.pointee.count { resamplers[channel].release() }
                resamplers.deallocate()
            }
            set.pointee.resampled?.deallocate()
        }
        sets.deinitialize(count: count)
        sets.deallocate()
    }

    /// Resets every analyzer and resampler: the next samples start a new stream. Not on the
    /// realtime thread (the analyzers' `reset` is not annotated); the client must be inactive.
    func resetAll() {
        for channel in 0..<count {
            analyzers[channel].takeUnretainedValue().reset()
            resamplers?[channel].takeUnretainedValue().reset()
        }
    }

    /// The JACK-frame offset from the stream start of analysis sample `index`: ⌊index ·
    /// inputRate / analysisRate⌋ (exact when the ratio is an integer, as at 48 → 16 kHz).
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    @inline(__always)
    func inputOffset(ofAnalysisSample index: Int64) -> Int64 {
        if inputRate == analysisRate { return index }
        return floorDivide(index * inputRate, analysisRate)
    }

    /// The first analysis sample at or after input offset `offset`: ⌈offset · analysisRate /
    /// inputRate⌉. Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    @inline(__always)
    func analysisIndex(ofInputOffset offset: Int64) -> Int64 {
        if inputRate == analysisRate { return offset }
        return -floorDivide(-offset * analysisRate, inputRate)
    }

    /// The analysis samples whose values depend on input samples [from, to) (input offsets from
    /// the stream start): the resampler's filter reaches `lookahead` input samples either side.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    @inline(__always)
    func analysisRange(ofInputRange from: Int64, _ to: Int64) -> (Int64, Int64) {
        if inputRate == analysisRate { return (from, to) }
        let reach = Int64(lookahead) + 1
        return (floorDivide((from - reach) * analysisRate, inputRate),
                analysisIndex(ofInputOffset: to + reach))
    }
}

/// ⌊a / b⌋ for b > 0 (Swift's `/` rounds toward zero).
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
@inline(__always)
func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && a < 0) ? q - 1 : q
}

/// Frames computed but not yet pushed, per channel: a FIFO of fixed slots, so that an xrun
/// reported after a frame was computed can still flag it (`JackClientOptions.xrunHold`).
/// With no hold, frames pass through it within the same callback.
///
/// Ownership: allocated and prefaulted by `JackClient.init`, freed by its deinit; touched only
/// by the realtime thread while a client is active.
struct FrameHold {
    /// Slots per channel.
    let capacity: Int
    /// Values per frame.
    let width: Int
    /// channels × capacity × width floats, channel-major.
    let values: UnsafeMutablePointer<Float>
    /// channels × capacity: frame time, raw flags, analyzer index of the first sample.
    let frameTime: UnsafeMutablePointer<Int64>
    let flags: UnsafeMutablePointer<UInt32>
    let firstSample: UnsafeMutablePointer<Int64>
    /// Per channel: slot of the oldest held frame, and how many are held.
    let oldest: UnsafeMutablePointer<Int>
    let count: UnsafeMutablePointer<Int>

    init(channels: Int, capacity: Int, width: Int) {
        self.capacity = capacity
        self.width = width
        let slots = channels * capacity
        values = .prefaulted(count: max(1, slots * width), repeating: 0)
        frameTime = .prefaulted(count: slots, repeating: 0)
        flags = .prefaulted(count: slots, repeating: 0)
        firstSample = .prefaulted(count: slots, repeating: 0)
        oldest = .prefaulted(count: channels, repeating: 0)
        count = .prefaulted(count: channels, repeating: 0)
    }

    func deallocate() {
        values.deallocate(); frameTime.deallocate(); flags.deallocate(); firstSample.deallocate()
        oldest.deallocate(); count.deallocate()
    }
}

/// Stretches of analyzer input marked damaged by xruns, in analyzer sample indices
/// (`RealtimeState.samplesFed` coordinates): the last `capacity`, oldest overwritten first.
struct DamageLog {
    static var capacity: Int { 8 }
    /// `capacity` half-open ranges [start, end); unused ones are [Int64.min, Int64.min), which no
    /// window overlaps (frames' first samples can be negative, inside the centre padding).
    let start: UnsafeMutablePointer<Int64>
    let end: UnsafeMutablePointer<Int64>

    init() {
        start = .prefaulted(count: Self.capacity, repeating: .min)
        end = .prefaulted(count: Self.capacity, repeating: .min)
    }

    func deallocate() { start.deallocate(); end.deallocate() }
}

/// Counters of one stream, written by the realtime thread, read by others (relaxed: reports).
struct LaneCounters: ~Copyable {
    /// Frames of this stream pushed into its ring.
    let frames = Atomic<UInt64>(0)
    /// Frames of this stream its ring had no room for.
    let drops = Atomic<UInt64>(0)
}

/// One stream's realtime state: its ring, hold, per-channel sequence numbers and flags, its
/// analysis-sample clock and its damage log. Preallocated by `JackClient.init`; written by the
/// realtime thread while a client is active, by the supervisor only while none is.
struct StreamLane {
    /// Destination ring; the JackClient keeps the object alive.
    let ring: Unmanaged<FrameRing>
    /// Computed frames waiting to be pushed.
    let hold: FrameHold
    /// Per channel: the next frame's sequence number.
    let sequence: UnsafeMutablePointer<UInt64>
    /// Per channel: flags for the next frame computed (raw `FrameFlags`: a new stream's flags).
    let pendingFlags: UnsafeMutablePointer<UInt32>
    /// Per channel: flags for the next frame pushed (`.gap` after a drop).
    let pushFlags: UnsafeMutablePointer<UInt32>
    /// Stretches damaged by xruns (in this stream's analysis samples), and the next slot.
    let damage: DamageLog
    var nextDamageSlot: Int = 0
    /// Analyzer input samples fed since the stream started (same for every channel), in this
    /// stream's analysis samples.
    var samplesFed: Int64 = 0
    /// Analysis-sample index at which the block times last jumped: frames whose first sample lies
    /// before it but complete after it span the jump and carry `.discontinuity`.
    var lastJumpIndex: Int64 = .min
    /// Analysis samples produced for the channel being processed, and the most for any channel
    /// in this block (scratch of one callback).
    var channelProduced: Int = 0
    var blockProduced: Int = 0
    /// Frames and drops of this stream.
    let counters: UnsafeMutablePointer<LaneCounters>

    init(ring: FrameRing, channels: Int, holdCapacity: Int) {
        self.ring = .passUnretained(ring)
        hold = FrameHold(channels: channels, capacity: holdCapacity, width: ring.width)
        sequence = .prefaulted(count: channels, repeating: 0)
        pendingFlags = .prefaulted(count: channels, repeating: 0)
        pushFlags = .prefaulted(count: channels, repeating: 0)
        damage = DamageLog()
        counters = .allocate(capacity: 1)
        counters.initialize(to: LaneCounters())
    }

    func deallocate() {
        hold.deallocate(); damage.deallocate()
        sequence.deallocate(); pendingFlags.deallocate(); pushFlags.deallocate()
        counters.deinitialize(count: 1)
        counters.deallocate()
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
    /// The analyzers in use: `laneCount` sets side by side, one per stream (`AnalyzerSet.makeAll`).
    var set: UnsafeMutablePointer<AnalyzerSet>
    /// `laneCount` streams' realtime state, in stream order.
    let lanes: UnsafeMutablePointer<StreamLane>
    let laneCount: Int
    /// The ring whose semaphore wakes the consumer (the first stream's): one wake per callback
    /// for all streams; the consumer watches every ring before it sleeps.
    let wakeRing: Unmanaged<FrameRing>
    /// Per channel: JACK frame time (64-bit) of the analyzers' input sample 0 (every stream
    /// starts at the same block).
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
    /// JACK samples (input samples) received since the stream started.
    var inputFed: Int64 = 0
    /// Whether to wake a sleeping consumer after pushing (false: it polls).
    let wakesConsumer: Bool
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
    static var discontinuity: UInt32 { 1 << 4 }

    static func check() {
        precondition(FrameFlags.gap.rawValue == gap && FrameFlags.xrun.rawValue == xrun
                     && FrameFlags.reconfigured.rawValue == reconfigured
                     && FrameFlags.serverRestart.rawValue == serverRestart
                     && FrameFlags.discontinuity.rawValue == discontinuity,
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

/// Whether a frame whose window is [first, first + span) overlaps a stretch in the damage log.
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
@inline(__always)
private func overlapsDamage(_ damage: DamageLog, first: Int64, span: Int64) -> Bool {
    for slot in 0..<DamageLog.capacity where first < damage.end[slot] && first + span > damage.start[slot] {
        return true
    }
    return false
}

/// An xrun was reported: marks the input [inputFed − lookback, inputFed + blockLength) damaged
/// in every stream (in each stream's analysis samples: every sample a resampler computes from that
/// input), and flags `.xrun` on every held frame whose window overlaps it. Frames computed later
/// are checked against the log as they complete.
///
/// JACK reports an xrun on the notification thread some time after the damaged cycle, so the
/// damage lies before the block in which the realtime thread learns of it. The lookback is the
/// xrun hold (frames older than that were pushed already and cannot be flagged), and at least
/// four periods, which covered every notification delay measured (see docs/realtime.md).
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
private func markXrunDamage(_ state: UnsafeMutablePointer<RealtimeState>, blockLength: Int) {
    let inputFed = state.pointee.inputFed
    for laneIndex in 0..<state.pointee.laneCount {
        let lane = state.pointee.lanes + laneIndex
        let set = state.pointee.set + laneIndex
        let lookback = Int64(max(set.pointee.holdInputSamples, 4 * blockLength))
        let (from, to) = set.pointee.analysisRange(ofInputRange: inputFed - lookback, inputFed + Int64(blockLength))
        let damage = lane.pointee.damage
        let slot = lane.pointee.nextDamageSlot
        damage.start[slot] = from
        damage.end[slot] = to
        lane.pointee.nextDamageSlot = (slot + 1) % DamageLog.capacity
        let hold = lane.pointee.hold
        let span = Int64(set.pointee.frameSpan)
        for channel in 0..<state.pointee.channelCount {
            let held = hold.count[channel]
            var index = 0
            while index < held {
                let slotIndex = channel * hold.capacity + (hold.oldest[channel] + index) % hold.capacity
                let first = hold.firstSample[slotIndex]
                if first < to && first + span > from { hold.flags[slotIndex] |= RawFlags.xrun }
                index += 1
            }
        }
    }
}

/// Clears a stream's damage log (a new stream restarts the sample indices at 0).
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
private func clearDamage(_ lane: UnsafeMutablePointer<StreamLane>) {
    let damage = lane.pointee.damage
    for slot in 0..<DamageLog.capacity {
        damage.start[slot] = .min
        damage.end[slot] = .min
    }
}

/// Pushes up to `limit` of the channel's held frames of one stream, oldest first: those whose
/// last sample is `holdSamples` or more behind the stream, or any with `ignoringAge`. A full ring
/// drops the frame, counts it and flags the channel's next pushed frame `.gap`. Returns the
/// frames pushed.
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
private func releaseHeld(_ state: UnsafeMutablePointer<RealtimeState>, lane laneIndex: Int, channel: Int,
                         limit: Int = .max, ignoringAge: Bool = false) -> Int {
    let lane = state.pointee.lanes + laneIndex
    let hold = lane.pointee.hold
    let set = state.pointee.set + laneIndex
    let shared = state.pointee.shared
    let counters = lane.pointee.counters
    let ring = lane.pointee.ring
    // A frame may go once the stream has moved `holdSamples` past its last sample.
    let releasable = lane.pointee.samplesFed - Int64(set.pointee.holdSamples) - Int64(set.pointee.frameSpan)
    var pushed = 0
    var released = 0
    while hold.count[channel] > 0 && released < limit {
        let slotIndex = channel * hold.capacity + hold.oldest[channel]
        if !ignoringAge && hold.firstSample[slotIndex] > releasable { break }
        released += 1
        let sequence = lane.pointee.sequence[channel]
        lane.pointee.sequence[channel] = sequence &+ 1
        let flags = hold.flags[slotIndex] | lane.pointee.pushFlags[channel]
        let values = UnsafePointer(hold.values + slotIndex * hold.width)
        let frameTime = hold.frameTime[slotIndex]
        // Relaxed counters: reports only.
        if ring._withUnsafeGuaranteedRef({
            $0.tryPush(sequence: sequence, channel: UInt32(channel), frameTime: frameTime, rawFlags: flags, values: values)
        }) {
            lane.pointee.pushFlags[channel] = 0
            shared.pointee.frames.add(1, ordering: .relaxed)
            counters.pointee.frames.add(1, ordering: .relaxed)
            if flags & RawFlags.xrun != 0 { shared.pointee.xrunFrames.add(1, ordering: .relaxed) }
            if flags & RawFlags.discontinuity != 0 { shared.pointee.discontinuityFrames.add(1, ordering: .relaxed) }
            pushed += 1
        } else {
            lane.pointee.pushFlags[channel] |= RawFlags.gap
            shared.pointee.drops.add(1, ordering: .relaxed)
            counters.pointee.drops.add(1, ordering: .relaxed)
        }
        hold.oldest[channel] = (hold.oldest[channel] + 1) % hold.capacity
        hold.count[channel] -= 1
    }
    return pushed
}

/// Feeds `count` analysis samples of `channel` to one stream's analyzer; each completed frame gets
/// its flags and JACK frame time and goes into the stream's hold. Returns the frames pushed early
/// because the hold was full.
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
@inline(__always)
private func analyse(_ state: UnsafeMutablePointer<RealtimeState>, lane laneIndex: Int, channel: Int,
                     _ samples: UnsafePointer<Float>, count: Int) -> Int {
    let lane = state.pointee.lanes + laneIndex
    let set = state.pointee.set + laneIndex
    let hold = lane.pointee.hold
    let damage = lane.pointee.damage
    let span = Int64(set.pointee.frameSpan)
    let shared = state.pointee.shared
    let analyzer = set.pointee.analyzers[channel]
    // Frames are numbered from the stream start; this block's samples follow `samplesFed`.
    var pushed = 0
    var offset = 0
    while offset < count {
        if hold.count[channel] == hold.capacity {
            // Never wait: push the oldest early (it may miss a late xrun flag; counted).
            shared.pointee.holdOverflows.add(1, ordering: .relaxed)
            pushed += releaseHeld(state, lane: laneIndex, channel: channel, limit: 1, ignoringAge: true)
        }
        let slotIndex = channel * hold.capacity + (hold.oldest[channel] + hold.count[channel]) % hold.capacity
        let step = analyzer._withUnsafeGuaranteedRef {
            $0.process(UnsafeBufferPointer(start: samples + offset, count: count - offset),
                       into: hold.values + slotIndex * hold.width)
        }
        offset += step.consumed
        if step.frameIndex >= 0 {
            let first = Int64(_unsafePerformance {
                analyzer._withUnsafeGuaranteedRef { $0.firstSample(ofFrame: step.frameIndex) }
            })
            var flags = lane.pointee.pendingFlags[channel]
            lane.pointee.pendingFlags[channel] = 0
            if first < lane.pointee.lastJumpIndex { flags |= RawFlags.discontinuity }  // spans a jump
            if overlapsDamage(damage, first: first, span: span) { flags |= RawFlags.xrun }
            // Frame time in JACK frames: the input instant of the frame's first analysis sample.
            hold.frameTime[slotIndex] = state.pointee.streamStart[channel]
                + set.pointee.inputOffset(ofAnalysisSample: first)
            hold.flags[slotIndex] = flags
            hold.firstSample[slotIndex] = first
            hold.count[channel] += 1
        }
        if step.consumed == 0 && step.frameIndex < 0 { break }  // defensive: never spin
    }
    return pushed
}

/// The body of the JACK process callback: for each channel, resamples the block once per distinct
/// analysis rate (the rate group's owner stream converts it, the other streams at that rate read
/// the same buffer), feeds every stream's analyzer, flags the completed frames, holds them for the
/// xrun hold, pushes the ones that are due into each stream's ring, and wakes the consumer at most
/// once.
/// Real-time safe: no allocation or locks. System calls: at most one `sem_post` per callback, and
/// only when the consumer announced it is asleep (`FrameRing.wakeConsumerIfWaiting`);
/// `clock_gettime` is a vDSO call.
@_noAllocation @_noLocks
func realtimeProcess(_ state: UnsafeMutablePointer<RealtimeState>, blockLength: UInt32) {
    let hooks = state.pointee.hooks
    _unsafePerformance { hooks.enter?() }
    let started = monotonicNanoseconds()
    let shared = state.pointee.shared
    let count = Int(blockLength)
    let channelCount = state.pointee.channelCount
    let laneCount = state.pointee.laneCount
    let lanes = state.pointee.lanes
    var pushed = 0

    // Adopt new analyzer sets without waiting. Acquiring: the sets were fully built before they
    // were published; releasing: our last use of the old sets happens before the supervisor frees
    // them.
    let pending = shared.pointee.pendingSet.exchange(0, ordering: .acquiringAndReleasing)
    if pending != 0, let adopted = UnsafeMutablePointer<AnalyzerSet>(bitPattern: pending) {
        // Frames held from the old sets go out first, at the stream start below.
        let old = state.pointee.set
        state.pointee.set = adopted
        state.pointee.needsStreamStart = true
        state.pointee.streamStartFlags |= RawFlags.reconfigured | RawFlags.discontinuity
        shared.pointee.retiredSet.store(Int(bitPattern: old), ordering: .releasing)
    }

    let client = state.pointee.client
    let now = _unsafePerformance { jack_last_frame_time(client) }
    let start = blockStart(state, now: now)
    if state.pointee.needsStreamStart {
        // A new timeline: frames held from before it (a server restart, the old analyzer sets)
        // go out first, unchanged.
        for lane in 0..<laneCount {
            for channel in 0..<channelCount { pushed += releaseHeld(state, lane: lane, channel: channel, ignoringAge: true) }
        }
        state.pointee.needsStreamStart = false
        for channel in 0..<channelCount { state.pointee.streamStart[channel] = start }
        for lane in 0..<laneCount {
            for channel in 0..<channelCount { lanes[lane].pendingFlags[channel] |= state.pointee.streamStartFlags }
            lanes[lane].samplesFed = 0
            lanes[lane].lastJumpIndex = .min
            clearDamage(lanes + lane)
        }
        state.pointee.inputFed = 0
        state.pointee.streamStartFlags = 0
    } else if start != state.pointee.expectedBlockStart {
        // The block clock jumped: a missed cycle, or jack2 restamping the first block after a
        // buffer-size change (previous start + new period). The analyzer input stays contiguous;
        // later frames follow JACK's clock, and frames whose windows span the jump carry
        // `.discontinuity` (see `lastJumpIndex`).
        let jump = start - state.pointee.expectedBlockStart
        for channel in 0..<channelCount { state.pointee.streamStart[channel] += jump }
        for lane in 0..<laneCount {
            lanes[lane].lastJumpIndex = state.pointee.set[lane].analysisIndex(ofInputOffset: state.pointee.inputFed)
        }
        shared.pointee.discontinuities.add(1, ordering: .relaxed)
    }
    state.pointee.expectedBlockStart = start + Int64(count)
    // Relaxed: a notification flag, no data travels with it.
    if shared.pointee.pendingXrun.exchange(false, ordering: .relaxed) {
        markXrunDamage(state, blockLength: count)
    }

    let sets = state.pointee.set
    let limit = sets.pointee.resampleInputLimit  // the same in every set
    for lane in 0..<laneCount { lanes[lane].blockProduced = 0 }
    for channel in 0..<channelCount {
        let port = state.pointee.ports[channel]
        let raw = _unsafePerformance { jack_port_get_buffer(port, blockLength) }
        guard let raw else { continue }
        let samples = raw.assumingMemoryBound(to: Float.self)
        for lane in 0..<laneCount { lanes[lane].channelProduced = 0 }
        // In pieces the resamplers' scratch buffers are sized for (periods above JACK's 8192
        // only); resamplers and analyzers are chunk-invariant, so the split changes nothing.
        var offset = 0
        while offset < count {
            let piece = min(count - offset, limit)
            for lane in 0..<laneCount {
                let set = sets + lane
                guard channel < set.pointee.count else { continue }
                let owner = set.pointee.resamplerOwner
                if owner < 0 {
                    pushed += analyse(state, lane: lane, channel: channel, UnsafePointer(samples + offset), count: piece)
                    lanes[lane].channelProduced += piece
                    continue
                }
                let ownerSet = sets + owner
                guard let resampled = ownerSet.pointee.resampled else { continue }
                var made = 0
                if owner == lane, let resamplers = set.pointee.resamplers {
                    // To this rate group's analysis rate, once for every stream at this rate.
                    let capacity = set.pointee.resampledCapacity
                    made = resamplers[channel]._withUnsafeGuaranteedRef {
                        $0.process(UnsafeBufferPointer(start: samples + offset, count: piece), into: resampled,
                                   capacity: capacity)
                    }
                    lanes[lane].channelProduced += made
                } else {
                    // The owner (an earlier stream) converted this piece just now.
                    made = lanes[owner].channelProduced - lanes[lane].channelProduced
                    lanes[lane].channelProduced = lanes[owner].channelProduced
                }
                pushed += analyse(state, lane: lane, channel: channel, UnsafePointer(resampled), count: made)
            }
            offset += piece
        }
        for lane in 0..<laneCount { lanes[lane].blockProduced = max(lanes[lane].blockProduced, lanes[lane].channelProduced) }
    }
    for lane in 0..<laneCount {
        lanes[lane].samplesFed += Int64(lanes[lane].blockProduced)
        for channel in 0..<min(channelCount, sets[lane].count) {
            pushed += releaseHeld(state, lane: lane, channel: channel)
        }
    }
    state.pointee.inputFed += Int64(count)
    if pushed > 0 && state.pointee.wakesConsumer { state.pointee.wakeRing._withUnsafeGuaranteedRef { $0.wakeConsumerIfWaiting() } }
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

extension UnsafeMutablePointer {
    /// Allocates `count` elements and writes `value` into every one, so each page is touched
    /// (prefaulted) before the realtime thread reads or writes it. Not real-time safe: call it
    /// while building state, before activation or on the supervisor thread.
    static func prefaulted(count: Int, repeating value: Pointee) -> UnsafeMutablePointer {
        let pointer = allocate(capacity: count)
        pointer.initialize(repeating: value, count: count)
        return pointer
    }
}
