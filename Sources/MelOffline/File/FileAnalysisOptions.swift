// The offline driver: what to compute from an audio file and how to write it.

import MelDSP
import MelFiles
import MelResample

/// How `FileAnalyzer` analyses a file: the features, the analysis rate and resampler, the channels,
/// the clamp rule, the axis order and whether to save the analysed audio. `meltap file` maps its
/// flags onto one of these; a program that embeds meltap fills one in directly.
///
/// The mel configuration itself is resolved per file, at the analysis rate (n_fft, hop_length and
/// fmax count at that rate, and the kaldi preset's n_fft depends on it).
public struct FileAnalysisOptions: Sendable, Equatable {
    /// The reference frontend to reproduce (`--preset`); every override starts from its values.
    public var preset: MelPreset
    /// The options given on top of the preset (`--n-fft`, `--n-mels`, `--features` …).
    public var overrides: MelOverrides
    /// The analysis rate in Hz (librosa's `sr`, `--sample-rate`), or nil for the rate the preset
    /// requires (whisper, micro: 16000) and otherwise the input's own.
    public var sampleRate: Double?
    /// The converter used when the input runs at another rate than the analysis (`--resampler`).
    public var resampler: ResamplerQuality
    /// Which channels are analysed (`--channel`, `--all-channels`, `--mono`).
    public var channels: ChannelSelection
    /// How top_db, Whisper's clamp and dB references use the maximum (`--clamp`): `.deferred`
    /// (on the command line "global") over the whole file as the reference libraries do offline,
    /// `.running` over the frames so far as the live client does.
    public var clamp: ClampRule
    /// The order of the array's axes (`--layout`).
    public var layout: FeatureAxisOrder
    /// Where to also write the analysed samples as WAV (`--save-audio`): at the analysis rate,
    /// every analysed channel, 16-bit PCM for the micro preset and 32-bit float otherwise. nil
    /// writes none. Names one file, so a dataset run refuses it.
    public var saveAudioPath: String?

    public init(preset: MelPreset = .librosa, overrides: MelOverrides = MelOverrides(), sampleRate: Double? = nil,
                resampler: ResamplerQuality = .standard, channels: ChannelSelection = .only,
                clamp: ClampRule = .deferred, layout: FeatureAxisOrder = .framesFirst, saveAudioPath: String? = nil) {
        self.preset = preset
        self.overrides = overrides
        self.sampleRate = sampleRate
        self.resampler = resampler
        self.channels = channels
        self.clamp = clamp
        self.layout = layout
        self.saveAudioPath = saveAudioPath
    }

    /// The rate, in Hz, the analysis runs at for input at `inputRate` Hz.
    public func analysisRate(inputRate: Double) -> Double {
        AnalysisRate.resolve(sampleRate, preset: preset, inputRate: inputRate)
    }

    /// The configuration at `analysisRate` Hz.
    /// - Throws: `MelConfigurationError` when the preset and overrides do not make one.
    public func configuration(analysisRate: Double) throws -> MelConfiguration {
        try overrides.resolve(preset: preset, sampleRate: analysisRate)
    }

    /// A prefaulted resampler from `inputRate` to the analysis rate, or nil when they are equal.
    /// - Throws: `MelConfigurationError` when libsamplerate cannot do the ratio.
    func makeResampler(inputRate: Double) throws -> Resampler? {
        let outputRate = analysisRate(inputRate: inputRate)
        guard outputRate != inputRate else { return nil }
        do {
            return try Resampler(inputRate: inputRate, outputRate: outputRate, quality: resampler)
        } catch {
            throw MelConfigurationError("\(error)")
        }
    }
}
