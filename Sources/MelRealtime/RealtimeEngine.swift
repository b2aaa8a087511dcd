import Glibc
import MelDSP
import MelResample
import MelTransport
import Synchronization

/// The realtime engine: what the audio callback does, with no JACK in it. The host (the JACK
/// callbacks in MelJack, or a test's `EmbeddedDriver`) passes each block's input buffers and the
/// server's 32-bit frame time of its first sample to `process(buffers:blockStart:count:)`, and
/// forwards the server's events (`noteXrun`, `noteBlockLength`, `noteSampleRate`,
/// `noteServerGone`). The engine feeds every stream's analyzers (through the stream's rate
/// group's resamplers), flags the frames (`.xrun` damage spans, the xrun hold, `.discontinuity`,
/// `.gap`, `.reconfigured` and `.serverRestart` epochs) and pushes them into the streams' rings.
///
/// A handle: it points at `EngineState` and owns nothing by itself. Must be disposed: the builder
/// calls `destroy()` once no thread runs the engine any more. The rings stay the builder's.
///
/// Threads: `process` and `noteBlockLength` on the realtime thread; the other `note…` on any
/// thread (JACK's notification thread); `offer`, `collectRetired`, `prepareForNewServer` and
/// `destroy` on the supervisor thread.
package struct RealtimeEngine: @unchecked Sendable {
    /// Everything `process` reads and writes; see `EngineState`.
    package let state: UnsafeMutablePointer<EngineState>

    /// The atomics shared with other threads.
    package var shared: UnsafeMutablePointer<RealtimeShared> { state.pointee.shared }

    /// Builds and prefaults everything `process` touches, for `streams.count` streams of
    /// `channelCount` channels each: stream `i` analyses into `rings[i]`.
    ///
    /// - Parameters:
    ///   - streams: every stream's analyzers (one per channel) and resamplers (`AnalyzerSet.makeParts`).
    ///   - inputRate: the server's sample rate, Hz.
    ///   - holdSeconds: the xrun hold (`JackClientOptions.xrunHold`), seconds.
    ///   - wakesConsumer: whether `process` wakes a sleeping consumer of the first ring.
    ///   - spreadFrames: whether a block computes at most a budget of frames and leaves the rest
    ///     for the start of the next block (see `EngineState.spreadFrames`).
    package init(streams: [AnalyzerSet.Parts], rings: [FrameRing], channelCount: Int, inputRate: Double,
                 holdSeconds: Double, wakesConsumer: Bool, spreadFrames: Bool = RealtimeEngine.spreadFramesByDefault) {
        precondition(!streams.isEmpty && streams.count == rings.count, "one ring per stream")
        RawFlags.check()
        let shared = UnsafeMutablePointer<RealtimeShared>.allocate(capacity: 1)
        shared.initialize(to: RealtimeShared())
        // Relaxed: no other thread sees `shared` before this initialiser returns.
        shared.pointee.serverSampleRate.store(UInt32(inputRate), ordering: .relaxed)
        let lanes = UnsafeMutablePointer<StreamLane>.allocate(capacity: streams.count)
        for (index, parts) in streams.enumerated() {
            let configuration = parts.analyzers[0].configuration
            // Room for every frame completed within the hold, plus one largest period's frames (in
            // analysis samples: a resampler may emit more than it reads).
            let holdSamples = AnalyzerSet.holdSamples(seconds: holdSeconds, sampleRate: configuration.sampleRate)
            let owner = parts.resamplerOwner
            let largestAnalysedBlock = (owner >= 0 ? streams[owner].resamplers.first : nil)?
                .outputCapacity(forInputCount: realtimeMaximumBlockLength) ?? realtimeMaximumBlockLength
            let holdCapacity = (holdSamples + largestAnalysedBlock) / configuration.hopLength + 2
            (lanes + index).initialize(to: StreamLane(ring: rings[index], channels: channelCount,
                                                      holdCapacity: holdCapacity,
                                                      backlogCapacity: spreadFrames ? largestAnalysedBlock : 0))
        }
        state = .allocate(capacity: 1)
        state.initialize(to: EngineState(
            channelCount: channelCount,
            set: AnalyzerSet.makeAll(streams, inputRate: inputRate, holdSeconds: holdSeconds),
            lanes: lanes, laneCount: streams.count, wakeRing: .passUnretained(rings[0]),
            streamStart: .prefaulted(count: channelCount, repeating: 0), wakesConsumer: wakesConsumer,
            spreadFrames: spreadFrames, shared: shared))
    }

    /// Whether engines spread frame bursts (`spreadFrames`) unless told otherwise: yes, unless the
    /// environment sets `MELTAP_SPREAD_FRAMES=0` (for measuring the difference). Read when an
    /// engine is built, never on the realtime thread.
    package static var spreadFramesByDefault: Bool {
        guard let value = getenv("MELTAP_SPREAD_FRAMES") else { return true }
        return String(cString: value) != "0"
    }

    /// Whether this engine spreads frame bursts (`EngineState.spreadFrames`); fixed at `init`.
    package var spreadsFrames: Bool { state.pointee.spreadFrames }

    /// Frees everything `init` built, and any analyzer sets still in the handshake. No thread may
    /// run the engine any more.
    package func destroy() {
        let laneCount = state.pointee.laneCount
        AnalyzerSet.destroyAll(state.pointee.set, count: laneCount)
        let shared = state.pointee.shared
        // Acquiring: pairs with the releasing stores that published or retired these sets.
        for handshake in [shared.pointee.pendingSet.exchange(0, ordering: .acquiring),
                          shared.pointee.retiredSet.exchange(0, ordering: .acquiring)] where handshake != 0 {
            AnalyzerSet.destroyAll(UnsafeMutablePointer<AnalyzerSet>(bitPattern: handshake)!, count: laneCount)
        }
        state.pointee.streamStart.deallocate()
        for lane in 0..<laneCount { state.pointee.lanes[lane].deallocate() }
        state.pointee.lanes.deinitialize(count: laneCount)
        state.pointee.lanes.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
        shared.deinitialize(count: 1)
        shared.deallocate()
    }

    // MARK: Realtime thread

    /// Processes one block (one JACK period) of every channel.
    ///
    /// - Parameters:
    ///   - buffers: `channelCount` pointers to `count` samples each, channel order; a nil channel is
    ///     skipped (as when JACK has no buffer for a port).
    ///   - blockStart: the server's frame time of the block's first sample (`jack_last_frame_time`),
    ///     32 bits, wrapping; the engine extends it to 64 bits and notices jumps.
    ///   - count: the block length in samples (JACK's `nframes`).
    /// Real-time safe: no allocation or locks. System calls: at most one `sem_post` per block, and
    /// only when the consumer announced it is asleep.
    @_noAllocation @_noLocks
    package func process(buffers: UnsafePointer<UnsafePointer<Float>?>, blockStart: UInt32, count: Int) {
        processBlock(state, buffers: buffers, now: blockStart, count: count)
    }

    /// The period changed to `blockLength` samples (JACK's buffer-size callback, which jack2 runs on
    /// the realtime thread): records it for reports only, since everything is sized for
    /// `realtimeMaximumBlockLength` and `process` gets each block's length.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    package func noteBlockLength(_ blockLength: UInt32) {
        let shared = state.pointee.shared
        // Relaxed: a reported number; `process` gets the length as its argument.
        shared.pointee.blockLength.store(blockLength, ordering: .relaxed)
        if blockLength > shared.pointee.largestBlockLength.load(ordering: .relaxed) {
            shared.pointee.largestBlockLength.store(blockLength, ordering: .relaxed)
        }
        if Int(blockLength) > realtimeMaximumBlockLength {
            shared.pointee.oversizedBlocks.add(1, ordering: .relaxed)
        }
    }

    // MARK: Notification thread

    /// The server reported an xrun: count it, and make the next block mark the recent input
    /// damaged (`markXrunDamage`). Any thread; no allocation or locks.
    package func noteXrun() {
        let shared = state.pointee.shared
        // Relaxed, both: a counter for reports, and a notification flag no data travels with.
        shared.pointee.xruns.add(1, ordering: .relaxed)
        shared.pointee.pendingXrun.store(true, ordering: .relaxed)
    }

    /// The server's sample rate changed to `rate` Hz: the supervisor, woken here, builds analyzers
    /// for it and `offer`s them. Any thread but the realtime one (`sem_post`).
    package func noteSampleRate(_ rate: UInt32) {
        let shared = state.pointee.shared
        // Relaxed: the supervisor reads it after its wake-up; no data travels with it.
        shared.pointee.serverSampleRate.store(rate, ordering: .relaxed)
        shared.pointee.wakeSupervisor()
    }

    /// The server went away: only set a flag and wake the supervisor. Any thread but the realtime one.
    package func noteServerGone() {
        let shared = state.pointee.shared
        // Releasing: pairs with the supervisor's acquiring exchange.
        shared.pointee.serverGone.store(true, ordering: .releasing)
        shared.pointee.wakeSupervisor()
    }

    // MARK: Supervisor thread

    /// Hands new analyzer sets (`AnalyzerSet.makeAll`, one per stream) to the engine. `running`:
    /// a realtime thread runs `process`, and adopts them at its next block without waiting (if a
    /// set is already pending, the caller must wait for it to be adopted and collected first).
    /// Otherwise they replace the current sets at once. Either way the next frames start a new
    /// stream flagged `.reconfigured|.discontinuity`; frames held from the old sets go out first.
    package func offer(_ sets: UnsafeMutablePointer<AnalyzerSet>, running: Bool) {
        if running {
            // Releasing: the sets are fully built before the realtime thread can see them.
            shared.pointee.pendingSet.store(Int(bitPattern: sets), ordering: .releasing)
        } else {
            drainBacklogs(state)  // the old sets' deferred frames first
            AnalyzerSet.destroyAll(state.pointee.set, count: state.pointee.laneCount)
            state.pointee.set = sets
            state.pointee.needsStreamStart = true
            state.pointee.streamStartFlags |= RawFlags.reconfigured | RawFlags.discontinuity
        }
    }

    /// Whether sets handed over by `offer` wait to be adopted or collected.
    package var handshakeBusy: Bool {
        // Acquiring: pairs with the releasing stores of `offer` and of the realtime thread.
        shared.pointee.pendingSet.load(ordering: .acquiring) != 0
            || shared.pointee.retiredSet.load(ordering: .acquiring) != 0
    }

    /// Frees the analyzer sets the realtime thread has let go of, if any.
    package func collectRetired() {
        // Acquiring: pairs with the realtime thread's releasing store; its last use is done.
        let retired = shared.pointee.retiredSet.exchange(0, ordering: .acquiring)
        if retired != 0 {
            AnalyzerSet.destroyAll(UnsafeMutablePointer<AnalyzerSet>(bitPattern: retired)!, count: state.pointee.laneCount)
        }
    }

    /// A server came back after `noteServerGone`, and no thread runs `process`: adopts sets still
    /// pending, resets every analyzer and resampler, and makes the next block start a new stream
    /// in a new frame-time epoch, flagged `.serverRestart|.discontinuity` (sequence numbers
    /// continue; frames still held go out first, unchanged).
    /// `JackClient.reconnectAfterShutdown` calls it; `EmbeddedDriver.restartServer` too.
    package func prepareForNewServer(sampleRate: UInt32) {
        // Frames the last block deferred belong to the old server's timeline: computed now, they
        // go out first at the new stream start, like the held ones.
        drainBacklogs(state)
        collectRetired()
        // Acquiring: pairs with `offer`'s releasing store; the pending sets are fully built.
        let pending = shared.pointee.pendingSet.exchange(0, ordering: .acquiring)
        if pending != 0 {
            AnalyzerSet.destroyAll(state.pointee.set, count: state.pointee.laneCount)
            state.pointee.set = UnsafeMutablePointer<AnalyzerSet>(bitPattern: pending)!
        }
        for lane in 0..<state.pointee.laneCount { state.pointee.set[lane].resetAll() }
        state.pointee.needsStreamStart = true
        state.pointee.streamStartFlags |= RawFlags.serverRestart | RawFlags.discontinuity
        state.pointee.expectedBlockStart = -1
        // Relaxed: the supervisor itself reads it next; no data travels with it.
        shared.pointee.serverSampleRate.store(sampleRate, ordering: .relaxed)
    }
}

/// Everything the engine's `process` reads and writes, preallocated by `RealtimeEngine.init`.
///
/// Plain values and pointers only (no class references, no arrays), so the realtime path does no
/// reference counting and no exclusivity checks. Written by the realtime thread while the engine
/// runs; by the supervisor only while it does not.
package struct EngineState {
    /// Input channels (ports); every stream analyses all of them.
    package let channelCount: Int
    /// The analyzers in use: `laneCount` sets side by side, one per stream (`AnalyzerSet.makeAll`).
    package var set: UnsafeMutablePointer<AnalyzerSet>
    /// `laneCount` streams' realtime state, in stream order.
    package let lanes: UnsafeMutablePointer<StreamLane>
    package let laneCount: Int
    /// The ring whose semaphore wakes the consumer (the first stream's): one wake per block for
    /// all streams; the consumer watches every ring before it sleeps.
    let wakeRing: Unmanaged<FrameRing>
    /// Per channel: server frame time (64-bit) of the analyzers' input sample 0 (every stream
    /// starts at the same block).
    let streamStart: UnsafeMutablePointer<Int64>
    /// The next block starts a new stream (after activation, restart, reconfiguration).
    package var needsStreamStart: Bool = true
    /// Flags to put on every channel's first frame of the new stream.
    package var streamStartFlags: UInt32 = 0
    /// Frame time extended to 64 bits: last 32-bit value seen and its extension.
    var lastFrameTime32: UInt32 = 0
    var frameTime64: Int64 = 0
    /// Expected frame time of the next block start (previous start + length), -1 before the first.
    package var expectedBlockStart: Int64 = -1
    /// Input samples (server frames) received since the stream started.
    var inputFed: Int64 = 0
    /// Whether to wake a sleeping consumer after pushing (false: it polls).
    let wakesConsumer: Bool
    /// Frame-burst spreading. Every channel of a stream completes its frames in the same block
    /// (they share the block clock), so with many channels one block in every few computes
    /// channels × streams frames and the others almost none: the callback's p99.9 is that burst.
    /// With spreading on, a block computes frames only while `frameBudget` lasts (twice the
    /// block's average, at least `realtimeMinimumFrameBudget`), keeps the rest of its analysis samples in
    /// each lane's backlog, and the next block analyses those first, before anything else, so
    /// every frame is the same frame with the same time and flags as without spreading, pushed at
    /// most one period later. (A deferred frame may carry `.xrun` where an undeferred one,
    /// already pushed with no hold, could not: the damage is the same.)
    let spreadFrames: Bool
    /// Frames this block may still compute (scratch of one block; `spreadFrames` only).
    var frameBudget: Int = .max
    /// Frames computed in this block so far (for `RealtimeShared.largestFrameBurst`).
    var framesThisBlock: Int = 0
    /// Shared atomics.
    package let shared: UnsafeMutablePointer<RealtimeShared>

    init(channelCount: Int, set: UnsafeMutablePointer<AnalyzerSet>, lanes: UnsafeMutablePointer<StreamLane>,
         laneCount: Int, wakeRing: Unmanaged<FrameRing>, streamStart: UnsafeMutablePointer<Int64>,
         wakesConsumer: Bool, spreadFrames: Bool, shared: UnsafeMutablePointer<RealtimeShared>) {
        self.channelCount = channelCount
        self.set = set
        self.lanes = lanes
        self.laneCount = laneCount
        self.wakeRing = wakeRing
        self.streamStart = streamStart
        self.wakesConsumer = wakesConsumer
        self.spreadFrames = spreadFrames
        self.shared = shared
    }
}

// The computed constants the realtime functions below read live in this file: the performance
// checker sees only the bodies in the file it compiles (in debug builds), and these are not
// annotated.

/// `FrameFlags` raw values as literals: the `static let`s of another module are lazily
/// initialised and not inlinable, so the realtime path must not touch them. `check()` (called by
/// whoever builds an engine) proves that these match.
package enum RawFlags {
    package static var gap: UInt32 { 1 << 0 }
    package static var xrun: UInt32 { 1 << 1 }
    package static var reconfigured: UInt32 { 1 << 2 }
    package static var serverRestart: UInt32 { 1 << 3 }
    package static var discontinuity: UInt32 { 1 << 4 }

    /// Stops the program when these literals disagree with `FrameFlags`.
    package static func check() {
        precondition(FrameFlags.gap.rawValue == gap && FrameFlags.xrun.rawValue == xrun
                     && FrameFlags.reconfigured.rawValue == reconfigured
                     && FrameFlags.serverRestart.rawValue == serverRestart
                     && FrameFlags.discontinuity.rawValue == discontinuity,
                     "MelRealtime.RawFlags is out of date with MelTransport.FrameFlags")
    }
}

/// The largest period, in samples, everything is sized for (JACK's own maximum). Computed, not a
/// global `let` (which the realtime path would initialise lazily through `swift_once`).
package var realtimeMaximumBlockLength: Int { MelConfiguration.maximumBlockLength }

/// The fewest frames a block may compute before the frame budget defers any (`spreadFrames`):
/// small configurations (a few channels and streams) never defer.
package var realtimeMinimumFrameBudget: Int { 16 }

/// Stretches of analyzer input marked damaged by xruns, in analyzer sample indices
/// (`StreamLane.samplesFed` coordinates): the last `capacity`, oldest overwritten first.
package struct DamageLog {
    package static var capacity: Int { 8 }
    /// `capacity` half-open ranges [start, end); unused ones are [Int64.min, Int64.min), which no
    /// window overlaps (frames' first samples can be negative, inside the centre padding).
    package let start: UnsafeMutablePointer<Int64>
    package let end: UnsafeMutablePointer<Int64>

    init() {
        start = .prefaulted(count: Self.capacity, repeating: .min)
        end = .prefaulted(count: Self.capacity, repeating: .min)
    }

    func deallocate() { start.deallocate(); end.deallocate() }
}

/// Extends a 32-bit JACK frame time to 64 bits and tracks block continuity.
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
@inline(__always)
private func blockStart(_ state: UnsafeMutablePointer<EngineState>, now: UInt32) -> Int64 {
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
private func markXrunDamage(_ state: UnsafeMutablePointer<EngineState>, blockLength: Int) {
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
private func releaseHeld(_ state: UnsafeMutablePointer<EngineState>, lane laneIndex: Int, channel: Int,
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
/// its flags and JACK frame time and goes into the stream's hold. With `budgeted`, stops before
/// feeding more once the block's frame budget is spent. Returns the frames pushed early because
/// the hold was full, and the samples consumed (all of them unless `budgeted`).
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
@inline(__always)
private func analyse(_ state: UnsafeMutablePointer<EngineState>, lane laneIndex: Int, channel: Int,
                     _ samples: UnsafePointer<Float>, count: Int, budgeted: Bool = false) -> (pushed: Int, consumed: Int) {
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
        if budgeted && state.pointee.frameBudget <= 0 { break }
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
            state.pointee.frameBudget -= 1
            state.pointee.framesThisBlock += 1
        }
        if step.consumed == 0 && step.frameIndex < 0 { break }  // defensive: never spin
    }
    return (pushed, offset)
}

/// Feeds one piece of a block to a stream's analyzer under the frame budget (`spreadFrames`): what
/// the budget leaves, and everything after it in this block, goes to the lane's backlog for the
/// next block. Returns the frames pushed early (hold full).
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
@inline(__always)
private func feed(_ state: UnsafeMutablePointer<EngineState>, lane laneIndex: Int, channel: Int,
                  _ samples: UnsafePointer<Float>, count: Int) -> Int {
    guard state.pointee.spreadFrames else {
        return analyse(state, lane: laneIndex, channel: channel, samples, count: count).pushed
    }
    let lane = state.pointee.lanes + laneIndex
    let waiting = lane.pointee.backlogCount[channel]
    let capacity = lane.pointee.backlogCapacity
    if waiting + count > capacity {
        // A period beyond the one the backlog is sized for: analyse it all now, in order.
        let pushed = drainBacklog(state, lane: laneIndex, channel: channel)
        return pushed + analyse(state, lane: laneIndex, channel: channel, samples, count: count).pushed
    }
    var pushed = 0
    var consumed = 0
    if waiting == 0 {
        let step = analyse(state, lane: laneIndex, channel: channel, samples, count: count, budgeted: true)
        pushed = step.pushed
        consumed = step.consumed
        if consumed < count { state.pointee.shared.pointee.deferredFeeds.add(1, ordering: .relaxed) }
    }
    if consumed < count {
        // Relaxed counter above: a report. The samples keep their order behind earlier ones.
        let destination = lane.pointee.backlog + channel * capacity + lane.pointee.backlogCount[channel]
        let source = samples + consumed
        for index in 0..<(count - consumed) { destination[index] = source[index] }
        lane.pointee.backlogCount[channel] += count - consumed
    }
    return pushed
}

/// Analyses every sample one channel's backlog holds (no budget) and empties it. Returns the
/// frames pushed early (hold full).
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
private func drainBacklog(_ state: UnsafeMutablePointer<EngineState>, lane laneIndex: Int, channel: Int) -> Int {
    let lane = state.pointee.lanes + laneIndex
    let waiting = lane.pointee.backlogCount[channel]
    guard waiting > 0 else { return 0 }
    lane.pointee.backlogCount[channel] = 0
    let samples = UnsafePointer(lane.pointee.backlog + channel * lane.pointee.backlogCapacity)
    return analyse(state, lane: laneIndex, channel: channel, samples, count: waiting).pushed
}

/// Analyses every backlog the previous block left (`spreadFrames`), with that block's clocks:
/// called before anything else in a block, and by the supervisor before sets change or a new
/// server starts. Returns the frames pushed early (hold full).
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
@discardableResult
private func drainBacklogs(_ state: UnsafeMutablePointer<EngineState>) -> Int {
    guard state.pointee.spreadFrames else { return 0 }
    var pushed = 0
    for lane in 0..<state.pointee.laneCount {
        let channels = min(state.pointee.channelCount, state.pointee.set[lane].count)
        for channel in 0..<channels { pushed += drainBacklog(state, lane: lane, channel: channel) }
    }
    return pushed
}

/// One block: for each channel, resamples the block once per distinct analysis rate (the rate group's owner stream converts it, the other streams at that rate read
/// the same buffer), feeds every stream's analyzer, flags the completed frames, holds them for the
/// xrun hold, pushes the ones that are due into each stream's ring, and wakes the consumer at most
/// once.
/// Real-time safe: no allocation or locks. System calls: at most one `sem_post` per block, and
/// only when the consumer announced it is asleep (`FrameRing.wakeConsumerIfWaiting`).
@_noAllocation @_noLocks
private func processBlock(_ state: UnsafeMutablePointer<EngineState>, buffers: UnsafePointer<UnsafePointer<Float>?>,
                          now: UInt32, count: Int) {
    let shared = state.pointee.shared
    let channelCount = state.pointee.channelCount
    let laneCount = state.pointee.laneCount
    let lanes = state.pointee.lanes
    var pushed = 0

    // The previous block's deferred analysis first, with its clocks and sets (`spreadFrames`).
    state.pointee.framesThisBlock = 0
    state.pointee.frameBudget = .max
    pushed += drainBacklogs(state)

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
    if state.pointee.spreadFrames {
        // Twice the frames this block brings on average (every channel of every stream), less
        // what the backlog already cost.
        var expected = 0.0
        for lane in 0..<laneCount {
            let set = sets + lane
            expected += Double(min(channelCount, set.pointee.count)) * Double(count) * Double(set.pointee.analysisRate)
                / (Double(set.pointee.inputRate) * Double(set.pointee.hopLength))
        }
        let budget = max(realtimeMinimumFrameBudget, Int(2 * expected) + 1)
        state.pointee.frameBudget = budget - state.pointee.framesThisBlock
    }
    for lane in 0..<laneCount { lanes[lane].blockProduced = 0 }
    for channel in 0..<channelCount {
        guard let samples = buffers[channel] else { continue }
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
                    pushed += feed(state, lane: lane, channel: channel, samples + offset, count: piece)
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
                pushed += feed(state, lane: lane, channel: channel, UnsafePointer(resampled), count: made)
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
    let burst = UInt64(state.pointee.framesThisBlock)
    // Relaxed: a report, written by this thread only.
    if burst > shared.pointee.largestFrameBurst.load(ordering: .relaxed) {
        shared.pointee.largestFrameBurst.store(burst, ordering: .relaxed)
    }
    if pushed > 0 && state.pointee.wakesConsumer { state.pointee.wakeRing._withUnsafeGuaranteedRef { $0.wakeConsumerIfWaiting() } }
    shared.pointee.blocks.add(1, ordering: .relaxed)
}
