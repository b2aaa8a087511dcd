import Foundation
import MelDSP
import MelFiles
import Testing

/// The openwakeword preset's golden vectors: int16 inputs and the frames pyopen-wakeword 1.1.0's
/// `melspectrogram.tflite` made from them, called as `process_streaming` calls it, then / 10 + 2
/// (`Fixtures/openwakeword`; generator Fixtures/make_openwakeword_vectors.py; docs/presets.md).
enum OpenWakeWordFixtures {
    static let directory = Fixtures.directory.appendingPathComponent("openwakeword")

    /// espeak-ng "hey jarvis", Gaussian noise at σ 8000, 300 and ±2 LSB, digital silence, three
    /// tones, a 30–7970 Hz sweep, and digital silence around a loud noise burst (the floor).
    static let vectors = ["hey_jarvis", "noise_loud", "noise_mid", "noise_quiet", "silence", "tones", "sweep",
                          "silence_onset"]

    /// The vector's samples as floats k/32768, as libsndfile reads an int16 file.
    static func input(_ name: String) throws -> [Float] {
        let array = try NpyArray.load(path: directory.appendingPathComponent("\(name)_int16.npy").path)
        #expect(array.descr == "<i2")
        return array.doubles.map { Float($0) / 32768 }
    }

    /// The model's frames (frames × 32), row-major.
    static func expected(_ name: String) throws -> (frames: Int, values: [Float]) {
        let array = try NpyArray.load(path: directory.appendingPathComponent("\(name)_tflite.npy").path)
        #expect(array.descr == "<f4" && array.shape.count == 2 && array.shape.last == 32)
        return (array.shape[0], array.values)
    }

    /// The model's own float32 error on this vector: max |tflite − the same maths in float64|,
    /// recorded by the generator in manifest.json.
    static func referenceError(_ name: String) throws -> Double {
        let data = try Data(contentsOf: directory.appendingPathComponent("manifest.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let signals = try #require(json["signals"] as? [String: [String: Any]])
        return try #require(signals[name]?["tflite_vs_float64_max_abs"] as? Double, "\(name) missing from manifest.json")
    }
}

/// Parity of the openwakeword preset with openWakeWord's melspectrogram model, through
/// `MelAnalyzer` (the path of `meltap file` and the JACK callback), for every chunking.
///
/// Tolerance: |meltap − tflite| ≤ 1e-3 + the model's own float32 error on the vector (max
/// |tflite − float64 emulation|, from the manifest: 4e-7 … 5e-5, and 3.0e-3 on the sweep, whose
/// bands far from the tone sit near the floor, where the model's float32 convolution STFT loses
/// digits). By the triangle inequality this asks meltap to be within 1e-3 (0.01 dB) of the exact
/// maths; it is within 2e-6 of the float64 emulation in practice.
@Suite struct OpenWakeWordParityTests {
    static let configuration = MelPreset.openWakeWord.configuration(sampleRate: 16000)
    static let chunkings: [[Int]] = [[1], [7], [160], [1280], [4096], MicroChunking.random.blockLengths]

    /// Compares frames with the golden ones; prints the maximum error; records the first excess.
    @discardableResult
    func expectClose(_ observed: [Float], _ name: String, label: String,
                     sourceLocation: SourceLocation = #_sourceLocation) throws -> Double {
        let (frames, expected) = try OpenWakeWordFixtures.expected(name)
        let tolerance = 1e-3 + (try OpenWakeWordFixtures.referenceError(name))
        #expect(observed.count == frames * 32,
                "\(label): \(observed.count / 32) frames, expected \(frames)", sourceLocation: sourceLocation)
        var worst = 0.0, worstAt = 0
        for i in 0..<min(observed.count, expected.count) {
            let error = abs(Double(observed[i]) - Double(expected[i]))
            if !(error <= worst) { worst = error; worstAt = i }
        }
        print("OPENWAKEWORD \(label): \(frames) frames, max |error| \(String(format: "%.2e", worst)) "
              + "(tolerance \(String(format: "%.2e", tolerance)))")
        let detail = "\(label): frame \(worstAt / 32) band \(worstAt % 32): expected \(expected[worstAt]), "
            + "observed \(observed[worstAt]), error \(worst) above \(tolerance)"
        #expect(worst <= tolerance, "\(detail)", sourceLocation: sourceLocation)
        return worst
    }

    @Test(arguments: OpenWakeWordFixtures.vectors)
    func goldenParity(vector: String) throws {
        let input = try OpenWakeWordFixtures.input(vector)
        let reference = try MelAnalyzer.analyze(input, configuration: Self.configuration, clampRule: .running,
                                                blockLengths: [4096])
        try expectClose(reference, vector, label: "\(vector) blocks 4096")
        // Chunk invariance: every chunking gives the same bits.
        for blocks in Self.chunkings {
            let frames = try MelAnalyzer.analyze(input, configuration: Self.configuration, clampRule: .running,
                                                 blockLengths: blocks)
            #expect(frames == reference, "\(vector): blocks \(blocks.count == 1 ? "\(blocks[0])" : "random") differ")
        }
        // File mode's deferred rule changes nothing: the floor is per group, not global.
        let deferred = try MelAnalyzer.analyze(input, configuration: Self.configuration, clampRule: .deferred)
        #expect(deferred == reference)
    }

    /// The floor is per group of 8 frames counted from the first sample: wholly silent groups
    /// sit at −100 dB (−8 after scaling), silent frames in the burst's groups at its max − 80.
    @Test func floorIsPerGroup() throws {
        let input = try OpenWakeWordFixtures.input("silence_onset")
        let frames = try MelAnalyzer.analyze(input, configuration: Self.configuration, clampRule: .running)
        let rows = frames.count / 32
        var floors = Set<Float>()
        for g in 0..<rows / 8 {
            let group = frames[(g * 256)..<(g * 256 + 256)]
            let maximum = group.max()!, minimum = group.min()!
            if maximum == -8 { continue }  // all silent: 10·log10(1e-10) / 10 + 2
            floors.insert(minimum)
            #expect(minimum >= maximum - 8.0001, "group \(g): minimum \(minimum) below max \(maximum) − 8")
        }
        #expect(frames.first == -8, "the groups before the burst are silent")
        #expect(floors.count >= 2, "the burst's groups should have their own floors: \(floors)")
    }

    /// Frame k is handed out by the step that completes frame k + 7; frame k covers samples
    /// 160k ..< 160k + 512; flush hands out the rest of the last complete group, never a partial one.
    @Test func framingAndHold() throws {
        let analyzer = try MelAnalyzer(configuration: Self.configuration)
        #expect(analyzer.frameWidth == 32)
        #expect(analyzer.firstSample(ofFrame: 9) == 1440)
        var frame = [Float](repeating: 0, count: 32)
        var indices: [Int] = []
        var consumed = 0
        let samples = [Float](repeating: 0.01, count: 512 + 160 * 18)  // 19 frames: two groups and 3 more
        samples.withUnsafeBufferPointer { all in
            while consumed < all.count {
                let step = analyzer.process(UnsafeBufferPointer(rebasing: all[consumed...]), into: &frame)
                consumed += step.consumed
                if step.frameIndex >= 0 {
                    // Completing frame j (sample 160j + 511) hands out frame j − 7.
                    #expect((consumed - 512) / 160 - 7 == step.frameIndex)
                    indices.append(step.frameIndex)
                }
            }
        }
        #expect(indices == Array(0...11))
        while case let index = try analyzer.flush(into: &frame), index >= 0 { indices.append(index) }
        #expect(indices == Array(0..<16), "only whole groups: \(indices)")
        #expect(Self.configuration.frameCount(sampleCount: 512 + 160 * 18) == 16)
        #expect(Self.configuration.frameCount(sampleCount: 1631) == 0)
        #expect(Self.configuration.frameCount(sampleCount: 1632) == 8)
        // Latency: the frame (512) plus the 7 hops it is held.
        #expect(Self.configuration.algorithmicLatency == 512 + 7 * 160)
    }

    /// `reset` starts a new stream: groups count from the new first sample.
    @Test func resetStartsANewStream() throws {
        let analyzer = try MelAnalyzer(configuration: Self.configuration)
        var frame = [Float](repeating: 0, count: 32)
        for name in ["silence_onset", "hey_jarvis"] {
            analyzer.reset()
            var frames: [Float] = []
            let input = try OpenWakeWordFixtures.input(name)
            var offset = 0
            input.withUnsafeBufferPointer { all in
                while offset < all.count {
                    let step = analyzer.process(UnsafeBufferPointer(rebasing: all[offset...]), into: &frame)
                    offset += step.consumed
                    if step.frameIndex >= 0 { frames += frame }
                }
            }
            while try analyzer.flush(into: &frame) >= 0 { frames += frame }
            try expectClose(frames, name, label: "\(name) after reset")
        }
    }

    /// The preset is fixed: overrides are refused with what to do, and it runs at 16 kHz only.
    @Test func overridesAndRateAreRefused() throws {
        var o = MelOverrides()
        o.melBandCount = 40
        o.hopLength = 80
        #expect {
            try o.resolve(preset: .openWakeWord, sampleRate: 16000)
        } throws: { error in
            let text = "\(error)"
            return text.contains("--n-mels 40") && text.contains("--hop-length 80") && text.contains("Drop them")
        }
        #expect {
            try MelOverrides().resolve(preset: .openWakeWord, sampleRate: 48000)
        } throws: { "\($0)".contains("--sample-rate 16000") }
        var output = MelOverrides()
        output.output = .openWakeWord
        #expect {
            try output.resolve(preset: .librosa, sampleRate: 16000)
        } throws: { "\($0)".contains("--preset openwakeword") }
        // The preset's own values given explicitly are fine.
        var same = MelOverrides()
        same.fftLength = 512
        same.topDB = 80
        #expect(try same.resolve(preset: .openWakeWord, sampleRate: 16000) == Self.configuration)
        #expect(Self.configuration.floorGroupLength == 8 && Self.configuration.outputDivisor == 10
                && Self.configuration.outputOffset == 2)
        #expect(Self.configuration.analysesInt16Samples)
    }
}
