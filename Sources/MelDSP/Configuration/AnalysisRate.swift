/// The analysis rate (librosa's `sr`): the rate a stream's samples reach the STFT at, after the
/// resampler when the input runs at another rate. One definition of its range and of how it is
/// chosen, for `meltap file`, `meltap run`, `--stream NAME=PRESET@RATE` and `sample-rate` in a
/// `--config` file.
public enum AnalysisRate {
    /// Rates meltap analyses at, in Hz: 1 kHz (below it no preset's mel bank fits) to 768 kHz
    /// (the highest rate sound cards run at).
    public static let range: ClosedRange<Int> = 1000...768_000

    /// "Please give NAME in Hz from 1000 to 768000, e.g. 16000; got RATE." when `rate` is out of
    /// `range`, else nil. `name` is the option as the user wrote it (`--sample-rate`, `sample-rate`).
    public static func problem(_ rate: Int, name: String) -> String? {
        range.contains(rate) ? nil
            : "Please give \(name) in Hz from \(range.lowerBound) to \(range.upperBound), e.g. 16000; got \(rate)."
    }

    /// The rate asked for, in Hz: `sampleRate` when given, else the preset's required rate (16000
    /// for whisper, micro and openwakeword), else nil: the input's rate, known once the input is.
    public static func requested(_ sampleRate: Double?, preset: MelPreset) -> Double? {
        sampleRate ?? preset.requiredSampleRate
    }

    /// The rate the analysis runs at, in Hz, for input at `inputRate` Hz.
    public static func resolve(_ sampleRate: Double?, preset: MelPreset, inputRate: Double) -> Double {
        requested(sampleRate, preset: preset) ?? inputRate
    }
}
