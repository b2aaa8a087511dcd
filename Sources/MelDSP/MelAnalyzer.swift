import CFFTW
import Glibc

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
/// output stage, one frame per completed hop.
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
    /// Frame length F: n_fft (librosa style) or win_length (Kaldi style).
    private let frameLength: Int
    private let hopLength: Int
    /// Padding before sample 0 in the padded stream.
    private let leftPadding: Int
    /// Input samples needed before the left padding can be written (reflect needs x[1…p]).
    private let preludeLength: Int
    private let binCount: Int
    private let melBandCount: Int
    /// Kaldi per-frame processing (DC removal, energy, pre-emphasis, window at frame start).
    private let kaldiStyle: Bool
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
    /// The window (length win_length), times the input scale for librosa style.
    private let window: UnsafeMutablePointer<Float>
    /// The same window in float64, for double-precision FFTs (librosa).
    private let windowDouble: UnsafeMutablePointer<Double>
    private let windowLength: Int
    /// Offset of the window inside the FFT input (centred for librosa style, 0 for Kaldi).
    private let windowOffset: Int
    /// n_fft/2 + 1 power (or magnitude) bins, then three zeros.
    private let spectrum: UnsafeMutablePointer<Float>
    /// n_mels mel values before the output stage.
    private let melBands: UnsafeMutablePointer<Float>
    /// The mel bank, sparse: band b weighs bins first[b] ..< first[b] + span[b] with the next
    /// span[b] weights. Spans are padded to a multiple of 4 with zero weights.
    private let bankFirstBin: UnsafeMutablePointer<Int>
    private let bankSpan: UnsafeMutablePointer<Int>
    private let bankWeights: UnsafeMutablePointer<Float>

    private let fft: RealFFT
    private let fftPlan: OpaquePointer
    private let doublePrecision: Bool
    /// power = 1: magnitudes instead of powers.
    private let magnitudeOnly: Bool
    /// Single-precision FFT buffers (Kaldi style always uses these).
    private let fftInput: UnsafeMutablePointer<Float>
    private let fftOutput: UnsafeMutablePointer<Float>
    /// Double-precision FFT buffers (unused, one element, in single precision).
    private let fftInputDouble: UnsafeMutablePointer<Double>
    private let fftOutputDouble: UnsafeMutablePointer<Double>
    private let outputStage: OutputStage
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
    public init(configuration c: MelConfiguration, clampRule: ClampRule = .running) throws(MelConfigurationError) {
        try c.validate()
        configuration = c
        self.clampRule = clampRule
        frameLength = c.frameLength
        hopLength = c.hopLength
        leftPadding = c.leftPadding
        kaldiStyle = c.filterbank == .kaldi
        symmetricReflection = c.framing == .kaldiNoSnip
        switch c.framing {
        case .centerReflect: preludeLength = leftPadding + 1
        case .kaldiNoSnip: preludeLength = leftPadding
        case .centerZero, .none: preludeLength = 0
        }
        binCount = c.fftLength / 2 + 1
        melBandCount = c.melBandCount

        ring = .allocate(capacity: 2 * frameLength)
        prelude = .allocate(capacity: max(1, preludeLength))
        padding = .allocate(capacity: frameLength)
        prelude.initialize(repeating: 0, count: max(1, preludeLength))
        padding.initialize(repeating: 0, count: frameLength)

        windowLength = c.windowLength
        windowOffset = kaldiStyle ? 0 : (c.fftLength - c.windowLength) / 2
        let w = Window.make(c.window, length: c.windowLength)
        window = .allocate(capacity: c.windowLength)
        for i in 0..<c.windowLength { window[i] = kaldiStyle ? w[i] : w[i] * c.inputScale }
        windowDouble = .allocate(capacity: c.windowLength)
        let w64 = Window.makeDouble(c.window, length: c.windowLength)
        for i in 0..<c.windowLength { windowDouble[i] = w64[i] * Double(c.inputScale) }

        // Three zero bins past Nyquist: a padded band may read up to three bins beyond its span.
        spectrum = .allocate(capacity: binCount + 3)
        spectrum.initialize(repeating: 0, count: binCount + 3)
        melBands = .allocate(capacity: c.melBandCount)
        melBands.initialize(repeating: 0, count: c.melBandCount)
        let bank = MelFilterbank(configuration: c)
        bankFirstBin = .allocate(capacity: c.melBandCount)
        bankSpan = .allocate(capacity: c.melBandCount)
        var paddedWeights: [Float] = []
        var source = 0
        for band in 0..<c.melBandCount {
            let span = bank.binSpan[band], padded = (span + 3) / 4 * 4
            bankFirstBin[band] = bank.firstBin[band]
            bankSpan[band] = padded
            paddedWeights += bank.weights[source..<source + span]
            paddedWeights += repeatElement(0, count: padded - span)
            source += span
        }
        bankWeights = .allocate(capacity: max(1, paddedWeights.count))
        bankWeights.initialize(repeating: 0, count: max(1, paddedWeights.count))
        for (i, weight) in paddedWeights.enumerated() { bankWeights[i] = weight }

        magnitudeOnly = c.power == 1
        doublePrecision = c.fftPrecision == .double && !kaldiStyle
        fft = RealFFT(length: c.fftLength, precision: doublePrecision ? .double : .single)
        fftPlan = fft.plan
        if doublePrecision {
            fftInput = .allocate(capacity: 1)
            fftOutput = .allocate(capacity: 1)
            fftInputDouble = fft.inputDouble!
            fftOutputDouble = fft.outputDouble!
        } else {
            fftInput = fft.inputSingle!
            fftOutput = fft.outputSingle!
            fftInputDouble = .allocate(capacity: 1)
            fftOutputDouble = .allocate(capacity: 1)
        }
        outputStage = OutputStage(configuration: c, clampRule: clampRule)
        frameWidth = outputStage.width + (c.useEnergy ? 1 : 0)
        state = .allocate(capacity: 1)
        state.initialize(to: FramerState())
        reset()
        // Prefault: one dry frame, output stage included, touches every page the hot path uses
        // and binds every C symbol it calls (FFTW, libmvec), so the realtime thread never enters
        // the dynamic linker; then start afresh.
        let dryFrame = UnsafeMutablePointer<Float>.allocate(capacity: frameWidth)
        computeFrame(ring, into: dryFrame)
        dryFrame.deallocate()
        reset()
    }

    deinit {
        ring.deallocate()
        prelude.deallocate()
        padding.deallocate()
        window.deallocate()
        windowDouble.deallocate()
        if doublePrecision {
            fftInput.deallocate()
            fftOutput.deallocate()
        } else {
            fftInputDouble.deallocate()
            fftOutputDouble.deallocate()
        }
        spectrum.deallocate()
        melBands.deallocate()
        bankFirstBin.deallocate()
        bankSpan.deallocate()
        bankWeights.deallocate()
        state.deallocate()
        outputStage.deallocate()
    }

    /// Forgets all input; the next sample starts a new stream.
    public func reset() {
        ring.initialize(repeating: 0, count: 2 * frameLength)
        state.pointee = FramerState()
        outputStage.reset()
        if preludeLength == 0 {
            // Zero padding (or none): the ring already holds the zeros.
            state.pointee.started = true
            state.pointee.streamPosition = configuration.framing == .centerZero ? leftPadding : 0
        }
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
                let destination = prelude + s.pointee.preludeCount
                for i in 0..<take { destination[i] = base[i] }
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
    /// frame, computes it into `frame` and returns its index, else -1. `advance` grows by the
    /// samples taken.
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
        computeFrame(ring + s.pointee.streamPosition % frameLength, into: frame)
        return index
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
            let lower = ring + position, upper = ring + position + f
            for i in 0..<run {
                lower[i] = source[i]
                upper[i] = source[i]
            }
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
        for i in 0..<leftPadding {
            var value = prelude[reflectedIndex(i - leftPadding, count: n)]
            write(&value, count: 1)
        }
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

    /// Window → FFT → power → mel → output stage for the F samples at `samples`.
    /// One function per step keeps each loop's code generation independent of the others.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    private func computeFrame(_ samples: UnsafePointer<Float>, into frame: UnsafeMutablePointer<Float>) {
        var logEnergy: Float = 0
        if kaldiStyle {
            logEnergy = prepareKaldiFrame(samples)
        } else if doublePrecision {
            windowFrameDouble(samples)
        } else {
            windowFrame(samples)
        }
        if doublePrecision { powerSpectrumDouble() } else { powerSpectrum() }
        applyMelBank()
        if configuration.useEnergy {
            frame[0] = logEnergy
            outputStage.apply(melBands, into: frame + 1)
        } else {
            outputStage.apply(melBands, into: frame)
        }
    }

    /// librosa / torchaudio / Whisper: the window (times the input scale) into the centre of
    /// the float32 FFT input; the zero padding around it never changes.
    @_noAllocation @_noLocks
    @inline(never)
    private func windowFrame(_ samples: UnsafePointer<Float>) {
        // Offset pointers first: keeps the loop free of overflow checks, so it vectorises.
        let source = samples + windowOffset, destination = fftInput + windowOffset, w = window
        for i in 0..<windowLength { destination[i] = source[i] * w[i] }
    }

    /// librosa: float32 frame × float64 window into the float64 FFT input.
    @_noAllocation @_noLocks
    @inline(never)
    private func windowFrameDouble(_ samples: UnsafePointer<Float>) {
        let source = samples + windowOffset, destination = fftInputDouble + windowOffset, w = windowDouble
        for i in 0..<windowLength { destination[i] = Double(source[i]) * w[i] }
    }

    /// Kaldi (kaldi-native-fbank's order): scale, remove the DC offset, raw log energy,
    /// pre-emphasis, window, into the float32 FFT input (zero-padded at the end). Returns
    /// ln(max(energy, FLT_EPSILON)), or 0 without `useEnergy`.
    ///
    /// The mean and the energy are summed in four interleaved partial sums so the loops
    /// vectorise; kaldi-native-fbank sums serially, so they differ from it in the last bits of
    /// the mean (a relative 1e-7, far inside the 2e-3 tolerance on log values).
    @_noAllocation @_noLocks
    @inline(never)
    private func prepareKaldiFrame(_ samples: UnsafePointer<Float>) -> Float {
        let input = fftInput, l = frameLength, scale = configuration.inputScale
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var i = 0
        while i &+ 4 <= l {
            let a = samples[i] * scale, b = samples[i &+ 1] * scale
            let c = samples[i &+ 2] * scale, d = samples[i &+ 3] * scale
            input[i] = a; input[i &+ 1] = b; input[i &+ 2] = c; input[i &+ 3] = d
            s0 += a; s1 += b; s2 += c; s3 += d
            i &+= 4
        }
        while i < l { let a = samples[i] * scale; input[i] = a; s0 += a; i &+= 1 }
        if configuration.removeDCOffset {
            let mean = ((s0 + s1) + (s2 + s3)) / Float(l)
            for i in 0..<l { input[i] -= mean }
        }
        var logEnergy: Float = 0
        if configuration.useEnergy {
            var e0: Float = 0, e1: Float = 0, e2: Float = 0, e3: Float = 0
            i = 0
            while i &+ 4 <= l {
                let a = input[i], b = input[i &+ 1], c = input[i &+ 2], d = input[i &+ 3]
                e0 += a * a; e1 += b * b; e2 += c * c; e3 += d * d
                i &+= 4
            }
            while i < l { e0 += input[i] * input[i]; i &+= 1 }
            let floored = max((e0 + e1) + (e2 + e3), Float.ulpOfOne)
            logEnergy = _unsafePerformance { logf(floored) }
        }
        // Pre-emphasis y[i] = x[i] − c·x[i−1] (y[0] = x[0] − c·x[0]) and the window, in one pass.
        let c = configuration.preemphasis, w = window
        var previous = input[0]
        input[0] = (previous - c * previous) * w[0]
        for i in 1..<l {
            let current = input[i]
            input[i] = (current - c * previous) * w[i]
            previous = current
        }
        return logEnergy
    }

    /// |X|² (or |X|) of the float32 FFT output into `spectrum`.
    @_noAllocation @_noLocks
    @inline(never)
    private func powerSpectrum() {
        let plan = fftPlan
        _unsafePerformance { fftwf_execute(plan) }
        let bins = fftOutput, out = spectrum
        if magnitudeOnly {
            for k in 0..<binCount {
                let re = bins[2 * k], im = bins[2 * k + 1]
                out[k] = _unsafePerformance { sqrtf(re * re + im * im) }
            }
        } else {
            for k in 0..<binCount {
                let re = bins[2 * k], im = bins[2 * k + 1]
                out[k] = re * re + im * im
            }
        }
    }

    /// The float64 FFT, its bins rounded to complex64 (as librosa's STFT output), then |X|² or |X|.
    @_noAllocation @_noLocks
    @inline(never)
    private func powerSpectrumDouble() {
        let plan = fftPlan
        _unsafePerformance { fftw_execute(plan) }
        let bins = fftOutputDouble, out = spectrum
        if magnitudeOnly {
            for k in 0..<binCount {
                let re = Float(bins[2 * k]), im = Float(bins[2 * k + 1])
                out[k] = _unsafePerformance { sqrtf(re * re + im * im) }
            }
        } else {
            for k in 0..<binCount {
                let re = Float(bins[2 * k]), im = Float(bins[2 * k + 1])
                out[k] = re * re + im * im
            }
        }
    }

    /// The sparse mel bank: melBands[b] = Σⱼ weight[b, j]·spectrum[first[b] + j].
    /// Spans are padded to a multiple of four with zero weights (finite bins times zero add
    /// nothing), so each band is whole four-lane steps with interleaved partial sums: the
    /// product vectorises and has no scalar tail. Bands of up to three bins sum exactly as a
    /// serial loop would.
    @_noAllocation @_noLocks
    @inline(never)
    private func applyMelBank() {
        var weight = UnsafePointer(bankWeights)
        let out = melBands
        for band in 0..<melBandCount {
            let first = UnsafePointer(spectrum + bankFirstBin[band]), span = bankSpan[band]
            // Eight partial sums (two vector registers) halve the add chain of wide bands.
            var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
            var s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
            var j = 0
            while j &+ 8 <= span {
                s0 += weight[j] * first[j]
                s1 += weight[j &+ 1] * first[j &+ 1]
                s2 += weight[j &+ 2] * first[j &+ 2]
                s3 += weight[j &+ 3] * first[j &+ 3]
                s4 += weight[j &+ 4] * first[j &+ 4]
                s5 += weight[j &+ 5] * first[j &+ 5]
                s6 += weight[j &+ 6] * first[j &+ 6]
                s7 += weight[j &+ 7] * first[j &+ 7]
                j &+= 8
            }
            if j < span {  // one last four-lane step (spans are multiples of 4)
                s0 += weight[j] * first[j]
                s1 += weight[j &+ 1] * first[j &+ 1]
                s2 += weight[j &+ 2] * first[j &+ 2]
                s3 += weight[j &+ 3] * first[j &+ 3]
            }
            out[band] = ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7))
            weight += span
        }
    }
}
