/// What one call to `process` did.
public struct MelStep: Sendable, Equatable {
    /// Input samples consumed by this call.
    public var consumed: Int
    /// The index of the frame written to the output buffer, or -1 when none was completed.
    public var frameIndex: Int

    public init(consumed: Int, frameIndex: Int) {
        self.consumed = consumed
        self.frameIndex = frameIndex
    }
}

/// How the non-causal clamps (`top_db`, Whisper's max − 8) are applied.
public enum ClampRule: String, Codable, Sendable {
    /// Clamp at the running maximum over the frames so far: causal, used live.
    case running
    /// Emit unclamped values; `OfflineFinisher` clamps at the global maximum at the end
    /// (the reference's offline result).
    case deferred
}

/// The streaming mel analyzer for one channel: overlap buffer → window → FFT → power → mel →
/// output stage, one frame per completed hop. The analyzer is the streaming driver (framing,
/// padding, flush); the per-frame work is a `FloatFrameComputer`, for the micro preset the
/// TFLite-Micro integer frontend (`MicroFrontend`, framing `none`, no tail frames at flush), or
/// for the openwakeword preset `OpenWakeWordFrontend` (framing `none`; it holds 7 frames for its
/// per-group floor, so frame k is returned by the step that completes frame k + 7, and `flush`
/// hands out the held frames of the last complete group).
///
/// Life cycle (aubio's create / do / destroy): `init` validates the configuration, plans the
/// FFT and allocates and touches every buffer; `process` and `flush` never allocate; deinit
/// frees. Frames are identical however the input is split into blocks: the overlap buffer
/// holds exactly one frame of padded signal, and a frame is computed the moment its last
/// sample arrives.
///
/// Not thread-safe: one thread feeds one analyzer.
public final class MelAnalyzer: @unchecked Sendable {
    public let configuration: MelConfiguration
    public let clampRule: ClampRule
    /// Values per emitted frame (with `.deferred` MFCC: the dB bands, see `OfflineFinisher`).
    public let frameWidth: Int

    // Geometry, in samples.
    /// Frame length F: n_fft (librosa style) or win_length (Kaldi style, micro).
    private let frameLength: Int
    private let hopLength: Int
    /// Padding before sample 0 in the padded stream.
    private let leftPadding: Int
    /// Input samples needed before the left padding can be written (reflect needs x[1…p]).
    private let preludeLength: Int
    /// Kaldi's symmetric reflection (edge repeated) rather than reflect (edge not repeated).
    private let symmetricReflection: Bool

    // Preallocated buffers, owned, freed in deinit.
    /// Overlap buffer: 2F floats; sample at padded index q lives at q mod F and q mod F + F, so
    /// the last F samples are always contiguous.
    private let ring: UnsafeMutablePointer<Float>
    /// Input samples held back until the left padding can be built (prelude), then replayed.
    private let prelude: UnsafeMutablePointer<Float>
    /// Right-padding samples built at flush (at most F).
    private let padding: UnsafeMutablePointer<Float>

    /// The per-frame computer: the float pipeline, or the micro preset's integer frontend.
    private let computer: FrameComputer
    /// Keeps the float pipeline's plan, tables and scratch alive (openwakeword's too), possibly
    /// shared with other analyzers of the same stream; nil for micro.
    private let workspace: FrameWorkspace?
    /// The plan, tables and scratch this analyzer computes with, to lend to the other analyzers of
    /// its stream (`init(configuration:clampRule:sharedWorkspace:)`); nil for micro.
    public var frameWorkspace: FrameWorkspace? { workspace }
    private let state: UnsafeMutablePointer<FramerState>

    /// Streaming position; plain data behind a pointer so the hot path has no exclusivity checks.
    private struct FramerState {
        /// Padded samples written to the ring so far.
        var streamPosition = 0
        /// Index of the next frame to complete.
        var nextFrame = 0
        /// Input samples consumed so far (N).
        var inputCount = 0
        /// Whether the left padding has been written.
        var started = false
        /// Samples held in `prelude`.
        var preludeCount = 0
        /// Prelude samples already replayed into the ring.
        var preludeReplayed = 0
        /// Flush has begun: no more input.
        var ended = false
        /// Right padding built and its length.
        var paddingReady = false
        var paddingCount = 0
        var paddingReplayed = 0
        /// Frames the reference produces for this input (known at flush).
        var totalFrames = Int.max
    }

    /// Builds the analyzer: validates, plans FFTW, allocates and prefaults every buffer.
    /// `sharedWorkspace` (another analyzer's `frameWorkspace`, ignored for micro) lends the plan,
    /// tables and scratch of analyzers of the same configuration fed from the same thread;
    /// without it the analyzer builds its own. A workspace built for another configuration stops
    /// the program (`FloatFrameComputer.init`).
    public init(configuration c: MelConfiguration, clampRule: ClampRule = .running,
                sharedWorkspace: FrameWorkspace? = nil) throws(MelConfigurationError) {
        try c.validate()
        configuration = c
        self.clampRule = clampRule
        frameLength = c.frameLength
        hopLength = c.hopLength
        leftPadding = c.leftPadding
        symmetricReflection = c.framing == .kaldiNoSnip
        switch c.framing {
        case .centerReflect: preludeLength = leftPadding + 1
        case .kaldiNoSnip: preludeLength = leftPadding
        case .centerZero, .none: preludeLength = 0
        }
        ring = .allocate(capacity: 2 * frameLength)
        prelude = .allocate(capacity: max(1, preludeLength))
        padding = .allocate(capacity: max(frameLength, leftPadding))
        prelude.initialize(repeating: 0, count: max(1, preludeLength))
        padding.initialize(repeating: 0, count: max(frameLength, leftPadding))

        let workspace = c.filterbank == .micro ? nil : sharedWorkspace ?? FrameWorkspace.forAnalyzer(of: c)
        self.workspace = workspace
        if c.filterbank == .micro {
            computer = .micro(MicroFrontend())
            frameWidth = MicroParameters.channelCount
        } else if c.output == .openWakeWord {
            computer = .openWakeWord(OpenWakeWordFrontend(configuration: c, workspace: workspace!))
            frameWidth = OpenWakeWordParameters.melBandCount
        } else {
            let float = FloatFrameComputer(configuration: c, clampRule: clampRule, workspace: workspace!)
            computer = .float(float)
            frameWidth = float.width
        }
        state = .allocate(capacity: 1)
        state.initialize(to: FramerState())
        reset()
        // Prefault: one dry frame, output stage included, touches every page the hot path uses
        // and binds every C symbol it calls (FFTW, libmvec), so the realtime thread never enters
        // the dynamic linker; then start afresh.
        let dryFrame = UnsafeMutablePointer<Float>.allocate(capacity: frameWidth)
        computeFrame(ring, index: 0, into: dryFrame)
        dryFrame.deallocate()
        reset()
    }

    deinit {
        ring.deallocate()
        prelude.deallocate()
        padding.deallocate()
        state.deallocate()
        switch computer {
        case .float(let computer): computer.deallocate()
        case .micro(let frontend): frontend.deallocate()
        case .openWakeWord(let frontend): frontend.deallocate()
        }
    }

    /// Forgets all input; the next sample starts a new stream.
    public func reset() {
        ring.initialize(repeating: 0, count: 2 * frameLength)
        state.pointee = FramerState()
        switch computer {
        case .float(let computer): computer.reset()
        case .micro(let frontend): frontend.reset()
        case .openWakeWord(let frontend): frontend.reset()
        }
        if preludeLength == 0 {
            // Zero padding (or none): the ring already holds the zeros.
            state.pointee.started = true
            state.pointee.streamPosition = configuration.framing == .centerZero ? leftPadding : 0
        }
    }

    /// The most frames the analyzer can hold back and hand out only at `flush`, beyond the ones
    /// its tail samples complete: openwakeword's group (7: a frame waits for its group of 8),
    /// 0 for every other preset. For sizing flush buffers (`meltap_analyzer_max_frames`).
    public var maximumHeldFrames: Int {
        if case .openWakeWord = computer { return OpenWakeWordParameters.groupLength - 1 }
        return 0
    }

    /// Input samples consumed since the last reset.
    public var samplesConsumed: Int { state.pointee.inputCount }

    /// The input-sample index of frame `index`'s first sample (negative inside the left padding).
    public func firstSample(ofFrame index: Int) -> Int { index * hopLength - leftPadding }

    // MARK: - Streaming

    /// Consumes samples until one frame completes or the input runs out; a completed frame
    /// (`frameWidth` values) is written to `frame` and its index returned in the step.
    /// Call again with the rest of the block until it is consumed.
    ///
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    public func process(_ samples: UnsafeBufferPointer<Float>, into frame: UnsafeMutablePointer<Float>) -> MelStep {
        var consumed = 0
        let s = state
        if !s.pointee.started {
            let take = min(preludeLength - s.pointee.preludeCount, samples.count)
            if take > 0, let base = samples.baseAddress {
                UnsafeMutableRawPointer(prelude + s.pointee.preludeCount)
                    .copyMemory(from: base, byteCount: take * MemoryLayout<Float>.stride)
            }
            s.pointee.preludeCount += take
            s.pointee.inputCount += take
            consumed = take
            if s.pointee.preludeCount < preludeLength { return MelStep(consumed: consumed, frameIndex: -1) }
            writeLeftPadding(knownSamples: Int.max)
        }
        // Replay held-back prelude samples before new input.
        if s.pointee.preludeReplayed < s.pointee.preludeCount {
            let index = replay(prelude + s.pointee.preludeReplayed,
                               available: s.pointee.preludeCount - s.pointee.preludeReplayed,
                               advance: &s.pointee.preludeReplayed, into: frame)
            if index >= 0 { return MelStep(consumed: consumed, frameIndex: index) }
        }
        guard consumed < samples.count, let base = samples.baseAddress else {
            return MelStep(consumed: consumed, frameIndex: -1)
        }
        var taken = 0
        let index = replay(base + consumed, available: samples.count - consumed, advance: &taken, into: frame)
        s.pointee.inputCount += taken
        return MelStep(consumed: consumed + taken, frameIndex: index)
    }

    /// Consumes all of `samples` (or stops after `maxFrames` frames), writing each frame that
    /// completes to the next of the consecutive rows at `rows` (`frameWidth` values each).
    /// Returns the samples consumed and the frames written, in order, with the same values as
    /// `process` called on the same samples (the offline driver's path; `process` is the
    /// realtime one).
    ///
    /// Why: `process` copies every sample into the overlap ring, twice (its mirror), because a
    /// frame may span two calls. Here a frame whose window lies wholly inside `samples` is
    /// computed from `samples` where they are, and the ring receives only the last frame's worth
    /// of samples at the end; a frame is the same function of the same samples either way, so
    /// the bits are the same. openwakeword (which holds frames) and the stream's start and end
    /// (prelude, padding) take `process`'s path.
    public func processFrames(_ samples: UnsafeBufferPointer<Float>, into rows: UnsafeMutablePointer<Float>,
                              maxFrames: Int) -> (consumed: Int, frames: Int) {
        let s = state
        guard let base = samples.baseAddress else { return (0, 0) }
        let count = samples.count
        var consumed = 0, frames = 0
        /// One `process` step on the rest of `samples`.
        func step() {
            let taken = process(UnsafeBufferPointer(start: base + consumed, count: count - consumed),
                                into: rows + frames * frameWidth)
            consumed += taken.consumed
            if taken.frameIndex >= 0 { frames += 1 }
        }
        // An analyzer that holds frames back (openwakeword), the stream's start (prelude and left
        // padding) and any end go through `process`.
        let direct = maximumHeldFrames == 0
        while consumed < count, frames < maxFrames,
              !direct || s.pointee.ended || !s.pointee.started || s.pointee.preludeReplayed < s.pointee.preludeCount {
            step()
        }
        guard consumed < count, frames < maxFrames else { return (consumed, frames) }
        // From here, stream position p0 + i is `base[consumed + i]`.
        let p0 = s.pointee.streamPosition, start = consumed
        var end = p0 + (count - start)  // the stream position the ring must reach
        while frames < maxFrames {
            let frameEnd = s.pointee.nextFrame * hopLength + frameLength
            if frameEnd > p0 + (count - start) { break }  // not in `samples`: the next call's
            if frameEnd - frameLength >= p0 {
                // Wholly inside `samples`: computed where the samples are.
                let index = s.pointee.nextFrame
                s.pointee.nextFrame += 1
                computeFrame(base + start + (frameEnd - frameLength - p0), index: index, into: rows + frames * frameWidth)
            } else {
                // It starts in the ring: `process`'s path, the ring brought up to the frame's end.
                var written = 0
                _ = replay(base + start + (s.pointee.streamPosition - p0), available: frameEnd - s.pointee.streamPosition,
                           advance: &written, into: rows + frames * frameWidth)
            }
            frames += 1
            if frames == maxFrames { end = frameEnd }
        }
        // The ring gets what later frames may need: the samples up to `end` (`write` keeps the
        // last F of them).
        if end > s.pointee.streamPosition {
            write(base + start + (s.pointee.streamPosition - p0), count: end - s.pointee.streamPosition)
        }
        let taken = end - p0
        s.pointee.inputCount += taken
        return (start + taken, frames)
    }

    /// Ends the input. Call repeatedly: each call writes one tail frame (right padding, as the
    /// reference pads at the end of a file) and returns its index, or -1 when none remain.
    ///
    /// Throws when the input is too short for reflect padding (the references reject it too).
    /// Real-time safe once started, but normally called off the realtime thread.
    public func flush(into frame: UnsafeMutablePointer<Float>) throws(MelConfigurationError) -> Int {
        let s = state
        if !s.pointee.ended {
            s.pointee.ended = true
            let n = s.pointee.inputCount
            s.pointee.totalFrames = configuration.frameCount(sampleCount: n)
            if !s.pointee.started && n > 0 {
                if configuration.framing == .centerReflect {
                    throw MelConfigurationError(
                        "Reflect padding needs more than n_fft/2 = \(leftPadding) samples, but the input has \(n). "
                        + "Use a longer input, a smaller --n-fft, or --center zero.")
                }
                writeLeftPadding(knownSamples: n)
            }
        }
        // openwakeword: framing none has no tail frames; hand out the held frames of complete groups.
        if case .openWakeWord(let frontend) = computer { return frontend.drain(into: frame) }
        if s.pointee.totalFrames == 0 || s.pointee.nextFrame >= s.pointee.totalFrames { return -1 }
        if s.pointee.preludeReplayed < s.pointee.preludeCount {
            let index = replay(prelude + s.pointee.preludeReplayed,
                               available: s.pointee.preludeCount - s.pointee.preludeReplayed,
                               advance: &s.pointee.preludeReplayed, into: frame)
            if index >= 0 { return index }
        }
        if !s.pointee.paddingReady { buildRightPadding() }
        if s.pointee.paddingReplayed < s.pointee.paddingCount {
            return replay(padding + s.pointee.paddingReplayed,
                          available: s.pointee.paddingCount - s.pointee.paddingReplayed,
                          advance: &s.pointee.paddingReplayed, into: frame)
        }
        return -1
    }

    // MARK: - Overlap buffer

    /// Writes up to the next frame boundary from `source` into the ring; if that completes a
    /// frame, computes it and returns the index of the frame written to `frame` (the completed
    /// one; for openwakeword the one 7 frames older, or -1 while fewer than 8 are in), else -1.
    /// `advance` grows by the samples taken.
    @_noAllocation @_noLocks
    @inline(__always)
    private func replay(_ source: UnsafePointer<Float>, available: Int, advance: inout Int,
                        into frame: UnsafeMutablePointer<Float>) -> Int {
        let s = state
        let frameEnd = s.pointee.nextFrame * hopLength + frameLength
        let count = min(available, frameEnd - s.pointee.streamPosition)
        write(source, count: count)
        advance += count
        guard s.pointee.streamPosition == frameEnd, s.pointee.nextFrame < s.pointee.totalFrames else { return -1 }
        let index = s.pointee.nextFrame
        s.pointee.nextFrame += 1
        return computeFrame(ring + s.pointee.streamPosition % frameLength, index: index, into: frame)
    }

    /// Appends `count` samples to the ring (mirrored writes keep the last F contiguous).
    @_noAllocation @_noLocks
    @inline(__always)
    private func write(_ source: UnsafePointer<Float>, count: Int) {
        let f = frameLength
        var source = source, count = count
        if count > f {  // only the last F samples can ever be read
            state.pointee.streamPosition += count - f
            source += count - f
            count = f
        }
        var position = state.pointee.streamPosition % f
        state.pointee.streamPosition += count
        while count > 0 {
            let run = min(count, f - position)
            // Two memmoves: the element-wise loop was not vectorised (the three pointers may
            // alias as far as the compiler knows) and was 8 % of a 64-channel callback's profile.
            // (copyMemory rather than update(from:count:), which the performance checker counts
            // as possibly deallocating: its generic path releases non-trivial elements.)
            let bytes = run * MemoryLayout<Float>.stride
            UnsafeMutableRawPointer(ring + position).copyMemory(from: source, byteCount: bytes)
            UnsafeMutableRawPointer(ring + position + f).copyMemory(from: source, byteCount: bytes)
            source += run
            count -= run
            position = 0
        }
    }

    /// The input index that padded position `s` (relative to sample 0) reflects to, for a
    /// signal of `n` samples: reflect (edge not repeated) or Kaldi's symmetric (edge repeated).
    private func reflectedIndex(_ s: Int, count n: Int) -> Int {
        var j = s
        let symmetric = symmetricReflection
        while j < 0 || j >= n {
            if n == 1 { return 0 }
            if j < 0 { j = symmetric ? -j - 1 : -j } else { j = symmetric ? 2 * n - 1 - j : 2 * n - 2 - j }
        }
        return j
    }

    /// Writes the left padding, built from the prelude (`knownSamples` caps it for short inputs).
    private func writeLeftPadding(knownSamples: Int) {
        let n = min(knownSamples, state.pointee.preludeCount)
        // Built in `padding` (unused until the right padding at the end) and written to the ring
        // in one piece, not sample by sample (a short clip's analysis spent 1.5 % there).
        for i in 0..<leftPadding { padding[i] = prelude[reflectedIndex(i - leftPadding, count: n)] }
        write(padding, count: leftPadding)
        state.pointee.started = true
    }

    /// Builds the right padding the last frames need, from the samples still in the ring.
    private func buildRightPadding() {
        let s = state
        s.pointee.paddingReady = true
        let n = s.pointee.inputCount
        let lastFrameEnd = (s.pointee.totalFrames - 1) * hopLength + frameLength
        let count = max(0, lastFrameEnd - s.pointee.streamPosition)
        precondition(count <= frameLength, "right padding longer than a frame")
        for k in 0..<count {
            switch configuration.framing {
            case .centerZero, .none:
                padding[k] = 0
            case .centerReflect, .kaldiNoSnip:
                let j = reflectedIndex(n + k, count: n)
                padding[k] = ring[(j + leftPadding) % frameLength]
            }
        }
        s.pointee.paddingCount = count
    }

    // MARK: - One frame

    /// The frame computer for frame `index`, the `frameLength` samples at `samples`: writes
    /// `frameWidth` values to `frame` and returns the index of the frame written (`index`, or for
    /// openwakeword `index` − 7 once its group is complete), or -1 when none was.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    @discardableResult
    private func computeFrame(_ samples: UnsafePointer<Float>, index: Int, into frame: UnsafeMutablePointer<Float>) -> Int {
        switch computer {
        case .float(let computer): computer.compute(samples, into: frame)
        case .micro(let frontend): frontend.compute(samples, into: frame)
        case .openWakeWord(let frontend): return frontend.compute(samples, into: frame)
        }
        return index
    }
}

/// What turns one frame of samples into one output frame. Both payloads are structs of
/// pointers and scalars: switching over this on the realtime path does no reference counting.
private enum FrameComputer {
    /// The float pipeline (librosa, torchaudio, Kaldi, Whisper presets).
    case float(FloatFrameComputer)
    /// The TFLite-Micro integer frontend (micro preset).
    case micro(MicroFrontend)
    /// openWakeWord's melspectrogram with its per-group floor (openwakeword preset).
    case openWakeWord(OpenWakeWordFrontend)
}
