import Foundation
import ArgumentParser
import MelDSP

extension MelPreset: ExpressibleByArgument {}
extension WindowKind: ExpressibleByArgument {}
extension MelScale: ExpressibleByArgument {}
extension MelNorm: ExpressibleByArgument {}
extension OutputKind: ExpressibleByArgument {}
extension Framing: ExpressibleByArgument {}
extension FFTPrecision: ExpressibleByArgument {}

/// The preset and its overrides, shared by `meltap file` and `meltap run`.
struct DSPOptions: ParsableArguments {
    @Option(name: .customLong("preset"), help: "The reference frontend to reproduce: librosa (the default), torchaudio, kaldi, whisper, or micro (the TFLite-Micro frontend of microWakeWord models, bit-exact with pymicro-features; 16 kHz, no overrides). Every other option starts from its values.")
    var presetChoice: MelPreset?

    /// `--preset`, else librosa. (`presetChoice` is nil when the option was not given, so that
    /// `meltap run --config` can take the preset from the file.)
    var preset: MelPreset { presetChoice ?? .librosa }

    @Option(name: .customLong("n-fft"), help: "FFT length in samples (an even number, 16 or more; 400 and 1200 work too). For kaldi, the zero-padded FFT size. meltap run refuses sizes for which FFTW allocates memory on every frame (n_fft/2 with a prime factor above 31 other than 43, such as 2018; above 131072, any prime factor above 7) or longer than 524288, and names the nearest that work; meltap file accepts them, more slowly.")
    var fftLength: Int?

    @Option(name: .customLong("hop-length"), help: "Samples between frames.")
    var hopLength: Int?

    @Option(name: .customLong("win-length"), help: "Window length in samples, at most --n-fft; the window is zero-padded and centred (kaldi: the frame length).")
    var windowLength: Int?

    @Option(help: "The analysis window: hann (periodic, float64 like scipy), hann-float32 (torch), hamming, povey or rectangular.")
    var window: WindowKind?

    @Option(help: "How frames sit on the signal: center-zero (librosa), center-reflect (torchaudio, Whisper), none (librosa center=False, Kaldi snip_edges=true) or kaldi-no-snip (Kaldi snip_edges=false).")
    var framing: Framing?

    @Option(name: .customLong("n-mels"), help: "Number of mel bands (Kaldi: num_bins).")
    var melBandCount: Int?

    @Option(name: .customLong("fmin"), help: "Lowest frequency of the mel bank, in Hz.")
    var minimumFrequency: Double?

    @Option(name: .customLong("fmax"), help: "Highest frequency of the mel bank, in Hz, at most half the sample rate. Zero or negative means Nyquist plus the value, as Kaldi's high_freq (write --fmax=-400).")
    var maximumFrequency: Double?

    @Option(name: .customLong("mel-scale"), help: "Mel scale: slaney or htk.")
    var melScale: MelScale?

    @Option(name: .customLong("mel-norm"), help: "Filter normalisation: slaney (area) or none.")
    var melNorm: MelNorm?

    @Option(help: "2 for power, 1 for magnitude.")
    var power: Double?

    @Option(help: "What each frame holds: power (mel power or magnitude), db (power_to_db; with --power 1, amplitude_to_db), log (natural log, Kaldi), whisper (Whisper's normalised log-mel), mfcc, pcen, spectrogram (the linear |STFT|^power, n_fft/2 + 1 bins, no mel bank) or spectrogram-db (that spectrogram in dB, as db).")
    var output: OutputKind?

    @Option(name: .customLong("n-mfcc"), help: "Number of MFCC coefficients with --output mfcc.")
    var mfccCount: Int?

    @Option(name: .customLong("top-db"), help: "Clamp dB values this far below the maximum, or 'none' to keep them all.")
    var topDB: String?

    @Option(name: .customLong("db-ref"), help: ArgumentHelp("The dB reference, librosa's ref: max (ref=np.max, the loudest value is 0 dB), min (ref=np.min) or a number (a power with --power 2, an amplitude with --power 1). Default 1. max and min need the whole signal: meltap file uses the whole file's, exactly as librosa; meltap run uses the maximum (minimum) so far, the running rule, as for top_db.", valueName: "max|min|value"))
    var dbReference: String?

    @Flag(name: .customLong("use-energy"), help: "Kaldi: put the raw log energy first in every frame.")
    var useEnergy = false

    @Option(name: .customLong("fft-precision"), help: "single or double. The librosa preset defaults to double, as librosa computes its FFT in float64; the others to single.")
    var fftPrecision: FFTPrecision?

    /// The overrides given on the command line.
    func overrides() throws -> MelOverrides {
        var o = MelOverrides()
        o.fftLength = fftLength
        o.hopLength = hopLength
        o.windowLength = windowLength
        o.window = window
        o.framing = framing
        o.melBandCount = melBandCount
        o.minimumFrequency = minimumFrequency
        o.maximumFrequency = maximumFrequency
        o.melScale = melScale
        o.melNorm = melNorm
        o.power = power
        o.output = output
        o.mfccCount = mfccCount
        o.fftPrecision = fftPrecision
        if useEnergy { o.useEnergy = true }
        if let dbReference {
            if let reference = DBReference(rawValue: dbReference), reference != .value {
                o.dbReference = reference
            } else if let value = Double(dbReference), value > 0, value.isFinite {
                o.referenceValue = value
            } else {
                throw ValidationError("Please give --db-ref as max, min or a positive number (librosa's ref); got '\(dbReference)'.")
            }
        }
        if let topDB {
            if topDB == "none" {
                o.topDB = -1
            } else if let value = Double(topDB), value >= 0 {
                o.topDB = value
            } else {
                throw ValidationError("Please give --top-db as a number of dB (0 or more), or 'none'; got '\(topDB)'.")
            }
        }
        return o
    }
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

