import MelDSP
import MelResample

/// One stream's analyzers, one per channel, built together for one input rate and one analysis
/// rate. When the two differ, the stream reads its input from a *rate group*: one resampler per
/// channel per distinct analysis rate, owned (retained, with its scratch buffer) by the first
/// stream at that rate and shared by later streams at the same rate (`resamplerOwner`), so each
/// channel is resampled once per rate, not once per stream. The sets of all streams lie side by
/// side in one allocation (`makeAll`); owned by the engine's builder (`JackClient`, or a test's
/// `EmbeddedDriver`); handed to the realtime thread by pointer, retired by pointer.
///
/// Two sample clocks: *input* samples are JACK frames (the server's rate, `inputRate`);
/// *analysis* samples are what the analyzers count (`analysisRate`, the configuration's
/// `sampleRate`). Without a resampler they are the same. The resampler is time-aligned, so
/// analysis sample k sits at input instant k · inputRate / analysisRate of the same stream.
package struct AnalyzerSet {
    /// `count` analyzers, retained (+1) by this set until `destroy`.
    package let analyzers: UnsafeMutablePointer<Unmanaged<MelAnalyzer>>
    package let count: Int
    /// `count` resamplers, retained (+1) until `destroy`; nil when the input is at the analysis
    /// rate, and on a stream that reads another stream's resamplers.
    package let resamplers: UnsafeMutablePointer<Unmanaged<Resampler>>?
    /// One channel's resampled block (channels are converted one after another), for
    /// `realtimeMaximumBlockLength` input samples; nil without resamplers. Prefaulted.
    package let resampled: UnsafeMutablePointer<Float>?
    /// Floats `resampled` holds.
    package let resampledCapacity: Int
    /// The most input samples converted into `resampled` at once (JACK's largest period).
    package let resampleInputLimit: Int
    /// The stream (index in `makeAll`'s list) whose `resamplers` and `resampled` feed this
    /// stream: its own index when it owns them, an earlier stream's when it shares them, −1
    /// without resampling.
    package let resamplerOwner: Int
    /// The server's rate and the analysis rate, Hz, as integers for exact time arithmetic.
    package let inputRate: Int64
    package let analysisRate: Int64
    /// Input samples a resampler reads past an output's instant before emitting it (0 without).
    package let lookahead: Int
    /// Analysis samples one frame's window spans (n_fft, or win_length for Kaldi framing).
    package let frameSpan: Int
    /// Analysis samples between frames (hop_length), for the frame budget (`spreadFrames`).
    package let hopLength: Int
    /// Analysis samples a computed frame is held before it is pushed (the xrun hold), ≥ 0.
    package let holdSamples: Int
    /// The same hold in input samples.
    package let holdInputSamples: Int

    /// The xrun hold in samples: `seconds` (negative counts as 0) at `sampleRate`, rounded.
    package static func holdSamples(seconds: Double, sampleRate: Double) -> Int {
        Int((max(0, seconds) * sampleRate).rounded())
    }

    /// One stream's parts for `makeAll`.
    package struct Parts {
        /// One analyzer per channel.
        package var analyzers: [MelAnalyzer]
        /// One resampler per channel when this stream owns its rate group's; else empty.
        package var resamplers: [Resampler]
        /// See `AnalyzerSet.resamplerOwner`.
        package var resamplerOwner: Int

        package init(analyzers: [MelAnalyzer], resamplers: [Resampler], resamplerOwner: Int) {
            self.analyzers = analyzers
            self.resamplers = resamplers
            self.resamplerOwner = resamplerOwner
        }
    }

    /// The sets of every stream, side by side: `streams.count` sets (free with `destroyAll`).
    package static func makeAll(_ streams: [Parts], inputRate: Double, holdSeconds: Double) -> UnsafeMutablePointer<AnalyzerSet> {
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
        let hop = list.first.map { $0.configuration.hopLength } ?? 1
        return AnalyzerSet(
            analyzers: storage, count: list.count, resamplers: resamplerStorage, resampled: resampled,
            resampledCapacity: resampledCapacity, resampleInputLimit: realtimeMaximumBlockLength,
            resamplerOwner: owner, inputRate: Int64(inputRate.rounded()),
            analysisRate: Int64(analysisRate.rounded()), lookahead: lookahead,
            frameSpan: span, hopLength: max(1, hop), holdSamples: holdSamples(seconds: holdSeconds, sampleRate: analysisRate),
            holdInputSamples: holdSamples(seconds: holdSeconds, sampleRate: inputRate))
    }

    /// Frees `count` sets made by `makeAll`.
    package static func destroyAll(_ sets: UnsafeMutablePointer<AnalyzerSet>, count: Int) {
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
    package func resetAll() {
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
    package func inputOffset(ofAnalysisSample index: Int64) -> Int64 {
        if inputRate == analysisRate { return index }
        return floorDivide(index * inputRate, analysisRate)
    }

    /// The first analysis sample at or after input offset `offset`: ⌈offset · analysisRate /
    /// inputRate⌉. Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    @inline(__always)
    package func analysisIndex(ofInputOffset offset: Int64) -> Int64 {
        if inputRate == analysisRate { return offset }
        return -floorDivide(-offset * analysisRate, inputRate)
    }

    /// The analysis samples whose values depend on input samples [from, to) (input offsets from
    /// the stream start): the resampler's filter reaches `lookahead` input samples either side.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    @inline(__always)
    package func analysisRange(ofInputRange from: Int64, _ to: Int64) -> (Int64, Int64) {
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
package func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && a < 0) ? q - 1 : q
}

/// Why `AnalyzerSet.makeParts` could not build a stream's parts.
package enum AnalyzerSetError: Error {
    /// A configuration the analyzer refuses.
    case analyzer(MelConfigurationError)
    /// A resampler libsamplerate cannot build for these rates.
    case resampler(any Error)
}

extension AnalyzerSet {
    /// Every stream's analyzers (`channelCount` each, sharing one `FrameWorkspace`), and one
    /// prefaulted resampler per channel per distinct analysis rate other than `inputRate`, owned
    /// by the first stream at that rate.
    /// - Throws: `AnalyzerSetError`.
    package static func makeParts(_ configurations: [MelConfiguration], inputRate: Double, clampRule: ClampRule,
                                  resamplerQuality: ResamplerQuality, channelCount: Int) throws -> [Parts] {
        var parts: [Parts] = []
        for (index, configuration) in configurations.enumerated() {
            var analyzers: [MelAnalyzer] = []
            do {
                // One workspace for the stream's channels (all fed by the callback, one after
                // another): the first analyzer's plan, window and mel bank, in cache for every
                // channel instead of one copy per channel.
                var workspace: FrameWorkspace?
                for _ in 0..<channelCount {
                    let analyzer = try MelAnalyzer(configuration: configuration, clampRule: clampRule,
                                                   sharedWorkspace: workspace)
                    workspace = analyzer.frameWorkspace
                    analyzers.append(analyzer)
                }
            } catch {
                throw AnalyzerSetError.analyzer(error)
            }
            let rate = configuration.sampleRate
            guard rate != inputRate else {
                parts.append(Parts(analyzers: analyzers, resamplers: [], resamplerOwner: -1))
                continue
            }
            if let owner = configurations.prefix(index).firstIndex(where: { $0.sampleRate == rate }) {
                parts.append(Parts(analyzers: analyzers, resamplers: [], resamplerOwner: owner))
            } else {
                let resamplers: [Resampler]
                do {
                    resamplers = try (0..<channelCount).map { _ in
                        try Resampler(inputRate: inputRate, outputRate: rate, quality: resamplerQuality)
                    }
                } catch {
                    throw AnalyzerSetError.resampler(error)
                }
                parts.append(Parts(analyzers: analyzers, resamplers: resamplers, resamplerOwner: index))
            }
        }
        return parts
    }

    /// Per stream: the look-ahead of the resamplers it reads, in input samples (0 without).
    package static func lookaheads(_ parts: [Parts]) -> [Int] {
        parts.map { $0.resamplerOwner >= 0 ? parts[$0.resamplerOwner].resamplers.first?.lookahead ?? 0 : 0 }
    }
}
