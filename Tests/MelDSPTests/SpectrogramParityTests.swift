import Foundation
import MelDSP
import MelFiles
import Testing

/// Issue 14's references: the linear spectrogram, amplitude dB and librosa's `ref=np.max` /
/// `np.min`, against `Fixtures/spectrogram` (generator: `Fixtures/make_spectrogram_vectors.py`,
/// librosa 0.11.0; torchaudio's `Spectrogram` emulated in numpy). Tolerances are docs/presets.md's
/// for the same quantity: power and magnitude rtol 1e-5 (librosa) and 1e-3 (torchaudio), dB
/// atol 2e-4.
@Suite struct SpectrogramParityTests {
    static let rates = [16000, 48000]

    static func load(_ sr: Int, _ name: String) throws -> NpyArray {
        try NpyArray.load(path: Fixtures.directory.appendingPathComponent("spectrogram/\(sr)/\(name).npy").path)
    }

    func analyze(_ preset: MelPreset, _ sr: Int, clampRule: ClampRule = .deferred,
                 _ edit: (inout MelOverrides) -> Void) throws -> [Float] {
        var overrides = MelOverrides()
        edit(&overrides)
        let c = try overrides.resolve(preset: preset, sampleRate: Double(sr))
        return try MelAnalyzer.analyze(Fixtures.signal(sr), configuration: c, clampRule: clampRule)
    }

    @Test(arguments: rates) func librosaPowerSpectrogram(sr: Int) throws {
        let frames = try analyze(.librosa, sr) { $0.output = .spectrogram }
        expectParity(frames, try Self.load(sr, "librosa_stft_power"), layout: .bandsByFrames, metric: .relative,
                     tolerance: 1e-5, label: "librosa |stft|^2 \(sr)")
    }

    @Test(arguments: rates) func librosaMagnitudeSpectrogram(sr: Int) throws {
        let frames = try analyze(.librosa, sr) { $0.output = .spectrogram; $0.power = 1 }
        expectParity(frames, try Self.load(sr, "librosa_stft_magnitude"), layout: .bandsByFrames, metric: .relative,
                     tolerance: 1e-5, label: "librosa |stft| \(sr)")
    }

    @Test(arguments: rates) func torchaudioSpectrogram(sr: Int) throws {
        let frames = try analyze(.torchaudio, sr) { $0.output = .spectrogram }
        expectParity(frames, try Self.load(sr, "torchaudio_spectrogram_emulated"), layout: .bandsByFrames,
                     metric: .relative, tolerance: 1e-3, label: "torchaudio Spectrogram() \(sr)")
    }

    @Test(arguments: rates) func melAmplitudeToDB(sr: Int) throws {
        let frames = try analyze(.librosa, sr) { $0.output = .db; $0.power = 1 }
        expectParity(frames, try Self.load(sr, "librosa_mel_amplitude_db"), layout: .bandsByFrames, metric: .absolute,
                     tolerance: 2e-4, label: "librosa amplitude_to_db(mel) \(sr)")
    }

    @Test(arguments: rates) func melAmplitudeToDBRefMin(sr: Int) throws {
        let frames = try analyze(.librosa, sr) { $0.output = .db; $0.power = 1; $0.dbReference = .min }
        expectParity(frames, try Self.load(sr, "librosa_mel_amplitude_db_refmin"), layout: .bandsByFrames,
                     metric: .absolute, tolerance: 2e-4, label: "librosa amplitude_to_db(mel, ref=np.min) \(sr)")
    }

    @Test(arguments: rates) func melPowerToDBRefMax(sr: Int) throws {
        let frames = try analyze(.librosa, sr) { $0.output = .db; $0.dbReference = .max }
        expectParity(frames, try Self.load(sr, "librosa_mel_power_db_refmax"), layout: .bandsByFrames,
                     metric: .absolute, tolerance: 2e-4, label: "librosa power_to_db(mel, ref=np.max) \(sr)")
    }

    @Test(arguments: rates) func melPowerToDBRefValue(sr: Int) throws {
        let frames = try analyze(.librosa, sr) { $0.output = .db; $0.referenceValue = 0.01 }
        expectParity(frames, try Self.load(sr, "librosa_mel_power_db_ref0.01"), layout: .bandsByFrames,
                     metric: .absolute, tolerance: 2e-4, label: "librosa power_to_db(mel, ref=0.01) \(sr)")
    }

    @Test(arguments: rates) func spectrogramAmplitudeToDBRefMax(sr: Int) throws {
        let frames = try analyze(.librosa, sr) { $0.output = .spectrogramDB; $0.power = 1; $0.dbReference = .max }
        expectParity(frames, try Self.load(sr, "librosa_stft_amplitude_db_refmax"), layout: .bandsByFrames,
                     metric: .absolute, tolerance: 2e-4, label: "librosa amplitude_to_db(|stft|, ref=np.max) \(sr)")
    }

    /// The running rule (live): each frame is referenced to the maximum (minimum) so far and
    /// clamped at the running maximum − top_db. Checked against the definition computed here
    /// from the global-rule-free values (ref 1, no clamp), frame by frame.
    @Test(arguments: [DBReference.max, .min]) func runningReference(reference: DBReference) throws {
        let raw = try analyze(.librosa, 16000, clampRule: .running) { $0.output = .db; $0.power = 1; $0.topDB = -1 }
        let live = try analyze(.librosa, 16000, clampRule: .running) { $0.output = .db; $0.power = 1; $0.dbReference = reference }
        let width = 128
        #expect(live.count == raw.count && raw.count % width == 0)
        var maximum = -Float.infinity, minimum = Float.infinity, worst: Float = 0
        for t in 0..<(raw.count / width) {
            let row = raw[(t * width)..<((t + 1) * width)]
            maximum = max(maximum, row.max()!)
            minimum = min(minimum, row.min()!)
            let shift = reference == .max ? maximum : minimum
            for (i, v) in row.enumerated() {
                let expected = max(v, maximum - 80) - shift
                worst = max(worst, abs(live[t * width + i] - expected))
            }
        }
        #expect(worst <= 1e-4, "running ref=np.\(reference.rawValue): worst error \(worst) dB")
        // The first frame's loudest band is exactly 0 dB with a running max.
        if reference == .max { #expect(live[0..<width].max()! == 0) }
    }

    /// Block-size invariance of the spectrogram outputs (the live path's frames do not depend
    /// on the JACK period).
    @Test(arguments: [OutputKind.spectrogram, .spectrogramDB]) func chunkInvariance(output: OutputKind) throws {
        var overrides = MelOverrides()
        overrides.output = output
        overrides.dbReference = output == .spectrogramDB ? .max : nil
        let c = try overrides.resolve(preset: .librosa, sampleRate: 16000)
        let signal = try Fixtures.signal(16000)
        let whole = try MelAnalyzer.analyze(signal, configuration: c, clampRule: .running, blockLengths: [4096])
        for blocks in [[1, 7, 64], [256], [333, 17]] {
            let split = try MelAnalyzer.analyze(signal, configuration: c, clampRule: .running, blockLengths: blocks)
            #expect(split == whole, "blocks \(blocks) change the \(output.rawValue) frames")
        }
        #expect(c.frameWidth == 1025)
    }

    @Test func dbReferenceNeedsDBOutput() throws {
        var overrides = MelOverrides()
        overrides.dbReference = .max
        overrides.output = .power
        #expect {
            try overrides.resolve(preset: .librosa, sampleRate: 16000)
        } throws: { error in
            "\(error)".contains("Use --features db or spectrogram-db")
        }
    }
}
