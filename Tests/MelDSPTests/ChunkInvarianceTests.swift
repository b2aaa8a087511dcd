import MelDSP
import Testing
import MelSystem

/// Test draws from SplitMix64 (MelSystem), so every "random" block size and noise sample is the
/// same on every run and every machine.
extension SplitMix64 {
    /// Uniform in `range` (modulo bias is irrelevant here).
    mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    /// Uniform float in [-1, 1): 24 random bits, exact in float32.
    mutating func nextSample() -> Float {
        Float(Int32(truncatingIfNeeded: next() >> 40) - (1 << 23)) / Float(1 << 23)
    }

    /// `count` samples of noise at `amplitude`.
    static func noise(count: Int, seed: UInt64, amplitude: Float = 0.5) -> [Float] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in generator.nextSample() * amplitude }
    }

    /// Block lengths in 1...8192 (JACK's largest period), enough to cover `total` samples.
    static func blockLengths(total: Int, seed: UInt64) -> [Int] {
        var generator = SplitMix64(seed: seed)
        var lengths: [Int] = []
        var covered = 0
        while covered < total {
            let length = generator.next(in: 1...MelConfiguration.maximumBlockLength)
            lengths.append(length)
            covered += length
        }
        return lengths
    }
}

/// One preset + output combination the streaming tests run.
struct StreamCase: Sendable, CustomTestStringConvertible {
    var name: String
    var preset: MelPreset
    var sampleRate: Int
    var output: OutputKind? = nil
    var framing: Framing? = nil
    var melBandCount: Int? = nil
    var useEnergy: Bool? = nil
    var power: Double? = nil
    var fftLength: Int? = nil
    var hopLength: Int? = nil

    var testDescription: String { "\(name)@\(sampleRate)" }

    func configuration(output override: OutputKind? = nil) throws -> MelConfiguration {
        var o = MelOverrides()
        o.output = override ?? output
        o.framing = framing
        o.melBandCount = melBandCount
        o.useEnergy = useEnergy
        o.power = power
        o.fftLength = fftLength
        o.hopLength = hopLength
        return try o.resolve(preset: preset, sampleRate: Double(sampleRate))
    }

    /// Every preset (Kaldi with and without snip_edges and energy) and every output kind.
    static let all: [StreamCase] = [
        StreamCase(name: "librosa-power", preset: .librosa, sampleRate: 16000),
        StreamCase(name: "librosa-magnitude", preset: .librosa, sampleRate: 16000, power: 1),
        StreamCase(name: "librosa-db", preset: .librosa, sampleRate: 16000, output: .db),
        StreamCase(name: "librosa-mfcc", preset: .librosa, sampleRate: 16000, output: .mfcc),
        StreamCase(name: "librosa-pcen", preset: .librosa, sampleRate: 16000, output: .pcen),
        StreamCase(name: "librosa-log", preset: .librosa, sampleRate: 16000, output: .log),
        StreamCase(name: "librosa-whisper", preset: .librosa, sampleRate: 16000, output: .whisper),
        StreamCase(name: "librosa-db", preset: .librosa, sampleRate: 48000, output: .db),
        StreamCase(name: "torchaudio-power", preset: .torchaudio, sampleRate: 16000),
        StreamCase(name: "torchaudio-mfcc", preset: .torchaudio, sampleRate: 48000, output: .mfcc),
        StreamCase(name: "kaldi-fbank23", preset: .kaldi, sampleRate: 16000),
        StreamCase(name: "kaldi-fbank80-energy", preset: .kaldi, sampleRate: 16000, melBandCount: 80, useEnergy: true),
        StreamCase(name: "kaldi-fbank80-nosnip", preset: .kaldi, sampleRate: 16000, framing: .kaldiNoSnip,
                   melBandCount: 80),
        StreamCase(name: "kaldi-nosnip-energy-db", preset: .kaldi, sampleRate: 48000, output: .db,
                   framing: .kaldiNoSnip, useEnergy: true),
        StreamCase(name: "kaldi-nosnip-energy-mfcc", preset: .kaldi, sampleRate: 16000, output: .mfcc,
                   framing: .kaldiNoSnip, useEnergy: true),
        // Hops longer than the frame: samples between frames are skipped, never read.
        StreamCase(name: "kaldi-hop-700", preset: .kaldi, sampleRate: 16000, hopLength: 700),
        StreamCase(name: "librosa-nfft512-hop1500", preset: .librosa, sampleRate: 16000, fftLength: 512,
                    hopLength: 1500),
        StreamCase(name: "torchaudio-nfft256-hop1000", preset: .torchaudio, sampleRate: 16000, fftLength: 256,
                    hopLength: 1000),
        StreamCase(name: "whisper-80", preset: .whisper, sampleRate: 16000),
        StreamCase(name: "whisper-128", preset: .whisper, sampleRate: 16000, melBandCount: 128),
    ]
}

/// Frames as they came out of one streaming run.
struct StreamRun {
    /// Row-major frames, finished (OfflineFinisher) when the clamp rule is deferred.
    var frames: [Float]
    /// The same before finishing.
    var rawFrames: [Float]
    /// Frames counted from the indices `process`/`flush` returned.
    var frameCount: Int
}

/// Frames are identical — bit for bit — however the input is split into blocks.
@Suite struct ChunkInvarianceTests {
    static let clampRules: [ClampRule] = [.running, .deferred]

    /// Block-length patterns: the fixed sizes of STYLE.md, a mix of extremes, and seeded random sizes.
    static func blockPatterns(total: Int) -> [(String, [Int])] {
        [("1", [1]), ("7", [7]), ("64", [64]), ("256", [256]), ("4096", [4096]),
         ("1,8192,3,511", [1, 8192, 3, 511]),
         ("random seed 1", SplitMix64.blockLengths(total: total, seed: 1)),
         ("random seed 2", SplitMix64.blockLengths(total: total, seed: 2))]
    }

    /// The fixture signal and seeded noise with a stretch of digital silence (exercises the
    /// clamps and the floors).
    static func signals(_ sampleRate: Int) throws -> [(String, [Float])] {
        var noise = SplitMix64.noise(count: sampleRate / 2, seed: 0xD5A_7E57)
        for i in (noise.count / 3)..<(noise.count / 2) { noise[i] = 0 }
        return [("fixture", try Fixtures.signal(sampleRate)), ("noise", noise)]
    }

    /// Feeds `samples` through `analyzer` with a hand-written process/flush loop, checking the
    /// step contract as it goes (progress, consecutive frame indices, flush ends and stays ended).
    static func stream(_ samples: [Float], through analyzer: MelAnalyzer, blockLengths: [Int],
                       label: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> StreamRun {
        let width = analyzer.frameWidth
        var raw: [Float] = []
        var frame = [Float](repeating: .nan, count: width)
        var expectedIndex = 0
        var position = 0, block = 0
        var broken = false
        while position < samples.count && !broken {
            let length = min(blockLengths[block % blockLengths.count], samples.count - position)
            block += 1
            samples.withUnsafeBufferPointer { all in
                var offset = position
                while offset < position + length {
                    let step = analyzer.process(UnsafeBufferPointer(rebasing: all[offset..<(position + length)]),
                                                into: &frame)
                    if step.consumed == 0 && step.frameIndex < 0 {
                        Issue.record("\(label): process made no progress at sample \(offset)",
                                     sourceLocation: sourceLocation)
                        broken = true
                        return
                    }
                    offset += step.consumed
                    if step.frameIndex >= 0 {
                        #expect(step.frameIndex == expectedIndex, "\(label): frame index out of order",
                                sourceLocation: sourceLocation)
                        expectedIndex += 1
                        raw.append(contentsOf: frame)
                    }
                }
            }
            position += length
        }
        #expect(analyzer.samplesConsumed == samples.count, "\(label): samplesConsumed", sourceLocation: sourceLocation)
        while true {
            let index = try analyzer.flush(into: &frame)
            if index < 0 { break }
            #expect(index == expectedIndex, "\(label): flush frame index out of order", sourceLocation: sourceLocation)
            expectedIndex += 1
            raw.append(contentsOf: frame)
            if expectedIndex > samples.count + 10 { Issue.record("\(label): flush never ends"); break }
        }
        #expect(try analyzer.flush(into: &frame) == -1, "\(label): flush after the end must stay -1",
                sourceLocation: sourceLocation)
        let finished = analyzer.clampRule == .deferred
            ? OfflineFinisher(configuration: analyzer.configuration).finish(raw) : raw
        return StreamRun(frames: finished, rawFrames: raw, frameCount: expectedIndex)
    }

    /// The frame count docs/presets.md gives, written out independently of `MelConfiguration.frameCount`.
    static func referenceFrameCount(_ c: MelConfiguration, sampleCount n: Int) -> Int {
        guard n > 0 else { return 0 }
        switch c.framing {
        case .centerZero, .centerReflect: return 1 + n / c.hopLength - (c.dropLastFrame ? 1 : 0)
        case .none: return n < c.windowLength ? 0 : 1 + (n - c.windowLength) / c.hopLength
        case .kaldiNoSnip: return (n + c.hopLength / 2) / c.hopLength
        }
    }

    /// The input index of frame t's first sample per docs/presets.md: t·hop − n_fft/2 centred,
    /// t·shift for snip_edges, t·shift + shift/2 − L/2 without snip_edges.
    static func referenceFirstSample(_ c: MelConfiguration, frame t: Int) -> Int {
        switch c.framing {
        case .centerZero, .centerReflect: return t * c.hopLength - c.fftLength / 2
        case .none: return t * c.hopLength
        case .kaldiNoSnip: return t * c.hopLength + c.hopLength / 2 - c.windowLength / 2
        }
    }

    @Test(arguments: StreamCase.all, clampRules)
    func blockSizesGiveBitIdenticalFrames(streamCase: StreamCase, clampRule: ClampRule) throws {
        let c = try streamCase.configuration()
        for (signalName, samples) in try Self.signals(streamCase.sampleRate) {
            let label = "\(streamCase.testDescription) \(clampRule) \(signalName)"
            // Reference: the whole signal handed over in one call.
            let reference = try MelAnalyzer.analyze(samples, configuration: c, clampRule: clampRule,
                                                    blockLengths: [samples.count])
            let expectedFrames = Self.referenceFrameCount(c, sampleCount: samples.count)
            #expect(c.frameCount(sampleCount: samples.count) == expectedFrames, "\(label): frameCount")
            #expect(reference.count == expectedFrames * c.frameWidth,
                    "\(label): \(reference.count) values, expected \(expectedFrames) frames × \(c.frameWidth)")
            #expect(reference.allSatisfy { $0.isFinite }, "\(label): non-finite output")
            for (patternName, lengths) in Self.blockPatterns(total: samples.count) {
                let frames = try MelAnalyzer.analyze(samples, configuration: c, clampRule: clampRule,
                                                     blockLengths: lengths)
                expectBitIdentical(frames, reference, width: c.frameWidth, label: "\(label) analyze blocks \(patternName)")
            }
            let analyzer = try MelAnalyzer(configuration: c, clampRule: clampRule)
            for (patternName, lengths) in Self.blockPatterns(total: samples.count) {
                analyzer.reset()
                let run = try Self.stream(samples, through: analyzer, blockLengths: lengths,
                                          label: "\(label) process blocks \(patternName)")
                #expect(run.frameCount == expectedFrames, "\(label) process blocks \(patternName): frame count")
                expectBitIdentical(run.frames, reference, width: c.frameWidth,
                                   label: "\(label) process blocks \(patternName)")
            }
        }
    }

    /// `processFrames` (the offline driver's path: frames computed where the samples are) gives
    /// the frames `process` gives, bit for bit, for every preset (micro and openwakeword too),
    /// block pattern and frame limit, and consumes exactly what it reports.
    @Test(arguments: StreamCase.all + [StreamCase(name: "micro", preset: .micro, sampleRate: 16000),
                                       StreamCase(name: "openwakeword", preset: .openWakeWord, sampleRate: 16000)])
    func processFramesGivesProcesssFrames(streamCase: StreamCase) throws {
        let c = try streamCase.configuration()
        for (signalName, samples) in try Self.signals(streamCase.sampleRate) {
            let reference = try MelAnalyzer.analyze(samples, configuration: c, clampRule: .running,
                                                    blockLengths: [1])
            let analyzer = try MelAnalyzer(configuration: c, clampRule: .running)
            let width = analyzer.frameWidth
            for (patternName, lengths) in Self.blockPatterns(total: samples.count) {
                for maxFrames in [1, 2, 3, 1000] {
                    let label = "\(streamCase.testDescription) \(signalName) blocks \(patternName) maxFrames \(maxFrames)"
                    analyzer.reset()
                    var frames: [Float] = []
                    var rows = [Float](repeating: .nan, count: maxFrames * width)
                    var position = 0, block = 0
                    while position < samples.count {
                        let length = min(lengths[block % lengths.count], samples.count - position)
                        block += 1
                        var offset = position
                        while offset < position + length {
                            let done = samples.withUnsafeBufferPointer { all in
                                analyzer.processFrames(UnsafeBufferPointer(rebasing: all[offset..<(position + length)]),
                                                       into: &rows, maxFrames: maxFrames)
                            }
                            #expect(done.frames <= maxFrames, "\(label): more frames than asked")
                            if done.consumed == 0 && done.frames == 0 {
                                Issue.record("\(label): no progress at sample \(offset)")
                                return
                            }
                            frames += rows[0..<(done.frames * width)]
                            offset += done.consumed
                        }
                        position += length
                    }
                    #expect(analyzer.samplesConsumed == samples.count, "\(label): samplesConsumed")
                    var frame = [Float](repeating: 0, count: width)
                    while try analyzer.flush(into: &frame) >= 0 { frames += frame }
                    expectBitIdentical(frames, reference, width: width, label: label)
                }
            }
        }
    }

    /// `firstSample(ofFrame:)` follows docs/presets.md, and the frames really cover those samples: a
    /// single impulse shows up exactly in the frames whose span contains it.
    @Test(arguments: [
        StreamCase(name: "librosa", preset: .librosa, sampleRate: 16000),
        StreamCase(name: "librosa", preset: .librosa, sampleRate: 22050),
        StreamCase(name: "torchaudio", preset: .torchaudio, sampleRate: 16000),
        StreamCase(name: "whisper", preset: .whisper, sampleRate: 16000),
        StreamCase(name: "kaldi", preset: .kaldi, sampleRate: 16000),
        StreamCase(name: "kaldi-nosnip", preset: .kaldi, sampleRate: 16000, framing: .kaldiNoSnip),
        StreamCase(name: "kaldi-nosnip", preset: .kaldi, sampleRate: 44100, framing: .kaldiNoSnip),
        StreamCase(name: "kaldi-hop-700", preset: .kaldi, sampleRate: 16000, hopLength: 700),
        StreamCase(name: "librosa-nfft512-hop1500", preset: .librosa, sampleRate: 16000, fftLength: 512,
                   hopLength: 1500),
        StreamCase(name: "torchaudio-nfft256-hop1000", preset: .torchaudio, sampleRate: 16000, fftLength: 256,
                   hopLength: 1000),
    ])
    func firstSampleMatchesFrameSpans(streamCase: StreamCase) throws {
        let c = try streamCase.configuration(output: .power)
        let analyzer = try MelAnalyzer(configuration: c, clampRule: .deferred)
        let sampleCount = 12000
        let frameCount = c.frameCount(sampleCount: sampleCount)
        for t in 0..<frameCount {
            #expect(analyzer.firstSample(ofFrame: t) == Self.referenceFirstSample(c, frame: t),
                    "\(streamCase.testDescription): frame \(t)")
        }
        // Kaldi frames are win_length long (every sample counts after DC removal); librosa-style
        // frames are n_fft long and the periodic Hann window is zero at offset 0.
        let kaldi = c.filterbank == .kaldi
        for impulse in [4001, 5000, 6143, 7777, 7900] {
            var samples = [Float](repeating: 0, count: sampleCount)
            samples[impulse] = 0.5
            let frames = try MelAnalyzer.analyze(samples, configuration: c, clampRule: .deferred,
                                                 blockLengths: [257])
            #expect(frames.count == frameCount * c.frameWidth)
            for t in 0..<min(frameCount, frames.count / c.frameWidth) {
                let first = Self.referenceFirstSample(c, frame: t)
                let covers = kaldi ? (first <= impulse && impulse < first + c.windowLength)
                                   : (first < impulse && impulse < first + c.fftLength)
                let row = frames[(t * c.frameWidth)..<((t + 1) * c.frameWidth)]
                let sees = row.contains { $0 > 0 }
                #expect(sees == covers,
                        "\(streamCase.testDescription): impulse at \(impulse), frame \(t) starting at \(first): sees \(sees), covers \(covers)")
            }
        }
    }

    /// 0, 1, n_fft/2 and n_fft/2 + 1 samples (and the Kaldi frame length ± 1): the reference frame
    /// count, or for reflect padding with N ≤ n_fft/2 the documented error naming n_fft/2.
    @Test(arguments: StreamCase.all)
    func veryShortInputs(streamCase: StreamCase) throws {
        let c = try streamCase.configuration()
        let half = c.fftLength / 2
        var lengths = [0, 1, half, half + 1]
        if c.filterbank == .kaldi { lengths += [c.windowLength - 1, c.windowLength, c.windowLength + 1] }
        let noise = SplitMix64.noise(count: 2 * c.fftLength, seed: 99)
        for n in lengths {
            let samples = Array(noise.prefix(n))
            let label = "\(streamCase.testDescription) with \(n) samples"
            let mustThrow = c.framing == .centerReflect && n >= 1 && n <= half
            for lengths in [[max(1, n)], [1], [3]] {
                if mustThrow {
                    let error = #expect(throws: MelConfigurationError.self, "\(label) must be rejected") {
                        _ = try MelAnalyzer.analyze(samples, configuration: c, blockLengths: lengths)
                    }
                    #expect(error?.description.contains("n_fft/2") == true, "\(label): \(error?.description ?? "")")
                    #expect(error?.description.contains("\(n)") == true, "\(label): message should give N")
                } else {
                    let frames = try MelAnalyzer.analyze(samples, configuration: c, blockLengths: lengths)
                    let expected = Self.referenceFrameCount(c, sampleCount: n)
                    #expect(c.frameCount(sampleCount: n) == expected, "\(label): frameCount")
                    #expect(frames.count == expected * c.frameWidth,
                            "\(label): \(frames.count / max(1, c.frameWidth)) frames, expected \(expected)")
                    #expect(frames.allSatisfy { $0.isFinite }, "\(label): non-finite output")
                }
            }
            // The same through process/flush by hand: the error comes from flush.
            if mustThrow {
                let analyzer = try MelAnalyzer(configuration: c)
                #expect(throws: MelConfigurationError.self) {
                    _ = try Self.stream(samples, through: analyzer, blockLengths: [1], label: label)
                }
            }
        }
    }

    /// The padding, checked against docs/presets.md independently: centred (zero or reflect) and
    /// Kaldi snip_edges=false framing give exactly the frames of un-padded framing (`.none`) run
    /// over the signal padded by hand (zeros; reflect without repeating the edge; Kaldi's
    /// symmetric reflection, repeated while out of range), short signals included.
    @Test(arguments: [
        StreamCase(name: "librosa", preset: .librosa, sampleRate: 16000),
        StreamCase(name: "torchaudio", preset: .torchaudio, sampleRate: 16000),
        StreamCase(name: "whisper", preset: .whisper, sampleRate: 16000),
        StreamCase(name: "kaldi-nosnip", preset: .kaldi, sampleRate: 16000, framing: .kaldiNoSnip),
        StreamCase(name: "kaldi-nosnip-energy", preset: .kaldi, sampleRate: 48000, framing: .kaldiNoSnip,
                   useEnergy: true),
    ])
    func paddingMatchesHandPaddedSignal(streamCase: StreamCase) throws {
        let c = try streamCase.configuration(output: .power)
        var unpadded = c
        unpadded.framing = .none
        unpadded.dropLastFrame = false
        let fixture = try Fixtures.signal(streamCase.sampleRate)
        let minimum = c.framing == .centerReflect ? c.fftLength / 2 + 1 : 1
        for n in [1, 2, 57, c.hopLength / 2, c.hopLength, c.windowLength / 2, c.windowLength / 2 + 1, c.windowLength,
                  c.fftLength + 3, 5000, fixture.count] where n >= minimum {
            let samples = Array(fixture.prefix(n))
            let label = "\(streamCase.testDescription) with \(n) samples"
            let frames = try MelAnalyzer.analyze(samples, configuration: c, clampRule: .deferred, blockLengths: [7, 300])
            let frameCount = Self.referenceFrameCount(c, sampleCount: n)
            guard frameCount > 0 else {
                #expect(frames.isEmpty, "\(label)")
                continue
            }
            let first = Self.referenceFirstSample(c, frame: 0)
            let end = Self.referenceFirstSample(c, frame: frameCount - 1) + c.frameLength
            let padded: [Float] = (first..<end).map { s in
                switch c.framing {
                case .centerZero: return s < 0 || s >= n ? 0 : samples[s]
                case .centerReflect: return samples[s < 0 ? -s : s >= n ? 2 * n - 2 - s : s]
                case .kaldiNoSnip:
                    var j = s
                    while j < 0 || j >= n { j = j < 0 ? -j - 1 : 2 * n - 1 - j }
                    return samples[j]
                case .none: return samples[s]
                }
            }
            let expected = try MelAnalyzer.analyze(padded, configuration: unpadded, clampRule: .deferred,
                                                   blockLengths: [4096])
            #expect(expected.count >= frameCount * c.frameWidth, "\(label): hand-padded signal too short")
            expectBitIdentical(frames, Array(expected.prefix(frameCount * c.frameWidth)), width: c.frameWidth,
                               label: label)
        }
    }

    /// reset() forgets everything: the same input after a reset (after a flush, or in the
    /// middle of a stream) gives the same frames, PCEN state and running maximum included.
    @Test(arguments: StreamCase.all, clampRules)
    func resetRestartsTheStream(streamCase: StreamCase, clampRule: ClampRule) throws {
        let c = try streamCase.configuration()
        let samples = try Fixtures.signal(streamCase.sampleRate)
        let analyzer = try MelAnalyzer(configuration: c, clampRule: clampRule)
        let first = try Self.stream(samples, through: analyzer, blockLengths: [333], label: "first run")
        analyzer.reset()
        #expect(analyzer.samplesConsumed == 0)
        let second = try Self.stream(samples, through: analyzer, blockLengths: [1000], label: "after reset")
        expectBitIdentical(second.rawFrames, first.rawFrames, width: analyzer.frameWidth,
                           label: "\(streamCase.testDescription) \(clampRule) after flush + reset")
        // Half a stream (different, louder input), abandoned without flush, then reset.
        analyzer.reset()
        var frame = [Float](repeating: 0, count: analyzer.frameWidth)
        let loud = SplitMix64.noise(count: samples.count / 2, seed: 5, amplitude: 0.99)
        loud.withUnsafeBufferPointer { all in
            var offset = 0
            while offset < all.count {
                offset += analyzer.process(UnsafeBufferPointer(rebasing: all[offset...]), into: &frame).consumed
            }
        }
        analyzer.reset()
        let third = try Self.stream(samples, through: analyzer, blockLengths: [4096], label: "after mid-stream reset")
        expectBitIdentical(third.rawFrames, first.rawFrames, width: analyzer.frameWidth,
                           label: "\(streamCase.testDescription) \(clampRule) after mid-stream reset")
        // And a fresh analyzer agrees with the reused one.
        let fresh = try MelAnalyzer.analyze(samples, configuration: c, clampRule: clampRule, blockLengths: [64])
        expectBitIdentical(third.frames, fresh, width: c.frameWidth,
                           label: "\(streamCase.testDescription) \(clampRule) reused vs fresh analyzer")
    }
}

/// Compares Float bit patterns and reports the first difference as (frame, value index).
func expectBitIdentical(_ observed: [Float], _ expected: [Float], width: Int, label: String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(observed.count == expected.count,
            "\(label): \(observed.count / max(1, width)) frames, expected \(expected.count / max(1, width))",
            sourceLocation: sourceLocation)
    guard let i = zip(observed, expected).firstIndexOfDifference() else { return }
    let w = max(1, width)
    let message = "\(label): first difference at frame \(i / w) value \(i % w): expected \(expected[i]) "
        + "(0x\(String(expected[i].bitPattern, radix: 16))), observed \(observed[i]) "
        + "(0x\(String(observed[i].bitPattern, radix: 16)))"
    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
}

private extension Zip2Sequence where Sequence1.Element == Float, Sequence2.Element == Float {
    /// The offset of the first pair whose bit patterns differ.
    func firstIndexOfDifference() -> Int? {
        for (offset, pair) in enumerated() where pair.0.bitPattern != pair.1.bitPattern { return offset }
        return nil
    }
}
