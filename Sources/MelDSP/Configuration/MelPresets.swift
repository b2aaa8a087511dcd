/// The reference frontends meltap reproduces (docs/presets.md pins each one).
public enum MelPreset: String, Codable, Sendable, CaseIterable {
    /// librosa 0.10/0.11 `feature.melspectrogram` defaults.
    case librosa
    /// `torchaudio.transforms.MelSpectrogram()` defaults.
    case torchaudio
    /// Kaldi `compute-fbank-feats` / kaldi-native-fbank, dither 0.
    case kaldi
    /// OpenAI Whisper `log_mel_spectrogram`.
    case whisper
    /// The TFLite-Micro audio frontend as pymicro-features 2.0.2 runs it, bit for bit: the
    /// features microWakeWord and microVAD models consume (docs/micro.md).
    case micro
    /// openWakeWord's melspectrogram model (`melspectrogram.tflite`, as pyopen-wakeword 1.1.0
    /// bundles it) followed by x/10 + 2, with its −80 dB floor per group of 8 frames counted from
    /// the stream's first sample: the features openWakeWord's embedding and wake-word models
    /// consume (docs/presets.md).
    case openWakeWord = "openwakeword"

    /// The only sample rate the preset accepts, in Hz (its models are trained at it); nil when
    /// any rate works.
    public var requiredSampleRate: Double? {
        switch self {
        case .whisper, .micro, .openWakeWord: return 16000
        case .librosa, .torchaudio, .kaldi: return nil
        }
    }

    /// The error for running this preset at `sampleRate`, or nil when the rate is accepted.
    public func sampleRateError(_ sampleRate: Double) -> MelConfigurationError? {
        guard let required = requiredSampleRate, sampleRate != required else { return nil }
        let rate = MelConfigurationError.format(sampleRate)
        switch self {
        case .micro:
            return MelConfigurationError(
                "The micro preset expects 16 kHz audio (the TFLite-Micro frontend and the microWakeWord models "
                + "run at 16 kHz), but the input is \(rate) Hz. Add --sample-rate 16000 to let meltap resample it "
                + "(meltap file and meltap run), or resample it first (`sox in.wav -r 16000 -b 16 out.wav`).")
        case .openWakeWord:
            return MelConfigurationError(
                "The openwakeword preset expects 16 kHz audio (openWakeWord's models run at 16 kHz), but the input "
                + "is \(rate) Hz. Add --sample-rate 16000 to let meltap resample it (meltap file and meltap run), "
                + "or resample it first (`sox in.wav -r 16000 -b 16 out.wav`).")
        default:
            return MelConfigurationError(
                "The whisper preset expects 16 kHz audio (Whisper models are trained at 16 kHz), but the input is "
                + "\(rate) Hz. Add --sample-rate 16000 to let meltap resample it (meltap file and meltap run), "
                + "resample it first (`sox in.wav -r 16000 out.wav`), or choose another preset.")
        }
    }

    /// The preset's complete configuration at `sampleRate` (Hz).
    public func configuration(sampleRate sr: Double) -> MelConfiguration {
        switch self {
        case .librosa:
            return MelConfiguration(
                preset: rawValue, sampleRate: sr, fftLength: 2048, hopLength: 512, windowLength: 2048,
                window: .hann, fftPrecision: .double, framing: .centerZero, power: 2, melBandCount: 128,
                minimumFrequency: 0, maximumFrequency: sr / 2, melScale: .slaney, melNorm: .slaney,
                filterbank: .librosa, output: .power)
        case .torchaudio:
            return MelConfiguration(
                preset: rawValue, sampleRate: sr, fftLength: 400, hopLength: 200, windowLength: 400,
                window: .hannFloat32, framing: .centerReflect, power: 2, melBandCount: 128,
                minimumFrequency: 0, maximumFrequency: Double(Int(sr) / 2), melScale: .htk, melNorm: .none,
                filterbank: .torchaudio, output: .power)
        case .kaldi:
            // Kaldi evaluates int(samp_freq · 0.001f · ms) in float.
            let frameLength = Int(Float(sr) * Float(0.001) * Float(25))
            let frameShift = Int(Float(sr) * Float(0.001) * Float(10))
            return MelConfiguration(
                preset: rawValue, sampleRate: sr, fftLength: MelPreset.nextPowerOfTwo(frameLength),
                hopLength: frameShift, windowLength: frameLength, window: .povey, framing: .none,
                inputScale: 32768, removeDCOffset: true, preemphasis: 0.97, useEnergy: false,
                power: 2, melBandCount: 23, minimumFrequency: 20, maximumFrequency: sr / 2,
                melScale: .htk, melNorm: .none, filterbank: .kaldi, output: .log, topDB: nil)
        case .whisper:
            return MelConfiguration(
                preset: rawValue, sampleRate: sr, fftLength: 400, hopLength: 160, windowLength: 400,
                window: .hannFloat32, framing: .centerReflect, dropLastFrame: true, power: 2,
                melBandCount: 80, minimumFrequency: 0, maximumFrequency: sr / 2, melScale: .slaney,
                melNorm: .slaney, filterbank: .librosa, output: .whisper, topDB: MelConfiguration.whisperClampDistance)
        case .micro:
            // The integer pipeline (Micro/) reads none of the float fields; they give the nearest
            // float description: an HTK-shaped mel bank (1127·ln(1 + f/700)) without norm over the
            // power spectrum of a Hann-shaped window, on samples scaled to int16 (× 32768).
            return MelConfiguration(
                preset: rawValue, sampleRate: sr, fftLength: MicroParameters.fftLength,
                hopLength: MicroParameters.hopLength, windowLength: MicroParameters.windowLength,
                window: .hann, framing: .none, inputScale: 32768, power: 2,
                melBandCount: MicroParameters.channelCount,
                minimumFrequency: Double(MicroParameters.lowerBandLimit),
                maximumFrequency: Double(MicroParameters.upperBandLimit), melScale: .htk, melNorm: .none,
                filterbank: .micro, output: .micro, topDB: nil,
                outputScale: Double(MicroParameters.outputScale))
        case .openWakeWord:
            // The float pipeline's description holds exactly: a 400-sample periodic Hann centred
            // in 512 (librosa style), float64 FFT, on int16-scale samples; `OpenWakeWordFrontend`
            // adds the int16 rounding, the per-group floor (topDB, 80 dB) and dB / 10 + 2.
            typealias P = OpenWakeWordParameters
            return MelConfiguration(
                preset: rawValue, sampleRate: sr, fftLength: P.fftLength, hopLength: P.hopLength,
                windowLength: P.windowLength, window: .hann, fftPrecision: .double, framing: .none,
                inputScale: 32768, power: 2, melBandCount: P.melBandCount, minimumFrequency: P.minimumFrequency,
                maximumFrequency: P.maximumFrequency, melScale: .slaney, melNorm: .slaney, filterbank: .librosa,
                output: .openWakeWord, referencePower: 1, amin: 1e-10, topDB: Double(P.floorDistance),
                floorGroupLength: P.groupLength, outputDivisor: Double(P.outputDivisor),
                outputOffset: Double(P.outputOffset))
        }
    }

    /// The openwakeword preset's fixed parameters, for error messages.
    static var openWakeWordSummary: String {
        "n_fft 512, hop_length 160, a 400-sample Hann, 32 Slaney mel bands over 60–3800 Hz, "
            + "the floor max − 80 dB per group of 8 frames, dB / 10 + 2"
    }

    /// Kaldi's `round_to_power_of_two`.
    public static func nextPowerOfTwo(_ n: Int) -> Int {
        var p = 1
        while p < n { p <<= 1 }
        return p
    }
}

/// Command-line style overrides applied on top of a preset. Nil means "the preset's value".
public struct MelOverrides: Sendable, Equatable {
    public var fftLength: Int?
    public var hopLength: Int?
    public var windowLength: Int?
    public var window: WindowKind?
    public var fftPrecision: FFTPrecision?
    public var melBandCount: Int?
    public var minimumFrequency: Double?
    /// Hz; zero or negative means Nyquist + value (Kaldi's `high_freq` convention).
    public var maximumFrequency: Double?
    public var melScale: MelScale?
    public var melNorm: MelNorm?
    public var power: Double?
    public var output: OutputKind?
    public var mfccCount: Int?
    /// Negative disables the clamp.
    public var topDB: Double?
    public var framing: Framing?
    public var useEnergy: Bool?
    /// librosa's `ref` for dB outputs: `.max`, `.min`, or `.value` with `referenceValue`.
    public var dbReference: DBReference?
    /// `ref=VALUE`, in the output's own units: a power with power 2, an amplitude with power 1
    /// (amplitude_to_db's `ref`, squared into `referencePower`).
    public var referenceValue: Double?

    public init() {}

    /// n_fft as `resolve` sets it, without validating anything: `fftLength` when given; else,
    /// with `windowLength` given, Kaldi's next power of two above it or (other presets) the
    /// preset's n_fft widened to it; else the preset's. Only the kaldi preset's n_fft depends
    /// on `sampleRate`, and it is then a power of two.
    public func resolvedFFTLength(preset: MelPreset, sampleRate: Double) -> Int {
        if let fftLength { return fftLength }
        if let windowLength, preset == .kaldi { return MelPreset.nextPowerOfTwo(windowLength) }
        let presetLength = preset.configuration(sampleRate: sampleRate).fftLength
        if let windowLength { return max(presetLength, windowLength) }
        return presetLength
    }

    /// Resolves `preset` at `sampleRate` with these overrides and validates the result.
    ///
    /// Lengths follow each reference's defaults: changing n_fft alone sets win_length = n_fft;
    /// changing the window length of the Kaldi preset alone pads the FFT to the next power of
    /// two; changing either without a hop sets librosa's win/4, torchaudio's win/2.
    public func resolve(preset: MelPreset, sampleRate: Double) throws(MelConfigurationError) -> MelConfiguration {
        if let error = preset.sampleRateError(sampleRate) { throw error }
        if preset == .micro {
            try refuseMicroOverrides()
            let c = preset.configuration(sampleRate: sampleRate)
            try c.validate()
            return c
        }
        if preset == .openWakeWord {
            try refuseFixedOverrides(of: .openWakeWord, summary: Self.openWakeWordSummaryForOverrides)
            let c = preset.configuration(sampleRate: sampleRate)
            try c.validate()
            return c
        }
        if output == .micro || output == .openWakeWord {
            if output == .openWakeWord {
                throw MelConfigurationError(
                    "--features openwakeword is openWakeWord's melspectrogram model, which only the openwakeword preset "
                    + "runs. Use --preset openwakeword, or choose another --features.")
            }
            throw MelConfigurationError(
                "--features micro is the TFLite-Micro frontend's integer pipeline, which only the micro preset runs. "
                + "Use --preset micro, or choose another --features.")
        }
        var c = preset.configuration(sampleRate: sampleRate)
        let lengthsChanged = fftLength != nil || windowLength != nil
        c.fftLength = resolvedFFTLength(preset: preset, sampleRate: sampleRate)
        if let windowLength {
            c.windowLength = windowLength
        } else if fftLength != nil && preset != .kaldi {
            c.windowLength = c.fftLength
        }
        if let hopLength {
            c.hopLength = hopLength
        } else if lengthsChanged {
            switch preset {
            case .librosa: c.hopLength = max(1, c.windowLength / 4)
            case .torchaudio: c.hopLength = max(1, c.windowLength / 2)
            case .kaldi, .whisper, .micro, .openWakeWord: break
            }
        }
        if let window { c.window = window }
        if let fftPrecision { c.fftPrecision = fftPrecision }
        if let melBandCount { c.melBandCount = melBandCount }
        if let minimumFrequency { c.minimumFrequency = minimumFrequency }
        if let maximumFrequency {
            c.maximumFrequency = maximumFrequency > 0 ? maximumFrequency : sampleRate / 2 + maximumFrequency
        }
        if let melScale { c.melScale = melScale }
        if let melNorm { c.melNorm = melNorm }
        if let power { c.power = power }
        if let output {
            c.output = output
            if c.topDB == nil && (output.isDecibels || output == .mfcc) { c.topDB = 80 }
            if output == .whisper { c.topDB = MelConfiguration.whisperClampDistance }
        }
        if let mfccCount { c.mfccCount = mfccCount }
        if let topDB { c.topDB = topDB < 0 ? nil : topDB }
        if let framing { c.framing = framing }
        if let useEnergy { c.useEnergy = useEnergy }
        if let dbReference { c.dbReference = dbReference }
        if let referenceValue {
            c.dbReference = .value
            c.referencePower = c.output.isDecibels && c.power == 1 ? referenceValue * referenceValue : referenceValue
        }
        try c.validate()
        return c
    }
}

extension MelOverrides {
    /// The micro preset reproduces the TFLite-Micro frontend bit for bit, so nothing about it can
    /// change: throws, naming the command-line options, when an override differs from its value.
    func refuseMicroOverrides() throws(MelConfigurationError) {
        try refuseFixedOverrides(
            of: .micro,
            summary: "The micro preset reproduces the TFLite-Micro frontend bit for bit, so its parameters are fixed "
                + "(n_fft 512, hop_length 160, win_length 480, 40 mel bands over 125–7500 Hz, uint16 × 0.0390625)")
    }

    /// The openwakeword preset's opening words for `refuseFixedOverrides`.
    static var openWakeWordSummaryForOverrides: String {
        "The openwakeword preset reproduces openWakeWord's melspectrogram model, so its parameters are fixed "
            + "(\(MelPreset.openWakeWordSummary))"
    }

    /// Throws, naming the command-line options, when an override differs from `preset`'s value
    /// (a preset that reproduces one model's frontend exactly: micro, openwakeword); `summary`
    /// opens the message.
    func refuseFixedOverrides(of preset: MelPreset, summary: String) throws(MelConfigurationError) {
        let fixed = preset.configuration(sampleRate: preset.requiredSampleRate ?? 16000)
        let f = MelConfigurationError.format
        var given: [String] = []
        if let v = fftLength, v != fixed.fftLength { given.append("--n-fft \(v)") }
        if let v = hopLength, v != fixed.hopLength { given.append("--hop-length \(v)") }
        if let v = windowLength, v != fixed.windowLength { given.append("--win-length \(v)") }
        if let v = window, v != fixed.window { given.append("--window \(v.rawValue)") }
        if let v = fftPrecision, v != fixed.fftPrecision { given.append("--fft-precision \(v.rawValue)") }
        if let v = framing, v != fixed.framing { given.append("--framing \(v.rawValue)") }
        if let v = melBandCount, v != fixed.melBandCount { given.append("--n-mels \(v)") }
        if let v = minimumFrequency, v != fixed.minimumFrequency { given.append("--fmin \(f(v))") }
        if let v = maximumFrequency, (v > 0 ? v : fixed.sampleRate / 2 + v) != fixed.maximumFrequency {
            given.append("--fmax \(f(v))")
        }
        if let v = melScale, v != fixed.melScale { given.append("--mel-scale \(v.rawValue)") }
        if let v = melNorm, v != fixed.melNorm { given.append("--mel-norm \(v.rawValue)") }
        if let v = power, v != fixed.power { given.append("--power \(f(v))") }
        if let v = output, v != fixed.output { given.append("--features \(v.rawValue)") }
        if let v = mfccCount { given.append("--n-mfcc \(v)") }
        if let v = topDB, (v >= 0 ? v : nil) != fixed.topDB { given.append("--top-db \(f(v))") }
        if useEnergy == true { given.append("--use-energy") }
        if dbReference != nil || referenceValue != nil { given.append("--db-ref") }
        guard !given.isEmpty else { return }
        let list = given.count == 1 ? given[0]
            : given.dropLast().joined(separator: ", ") + " and " + given[given.count - 1]
        throw MelConfigurationError(
            summary + "; \(list) \(given.count == 1 ? "does" : "do") not apply. Drop \(given.count == 1 ? "it" : "them"), "
            + "or choose another preset.")
    }
}
