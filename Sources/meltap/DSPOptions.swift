import Foundation
import ArgumentParser
import MelDSP
import MelPipeline

extension MelPreset: ExpressibleByArgument {}
extension WindowKind: ExpressibleByArgument {}
extension MelScale: ExpressibleByArgument {}
extension MelNorm: ExpressibleByArgument {}
extension OutputKind: ExpressibleByArgument {}
extension Framing: ExpressibleByArgument {}
extension FFTPrecision: ExpressibleByArgument {}

/// The preset and its overrides, shared by `meltap file` and `meltap run`.
struct DSPOptions: ParsableArguments {
    @Option(name: .customLong("preset"), help: "The reference frontend to reproduce: librosa (the default), torchaudio, kaldi, whisper, micro (the TFLite-Micro frontend of microWakeWord models, bit-exact with pymicro-features; 16 kHz, no overrides), or openwakeword (openWakeWord's melspectrogram model followed by x/10 + 2, with its -80 dB floor per group of 8 frames; 16 kHz, no overrides, frames held 7 hops until their group is complete). Every other option starts from its values.")
    var presetChoice: MelPreset?

    /// `--preset`, else librosa. (`presetChoice` is nil when the option was not given, so that
    /// `meltap run --config` can take the preset from the file.)
    var preset: MelPreset { presetChoice ?? .librosa }

    @Option(name: .customLong("n-fft"), help: Self.help("n-fft"))
    var fftLength: Int?

    @Option(help: Self.help("hop-length"))
    var hopLength: Int?

    @Option(name: .customLong("win-length"), help: Self.help("win-length"))
    var windowLength: Int?

    @Option(help: Self.help("window"))
    var window: WindowKind?

    @Option(help: Self.help("framing"))
    var framing: Framing?

    @Option(name: .customLong("n-mels"), help: Self.help("n-mels"))
    var melBandCount: Int?

    @Option(name: .customLong("fmin"), help: Self.help("fmin"))
    var minimumFrequency: Double?

    @Option(name: .customLong("fmax"), help: Self.help("fmax"))
    var maximumFrequency: Double?

    @Option(help: Self.help("mel-scale"))
    var melScale: MelScale?

    @Option(help: Self.help("mel-norm"))
    var melNorm: MelNorm?

    @Option(help: Self.help("power"))
    var power: Double?

    /// The feature type (`output` in `--stream` and a `--config` file). Called `--output` before
    /// 0.2, now the output path's name; `FileCommand` and `RunCommand` still take the old spelling.
    @Option(name: .customLong("features"), help: Self.help("output"))
    var features: OutputKind?

    @Option(name: .customLong("n-mfcc"), help: Self.help("n-mfcc"))
    var mfccCount: Int?

    @Option(name: .customLong("top-db"), help: Self.help("top-db"))
    var topDB: String?

    @Option(name: .customLong("db-ref"), help: Self.help("db-ref", valueName: "max|min|value"))
    var dbReference: String?

    @Flag(help: Self.help("use-energy"))
    var useEnergy = false

    @Option(help: Self.help("fft-precision"))
    var fftPrecision: FFTPrecision?

    /// `--help` for the feature option `name`: its text in `FeatureOption.all`.
    static func help(_ name: String, valueName: String? = nil) -> ArgumentHelp {
        ArgumentHelp(FeatureOption.named(name)!.help, valueName: valueName)
    }

    /// The overrides given on the command line, read and checked by `FeatureOption.all` as a
    /// `--stream` value or a `--config` file's key would be. `legacyFeatures`: the feature type
    /// given with the old spelling `--output KIND`, used when `--features` is not given.
    func overrides(legacyFeatures: OutputKind? = nil) throws -> MelOverrides {
        if let legacyFeatures, let features, legacyFeatures != features {
            throw ValidationError("Please give the feature type once, with --features; got --features \(features.rawValue) and the old spelling --output \(legacyFeatures.rawValue).")
        }
        let output = features ?? legacyFeatures
        let given: [(String, FeatureOption.Value?)] = [
            ("n-fft", fftLength.map(FeatureOption.Value.integer)),
            ("hop-length", hopLength.map(FeatureOption.Value.integer)),
            ("win-length", windowLength.map(FeatureOption.Value.integer)),
            ("window", window.map { .text($0.rawValue) }),
            ("framing", framing.map { .text($0.rawValue) }),
            ("n-mels", melBandCount.map(FeatureOption.Value.integer)),
            ("fmin", minimumFrequency.map(FeatureOption.Value.number)),
            ("fmax", maximumFrequency.map(FeatureOption.Value.number)),
            ("mel-scale", melScale.map { .text($0.rawValue) }),
            ("mel-norm", melNorm.map { .text($0.rawValue) }),
            ("power", power.map(FeatureOption.Value.number)),
            ("output", output.map { .text($0.rawValue) }),
            ("n-mfcc", mfccCount.map(FeatureOption.Value.integer)),
            ("top-db", topDB.map(FeatureOption.Value.text)),
            ("db-ref", dbReference.map(FeatureOption.Value.text)),
            ("use-energy", useEnergy ? .flag(true) : nil),
            ("fft-precision", fftPrecision.map { .text($0.rawValue) }),
        ]
        var o = MelOverrides()
        for case let (name, value?) in given {
            if let problem = FeatureOption.named(name)!.apply(value, to: &o, spelledAs: "--" + name) {
                throw ValidationError(problem)
            }
        }
        return o
    }
}

/// Says on standard error that `old` is an old spelling, still taken in this version only.
func printDeprecation(_ old: String, instead new: String, because reason: String = "") {
    printError("meltap: note: \(old) is deprecated and will be removed in the next version; write \(new) instead."
               + (reason.isEmpty ? "" : " " + reason))
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

