import Foundation
import MelDSP
import MelFiles
import Testing

/// The micro preset's golden vectors: int16 inputs and the uint16 frames pymicro-features 2.0.2
/// made from them, fed 160 samples per call (`Fixtures/micro`; generator
/// Fixtures/make_micro_vectors.py; docs/micro.md).
enum MicroFixtures {
    static let directory = Fixtures.directory.appendingPathComponent("micro")

    /// Every vector: full-scale noise, a clipped square wave with −32768, a sweep, digital
    /// silence, ±3 LSB noise, espeak-ng "okay nabu" and "alexa", the mel presets' test signal.
    static let vectors = ["noise_fullscale", "square_clipped", "sweep", "silence", "quiet_noise", "okay_nabu",
                          "alexa", "mel_signal"]

    /// The vector's samples as floats k/32768, as libsndfile reads an int16 file.
    static func input(_ name: String) throws -> [Float] {
        let array = try NpyArray.load(path: directory.appendingPathComponent("\(name)_int16.npy").path)
        #expect(array.descr == "<i2")
        return array.doubles.map { Float($0) / 32768 }
    }

    /// The vector's uint16 frames (frames × 40), row-major.
    static func expected(_ name: String) throws -> (frames: Int, values: [UInt16]) {
        let array = try NpyArray.load(path: directory.appendingPathComponent("\(name)_u16.npy").path)
        #expect(array.descr == "<u2" && array.shape.count == 2 && array.shape.last == 40)
        return (array.shape[0], array.doubles.map { UInt16($0) })
    }
}

/// Chunkings to feed a vector with: the sample counts of successive `process` blocks.
enum MicroChunking: CustomStringConvertible, CaseIterable {
    case blocks1, blocks7, blocks64, blocks160, blocks256, blocks4096, random

    var blockLengths: [Int] {
        switch self {
        case .blocks1: return [1]
        case .blocks7: return [7]
        case .blocks64: return [64]
        case .blocks160: return [160]
        case .blocks256: return [256]
        case .blocks4096: return [4096]
        case .random:
            // Fixed seed, lengths 1 … 1000: blocks that cut frames and hops anywhere.
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            return (0..<997).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Int((state >> 33) % 1000) + 1
            }
        }
    }

    var description: String {
        switch self {
        case .blocks1: return "1"
        case .blocks7: return "7"
        case .blocks64: return "64"
        case .blocks160: return "160"
        case .blocks256: return "256"
        case .blocks4096: return "4096"
        case .random: return "random"
        }
    }
}

/// Bit-exact parity of the micro preset with pymicro-features: 0 mismatches on every vector, for
/// every chunking, through `MelAnalyzer` (the path of `meltap file` and the JACK callback).
@Suite struct MicroParityTests {
    static let configuration = MelPreset.micro.configuration(sampleRate: 16000)

    /// Compares frames (frames × 40 floats) with the golden uint16 frames: each float must be
    /// exactly u16 × 0.0390625 and give back u16 exactly. Prints the first difference.
    func expectExact(_ observed: [Float], _ name: String, label: String,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (frames, expected) = try MicroFixtures.expected(name)
        #expect(observed.count == frames * 40,
                "\(label): \(observed.count / 40) frames, expected \(frames)", sourceLocation: sourceLocation)
        var mismatches = 0
        var first: String?
        for i in 0..<min(observed.count, expected.count) {
            let value = observed[i], want = expected[i]
            let recovered = value / Float(MicroParameters.outputScale)
            let exact = value == Float(want) * 0.0390625 && recovered == recovered.rounded() && UInt16(exactly: recovered) == want
            if !exact {
                mismatches += 1
                if first == nil {
                    first = "frame \(i / 40) channel \(i % 40): expected u16 \(want) (\(Float(want) * 0.0390625)), "
                        + "observed \(value) (u16 \(recovered))"
                }
            }
        }
        print("MICRO \(label): \(frames) frames, \(mismatches) mismatches")
        #expect(mismatches == 0, "\(label): \(mismatches) of \(expected.count) values differ; first at \(first ?? "")",
                sourceLocation: sourceLocation)
    }

    @Test(arguments: MicroFixtures.vectors, MicroChunking.allCases)
    func goldenParity(vector: String, chunking: MicroChunking) throws {
        let frames = try MelAnalyzer.analyze(MicroFixtures.input(vector), configuration: Self.configuration,
                                             clampRule: .running, blockLengths: chunking.blockLengths)
        try expectExact(frames, vector, label: "\(vector) blocks \(chunking)")
    }

    /// `reset` forgets the noise estimate and the overlap: a second pass matches again.
    @Test func resetStartsAFreshStream() throws {
        let analyzer = try MelAnalyzer(configuration: Self.configuration)
        var frame = [Float](repeating: 0, count: analyzer.frameWidth)
        for name in ["okay_nabu", "noise_fullscale"] {
            analyzer.reset()
            let input = try MicroFixtures.input(name)
            var frames: [Float] = []
            var offset = 0
            input.withUnsafeBufferPointer { all in
                while offset < all.count {
                    let step = analyzer.process(UnsafeBufferPointer(rebasing: all[offset...]), into: &frame)
                    offset += step.consumed
                    if step.frameIndex >= 0 {
                        #expect(step.frameIndex == frames.count / 40)
                        frames += frame
                    }
                }
            }
            #expect(try analyzer.flush(into: &frame) == -1, "micro has no tail frames")
            try expectExact(frames, name, label: "\(name) after reset")
        }
    }

    /// Frame t covers input samples 160·t ..< 160·t + 480: frame 0 completes with sample 479,
    /// then one frame per 160 samples; flush adds nothing.
    @Test func framing() throws {
        let analyzer = try MelAnalyzer(configuration: Self.configuration)
        #expect(analyzer.frameWidth == 40)
        #expect(Self.configuration.frameWidth == 40)
        #expect(analyzer.firstSample(ofFrame: 0) == 0 && analyzer.firstSample(ofFrame: 7) == 1120)
        var frame = [Float](repeating: 0, count: 40)
        let zeros = [Float](repeating: 0, count: 480)
        var step = zeros.withUnsafeBufferPointer { analyzer.process(UnsafeBufferPointer(rebasing: $0[..<479]), into: &frame) }
        #expect(step == MelStep(consumed: 479, frameIndex: -1))
        step = zeros.withUnsafeBufferPointer { analyzer.process(UnsafeBufferPointer(rebasing: $0[..<1]), into: &frame) }
        #expect(step == MelStep(consumed: 1, frameIndex: 0))
        step = zeros.withUnsafeBufferPointer { analyzer.process(UnsafeBufferPointer(rebasing: $0[..<480]), into: &frame) }
        #expect(step == MelStep(consumed: 160, frameIndex: 1))
        #expect(try analyzer.flush(into: &frame) == -1)
        #expect(Self.configuration.frameCount(sampleCount: 479) == 0)
        #expect(Self.configuration.frameCount(sampleCount: 39099) == 242)
    }

    /// The start-up tables equal pymicro-features' (`tables.json`), entry by entry.
    @Test func tablesMatchReference() throws {
        let data = try Data(contentsOf: MicroFixtures.directory.appendingPathComponent("tables.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let tables = MicroTables()
        func expectTable(_ key: String, _ observed: [Int]) throws {
            try expectTable(key, #require(json[key] as? [Int], "\(key) missing from tables.json"), observed)
        }
        func expectTable(_ key: String, _ expected: [Int], _ observed: [Int]) throws {
            #expect(observed.count == expected.count, "\(key): \(observed.count) entries, expected \(expected.count)")
            if let i = zip(observed, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                Issue.record("\(key)[\(i)]: expected \(expected[i]), observed \(observed[i])")
            }
        }
        try expectTable("window_q12", tables.window.map(Int.init))
        try expectTable("weights_q12", tables.weights.map(Int.init))
        try expectTable("unweights_q12", tables.unweights.map(Int.init))
        try expectTable("pcan_gain_lut", tables.pcanGain.map(Int.init))
        try expectTable("energy_bins", [tables.energyBins.lowerBound, tables.energyBins.upperBound])
        let channels = try #require(json["channels"] as? [[String: Int]])
        try expectTable("channels", channels.flatMap { [$0["first_bin"] ?? -1, $0["weight_start"] ?? -1, $0["width"] ?? -1] },
                        tables.channels.flatMap { [$0.firstBin, $0.weightStart, $0.width] })
        // pymicro-features' window, not TensorFlow's double-precision one (53 there).
        #expect(tables.window[17] == 54)
    }

    /// float → int16: x·32768 rounded to nearest, ties to even, clamped; NaN → 0.
    @Test func int16Rule() {
        for k in -32768...32767 {
            if MicroParameters.int16Sample(Float(k) / 32768) != Int16(k) {
                Issue.record("k/32768 with k = \(k) should give \(k), gives \(MicroParameters.int16Sample(Float(k) / 32768))")
                break
            }
        }
        let lsb: Float = 1.0 / 32768
        #expect(MicroParameters.int16Sample(0.5 * lsb) == 0)
        #expect(MicroParameters.int16Sample(1.5 * lsb) == 2)
        #expect(MicroParameters.int16Sample(2.5 * lsb) == 2)
        #expect(MicroParameters.int16Sample(-2.5 * lsb) == -2)
        #expect(MicroParameters.int16Sample(2.51 * lsb) == 3)
        #expect(MicroParameters.int16Sample(1) == 32767)
        #expect(MicroParameters.int16Sample(32766.5 * lsb) == 32766)
        #expect(MicroParameters.int16Sample(-1) == -32768)
        #expect(MicroParameters.int16Sample(-1.5) == -32768)
        #expect(MicroParameters.int16Sample(7) == 32767)
        #expect(MicroParameters.int16Sample(.infinity) == 32767)
        #expect(MicroParameters.int16Sample(-.infinity) == -32768)
        #expect(MicroParameters.int16Sample(.nan) == 0)
    }

    /// Out-of-range and non-finite floats are clamped like any other sample, never trap.
    @Test func extremeInputIsClamped() throws {
        var input = [Float](repeating: 0, count: 3200)
        for i in input.indices { input[i] = [Float.nan, .infinity, -.infinity, 3, -3, 1, -1][i % 7] }
        let frames = try MelAnalyzer.analyze(input, configuration: Self.configuration, clampRule: .running)
        #expect(frames.count == 18 * 40)
        #expect(frames.allSatisfy { $0.isFinite && $0 >= 0 && ($0 / 0.0390625).rounded() == $0 / 0.0390625 })
    }

    /// The sidecar and stream header carry the configuration as JSON: it names the preset, the
    /// integer output and the scale.
    @Test func configurationJSONNamesPresetAndScale() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(Self.configuration), as: UTF8.self)
        for part in ["\"preset\":\"micro\"", "\"output\":\"micro\"", "\"filterbank\":\"micro\"", "\"outputScale\":0.0390625",
                     "\"sampleRate\":16000", "\"hopLength\":160", "\"windowLength\":480", "\"melBandCount\":40"] {
            #expect(json.contains(part), "configuration JSON lacks \(part): \(json)")
        }
        let decoded = try JSONDecoder().decode(MelConfiguration.self, from: Data(json.utf8))
        #expect(decoded == Self.configuration)
        // Float presets carry no scale, and configurations saved before it decode unchanged.
        let librosa = String(decoding: try encoder.encode(MelPreset.librosa.configuration(sampleRate: 16000)), as: UTF8.self)
        #expect(!librosa.contains("outputScale"))
    }

    /// The dense view of the integer bank (`MelFilterbank`) has 40 non-empty triangles in 5 ..< 241.
    @Test func denseFilterbank() {
        let bank = MelFilterbank(configuration: Self.configuration)
        #expect(bank.bandCount == 40 && bank.emptyBands.isEmpty)
        #expect(bank.firstBin.allSatisfy { $0 >= 5 })
        #expect(zip(bank.firstBin, bank.binSpan).allSatisfy { $0 + $1 <= 241 })
        #expect(Self.configuration.emptyBandWarning == nil)
    }
}
