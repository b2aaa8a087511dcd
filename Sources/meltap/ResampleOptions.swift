import ArgumentParser
import MelResample

extension ResamplerQuality: ExpressibleByArgument {}

/// The analysis rate and the resampler, shared by `meltap file` and `meltap run`.
struct ResampleOptions: ParsableArguments {
    @Option(name: .customLong("sample-rate"), help: ArgumentHelp(
        "The analysis rate in Hz (librosa's sr): every channel is resampled to it before the analysis when the input runs at another rate. Without it, 16000 for the whisper and micro presets (their models are trained at 16 kHz) and the input's rate for the others. n_fft, hop_length and fmax count at this rate.",
        valueName: "hz"))
    var sampleRate: Int?

    @Option(name: .customLong("resampler"), help: ArgumentHelp(
        "The resampler used with --sample-rate, libsamplerate's band-limited sinc converters: sinc-best (the default and the closest to librosa's soxr_hq: Whisper log-mel differs by at most 2e-4 below 7 kHz after the first two frames, docs/parity.md; about 2.8 % of a core per channel at 48 to 16 kHz, 9 ms look-ahead), sinc-medium (0.9 %, 2.9 ms) or sinc-fastest (0.4 %, 1.2 ms). All three are real-time safe: no allocation, lock or system call in the callback.",
        valueName: "name"))
    var resamplerChoice: ResamplerQuality?

    /// `--resampler`, else sinc-best. (nil when not given, so `meltap run --config` can take it
    /// from the file.)
    var resampler: ResamplerQuality { resamplerChoice ?? .standard }

    func validate() throws {
        if let sampleRate, !(1000...768_000).contains(sampleRate) {
            throw ValidationError("Please give --sample-rate in Hz from 1000 to 768000, e.g. 16000; got \(sampleRate).")
        }
    }
}
