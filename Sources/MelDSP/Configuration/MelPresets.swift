/// The reference frontends meltap reproduces (`../shared/spec/PRESETS.md` pins each one).
public enum MelPreset: String, Codable, Sendable, CaseIterable {
    /// librosa 0.10/0.11 `feature.melspectrogram` defaults.
    case librosa
    /// `torchaudio.transforms.MelSpectrogram()` defaults.
    case torchaudio
    /// Kaldi `compute-fbank-feats` / kaldi-native-fbank, dither 0.
    case kaldi
    /// OpenAI Whisper `log_mel_spectrogram`.
    case whisper

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
                melNorm: .slaney, filterbank: .librosa, output: .whisper, topDB: 8)
        }
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
        if preset == .whisper && sampleRate != 16000 {
            throw MelConfigurationError(
                "The whisper preset expects 16 kHz audio (Whisper models are trained at 16 kHz), but the input is "
                + "\(MelConfigurationError.format(sampleRate)) Hz. Resample it first, for example "
                + "`sox in.wav -r 16000 out.wav`, or choose another preset.")
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
            case .kaldi, .whisper: break
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
            if c.topDB == nil && (output == .db || output == .mfcc) { c.topDB = 80 }
            if output == .whisper { c.topDB = 8 }
        }
        if let mfccCount { c.mfccCount = mfccCount }
        if let topDB { c.topDB = topDB < 0 ? nil : topDB }
        if let framing { c.framing = framing }
        if let useEnergy { c.useEnergy = useEnergy }
        try c.validate()
        return c
    }
}
