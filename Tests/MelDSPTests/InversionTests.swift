import Foundation
import MelDSP
import MelFiles
import Testing

/// `FeatureInversion` (mel → linear by NNLS, then Griffin-Lim, as librosa's `mel_to_audio`)
/// against librosa's own figure on the same features: the spectral convergence of the
/// re-analysed audio, ‖M − M̂‖ / ‖M‖ on mel power (magnitude), averaged over seeds 0–4, must be
/// at most librosa's (the same average, `Fixtures/spectrogram/manifest.json`, written by
/// `make_spectrogram_vectors.py`) + 10 %. Quality only; the speed comparison is
/// `scripts/inversion-bench`.
@Suite struct InversionTests {
    struct LibrosaFigure: Decodable { let spectral_convergence: Double }
    struct Manifest: Decodable { let inversion: [String: LibrosaFigure] }

    static func librosaFigure(_ key: String) throws -> Double {
        let url = Fixtures.directory.appendingPathComponent("spectrogram/manifest.json")
        let data = try Data(contentsOf: url)
        // "what" is a string among the figures: decode leniently.
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let inversion = object["inversion"] as! [String: Any]
        let entry = inversion[key] as! [String: Any]
        return entry["spectral_convergence"] as! Double
    }

    @Test(arguments: [(2.0, "power"), (1.0, "magnitude")])
    func melToAudioConvergence(power: Double, key: String) throws {
        var overrides = MelOverrides()
        overrides.power = power
        let c = try overrides.resolve(preset: .librosa, sampleRate: 16000)
        let features = try MelAnalyzer.analyze(Fixtures.signal(16000), configuration: c)
        let inversion = try FeatureInversion(configuration: c)
        // Griffin-Lim starts from random phases: compare means over the seeds the fixture used.
        var figures: [Double] = []
        for seed in 0..<UInt64(5) {
            let audio = inversion.audio(features: features, iterations: 32, seed: seed)
            #expect(audio.count == 512 * (features.count / 128 - 1))
            figures.append(try inversion.spectralConvergence(audio: audio, features: features))
        }
        let convergence = figures.reduce(0, +) / Double(figures.count)
        let librosa = try Self.librosaFigure(key)
        print("INVERSION mel \(key): meltap spectral convergence \(String(format: "%.4f", convergence)) (mean of seeds 0-4: "
              + figures.map { String(format: "%.4f", $0) }.joined(separator: " ") + "), "
              + "librosa \(String(format: "%.4f", librosa)), bound \(String(format: "%.4f", librosa * 1.1))")
        #expect(convergence <= librosa * 1.1, "meltap \(convergence) > librosa \(librosa) + 10 %")
    }

    /// A dB mel file (the usual stored form) and a linear spectrogram invert too.
    @Test(arguments: [OutputKind.db, .spectrogram, .spectrogramDB])
    func otherOutputsInvert(output: OutputKind) throws {
        var overrides = MelOverrides()
        overrides.output = output
        if output == .spectrogramDB { overrides.dbReference = .max; overrides.power = 1 }
        let c = try overrides.resolve(preset: .librosa, sampleRate: 16000)
        let features = try MelAnalyzer.analyze(Fixtures.signal(16000), configuration: c)
        let inversion = try FeatureInversion(configuration: c)
        let audio = inversion.audio(features: features, iterations: 32, seed: 3)
        let convergence = try inversion.spectralConvergence(audio: audio, features: features)
        print("INVERSION \(output.rawValue): spectral convergence \(String(format: "%.4f", convergence))")
        // librosa's mel power figure + 10 % bounds these too: the spectrogram skips the NNLS.
        #expect(convergence <= (try Self.librosaFigure("power")) * 1.1)
    }

    @Test func deterministicPerSeed() throws {
        let c = try MelOverrides().resolve(preset: .librosa, sampleRate: 16000)
        let features = try MelAnalyzer.analyze(Array(Fixtures.signal(16000).prefix(8000)), configuration: c)
        let inversion = try FeatureInversion(configuration: c)
        let a = inversion.audio(features: features, iterations: 4, seed: 7)
        let b = inversion.audio(features: features, iterations: 4, seed: 7)
        let other = inversion.audio(features: features, iterations: 4, seed: 8)
        #expect(a == b)
        #expect(a != other)
    }

    @Test(arguments: [(MelPreset.librosa, OutputKind.mfcc, "MFCC"), (.librosa, .pcen, "PCEN"),
                      (.micro, .micro, "micro"), (.kaldi, .log, "Kaldi")])
    func refusesWhatCannotBeInverted(preset: MelPreset, output: OutputKind, word: String) throws {
        var overrides = MelOverrides()
        if preset != .micro { overrides.output = output }
        let c = try overrides.resolve(preset: preset, sampleRate: 16000)
        #expect {
            try FeatureInversion(configuration: c)
        } throws: { error in
            let text = "\(error)"
            return text.contains(word) && (text.contains("instead") || text.contains("to invert it"))
        }
    }
}
