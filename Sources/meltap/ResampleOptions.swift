import ArgumentParser
import MelDSP
import MelResample

extension ResamplerQuality: ExpressibleByArgument {}

/// The analysis rate and the resampler, shared by `meltap file` and `meltap run`.
struct ResampleOptions: ParsableArguments {
    @Option(name: .customLong("sample-rate"), help: ArgumentHelp(
        "The analysis rate in Hz (librosa's sr): every channel is resampled to it before the analysis when the input runs at another rate. Without it, 16000 for the whisper, micro and openwakeword presets (their models are trained at 16 kHz) and the input's rate for the others. n_fft, hop_length and fmax count at this rate.",
        valueName: "hz"))
    var sampleRate: Int?

    @Option(name: .customLong("resampler"), help: ArgumentHelp(
        "The resampler used with --sample-rate. zita (the default) is zita-resampler's polyphase filter with a half-length of 64 samples: the closest to librosa's soxr_hq (Whisper log-mel p99 0.003, docs/parity.md) and the cheapest, about 0.1 % of a core per channel at 48 to 16 kHz with 4 ms look-ahead; it needs whole-number rates whose reduced ratio has an output term of at most 1000 (48000, 44100, 22050 to 16000 all work). sinc-best, sinc-medium and sinc-fastest are libsamplerate's band-limited sinc converters (2.4 %, 0.8 % and 0.3 % of a core per channel; 9, 2.9 and 1.2 ms look-ahead) and take any ratio from 1/256 to 256. All four are real-time safe: no allocation, lock or system call in the callback.",
        valueName: "name"))
    var resamplerChoice: ResamplerQuality?

    /// `--resampler`, else zita. (nil when not given, so `meltap run --config` can take it
    /// from the file.)
    var resampler: ResamplerQuality { resamplerChoice ?? .standard }

    func validate() throws {
        if let sampleRate, let problem = AnalysisRate.problem(sampleRate, name: "--sample-rate") {
            throw ValidationError(problem)
        }
    }
}
