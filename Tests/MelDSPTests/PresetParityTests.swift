import MelDSP
import MelFiles
import Testing

/// Parity with the golden outputs of librosa 0.11, kaldi-native-fbank 1.22.5 and the numpy
/// emulations of torchaudio and Whisper, at the tolerances of docs/presets.md or tighter.
@Suite struct PresetParityTests {
    static let rates = [16000, 48000]

    func configuration(_ preset: MelPreset, _ sr: Int, _ edit: (inout MelOverrides) -> Void = { _ in }) throws -> MelConfiguration {
        var overrides = MelOverrides()
        edit(&overrides)
        return try overrides.resolve(preset: preset, sampleRate: Double(sr))
    }

    @Test(arguments: rates) func librosaMelPower(sr: Int) throws {
        let frames = try MelAnalyzer.analyze(Fixtures.signal(sr), configuration: configuration(.librosa, sr))
        expectParity(frames, try Fixtures.load(sr, "librosa_melspec"), layout: .bandsByFrames, metric: .relative,
                     tolerance: 1e-5, label: "librosa power \(sr)")
    }

    @Test(arguments: rates) func librosaDB(sr: Int) throws {
        let c = try configuration(.librosa, sr) { $0.output = .db }
        let frames = try MelAnalyzer.analyze(Fixtures.signal(sr), configuration: c)
        expectParity(frames, try Fixtures.load(sr, "librosa_power_to_db"), layout: .bandsByFrames, metric: .absolute,
                     tolerance: 2e-4, label: "librosa db \(sr)")
    }

    @Test(arguments: rates) func librosaMFCC(sr: Int) throws {
        let c = try configuration(.librosa, sr) { $0.output = .mfcc }
        let frames = try MelAnalyzer.analyze(Fixtures.signal(sr), configuration: c)
        expectParity(frames, try Fixtures.load(sr, "librosa_mfcc"), layout: .bandsByFrames, metric: .absolute,
                     tolerance: 1e-3, label: "librosa mfcc \(sr)")
    }

    /// `librosa.pcen(mel)` with all its defaults, including sr 22050 and hop 512 for the smoother.
    @Test(arguments: rates) func librosaPCENDefault(sr: Int) throws {
        var c = try configuration(.librosa, sr) { $0.output = .pcen }
        c.pcen.smootherSampleRate = 22050
        c.pcen.smootherHopLength = 512
        let frames = try MelAnalyzer.analyze(Fixtures.signal(sr), configuration: c)
        expectParity(frames, try Fixtures.load(sr, "librosa_pcen_default"), layout: .bandsByFrames, metric: .relative,
                     tolerance: 1e-5, label: "librosa pcen-default \(sr)")
    }

    /// The docs' recipe: `pcen(melspectrogram(power=1) * 2**31, sr=sr, hop_length=512)`.
    @Test(arguments: rates) func librosaPCENDocs(sr: Int) throws {
        var c = try configuration(.librosa, sr) { $0.output = .pcen; $0.power = 1 }
        c.pcen.inputScale = 2147483648
        let frames = try MelAnalyzer.analyze(Fixtures.signal(sr), configuration: c)
        expectParity(frames, try Fixtures.load(sr, "librosa_pcen_docs"), layout: .bandsByFrames, metric: .relative,
                     tolerance: 1e-5, label: "librosa pcen-docs \(sr)")
    }

    @Test(arguments: rates) func torchaudioMelPower(sr: Int) throws {
        let frames = try MelAnalyzer.analyze(Fixtures.signal(sr), configuration: configuration(.torchaudio, sr))
        expectParity(frames, try Fixtures.load(sr, "torchaudio_melspec_emulated"), layout: .bandsByFrames,
                     metric: .relative, tolerance: 1e-3, label: "torchaudio power \(sr)")
    }

    @Test(arguments: rates) func kaldiFbank23(sr: Int) throws {
        let frames = try MelAnalyzer.analyze(Fixtures.signal(sr), configuration: configuration(.kaldi, sr))
        expectParity(frames, try Fixtures.load(sr, "kaldi_fbank23"), layout: .framesByBands, metric: .absolute,
                     tolerance: 2e-3, label: "kaldi log fbank23 \(sr)")
    }

    @Test(arguments: rates) func kaldiFbank80WithEnergy(sr: Int) throws {
        let c = try configuration(.kaldi, sr) { $0.melBandCount = 80; $0.useEnergy = true }
        let frames = try MelAnalyzer.analyze(Fixtures.signal(sr), configuration: c)
        expectParity(frames, try Fixtures.load(sr, "kaldi_fbank80_energy"), layout: .framesByBands, metric: .absolute,
                     tolerance: 2e-3, label: "kaldi log fbank80+energy \(sr)")
    }

    @Test(arguments: rates) func kaldiFbank80NoSnipEdges(sr: Int) throws {
        let c = try configuration(.kaldi, sr) { $0.melBandCount = 80; $0.framing = .kaldiNoSnip }
        let frames = try MelAnalyzer.analyze(Fixtures.signal(sr), configuration: c)
        expectParity(frames, try Fixtures.load(sr, "kaldi_fbank80_nosnip"), layout: .framesByBands, metric: .absolute,
                     tolerance: 2e-3, label: "kaldi log fbank80 snip_edges=false \(sr)")
    }

    @Test(arguments: [80, 128]) func whisper(bands: Int) throws {
        let c = try configuration(.whisper, 16000) { $0.melBandCount = bands }
        let frames = try MelAnalyzer.analyze(Fixtures.signal(16000), configuration: c)
        expectParity(frames, try Fixtures.load(16000, "whisper_logmel\(bands)_emulated"), layout: .bandsByFrames,
                     metric: .absolute, tolerance: 1e-4, label: "whisper log-mel \(bands)")
    }

    /// Whisper's transcribe() path: the audio plus 30 s of zeros, first 152 frames.
    @Test(arguments: [80, 128]) func whisperTranscribePadding(bands: Int) throws {
        let c = try configuration(.whisper, 16000) { $0.melBandCount = bands }
        let padded = try Fixtures.signal(16000) + [Float](repeating: 0, count: 480_000)
        let frames = try MelAnalyzer.analyze(padded, configuration: c)
        expectParity(frames, try Fixtures.load(16000, "whisper_logmel\(bands)_transcribe_first152"),
                     layout: .bandsByFrames, metric: .absolute, tolerance: 1e-4,
                     label: "whisper transcribe-path \(bands)", frameLimit: 152)
    }
}

/// The filterbanks themselves, against the references' matrices.
@Suite struct FilterbankParityTests {
    @Test(arguments: [16000, 48000]) func librosaSlaney(sr: Int) throws {
        let c = try MelOverrides().resolve(preset: .librosa, sampleRate: Double(sr))
        let dense = MelFilterbank(configuration: c).denseMatrix()
        let expected = try Fixtures.load(sr, "librosa_melbasis_2048x128")   // (128, 1025)
        expectParity(dense.flatMap { $0 }, expected, layout: .framesByBands, metric: .absolute, tolerance: 0,
                     label: "librosa filterbank \(sr) (bit-exact)")
    }

    @Test(arguments: [16000, 48000]) func torchaudioHTK(sr: Int) throws {
        let c = try MelOverrides().resolve(preset: .torchaudio, sampleRate: Double(sr))
        let bank = MelFilterbank(configuration: c)
        let expected = try Fixtures.load(sr, "torchaudio_fb_emulated")      // (201, 128) = bins × bands
        // Compare as bins × bands.
        let dense = bank.denseMatrix()
        let transposed = (0..<bank.binCount).flatMap { k in (0..<bank.bandCount).map { dense[$0][k] } }
        // docs/presets.md allows rtol 1e-3; our float32 emulation of torch's linspace is within 1e-5
        // absolute (weights ≤ 1): powf and numpy's float32 power differ in the last bits.
        expectParity(transposed, expected, layout: .framesByBands, metric: .absolute, tolerance: 1e-5,
                     label: "torchaudio filterbank \(sr)")
        // The quirk to keep: empty bands (4 at 16 kHz, 17 at 48 kHz).
        #expect(bank.emptyBands.count == (sr == 16000 ? 4 : 17))
    }

    @Test(arguments: [(16000, 23), (16000, 80), (48000, 23), (48000, 80)])
    func kaldi(sr: Int, bins: Int) throws {
        var overrides = MelOverrides()
        overrides.melBandCount = bins
        let c = try overrides.resolve(preset: .kaldi, sampleRate: Double(sr))
        let expected = try Fixtures.load(sr, "kaldi_melbank\(bins)_knf")      // (bins, P/2 + 1)
        let dense = MelFilterbank(configuration: c).denseMatrix()
        #expect(dense[0].count == expected.shape[1])
        expectParity(dense.flatMap { $0 }, expected, layout: .framesByBands, metric: .absolute, tolerance: 1e-6,
                     label: "kaldi filterbank \(sr)×\(bins)")
    }
}
