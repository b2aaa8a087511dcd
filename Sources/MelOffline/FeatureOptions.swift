import MelDSP

/// One feature option of `meltap file` and `meltap run` (`--n-fft`, `--top-db` …): its name,
/// the type of its value, its help text, and how it reads and writes `MelOverrides`.
///
/// `FeatureOption.all` is the one list of them. It feeds the command-line flags (their help
/// text; swift-argument-parser still declares each flag), the keys of `--stream
/// NAME=PRESET,key=value`, the `[features]` and `[[stream]]` keys of a `--config` file (reading
/// and `--print-config`), the layering of a file under a command line, and the checks of values
/// that are not plain numbers. Ranges that depend on the preset and the rate (n_fft, n_mels,
/// fmax …) are checked where the configuration is resolved, `MelOverrides.resolve`.
///
/// Adding an option: one entry here, one field in `MelOverrides` (and its effect in `resolve`),
/// one `@Option` in the CLI's `DSPOptions` and its line in `DSPOptions.overrides()`.
public struct FeatureOption: Sendable {
    /// The type of an option's value.
    public enum Kind: Sendable {
        /// A whole number (`n-fft = 512`).
        case integer
        /// A number (`fmin = 20.0`; a whole number is accepted too).
        case number
        /// One of a fixed set of words (`window = "hann"`).
        case choice([String])
        /// On or off: a bare `--use-energy`, `use-energy = true`, or in `--stream` `use-energy`,
        /// `use-energy=true|false`.
        case flag
        /// A number or one of a few words (`top-db = "none"`, `db-ref = "max"`).
        case numberOrWord([String])

        /// The words a `choice` or `numberOrWord` option takes; empty for the others.
        public var words: [String] {
            switch self {
            case .choice(let words), .numberOrWord(let words): return words
            case .integer, .number, .flag: return []
            }
        }
    }

    /// A value as given: typed when it came from TOML, text when from a command line.
    public enum Value: Equatable, Sendable {
        case integer(Int)
        case number(Double)
        case text(String)
        case flag(Bool)
    }

    /// The long option name without dashes; the key in `--stream` and in TOML.
    public let name: String
    public let kind: Kind
    /// `--help`'s full sentences.
    public let help: String
    /// Sets the option from `value`; returns what to give instead ("as a whole number") when the
    /// value does not fit.
    let set: @Sendable (inout MelOverrides, Value) -> String?
    /// The option's value in `overrides`, or nil when it is not set.
    let get: @Sendable (MelOverrides) -> Value?
    /// Takes the option from `other` when `other` sets it.
    let overlay: @Sendable (inout MelOverrides, MelOverrides) -> Void

    /// The option called `name`, or nil.
    public static func named(_ name: String) -> FeatureOption? { all.first { $0.name == name } }

    /// The option names in table order (as `--stream` and TOML take them).
    public static var names: [String] { all.map(\.name) }

    /// Sets the option from `value`, or returns the problem as a sentence: "Please give NAME as …;
    /// got VALUE." with NAME as the user spelled it (`--n-mels`, `n-mels`, `features.n-mels`).
    public func apply(_ value: Value, to overrides: inout MelOverrides, spelledAs spelling: String) -> String? {
        guard let wanted = set(&overrides, value) else { return nil }
        return "Please give \(spelling) \(wanted); got \(value.shown)."
    }

    /// Reads command-line text (`--stream` values) as this option's kind.
    public func value(fromText text: String) -> Value {
        switch kind {
        case .integer: return Int(text).map(Value.integer) ?? .text(text)
        case .number: return Double(text).map(Value.number) ?? .text(text)
        case .flag:
            switch text {
            case "true", "yes", "1": return .flag(true)
            case "false", "no", "0": return .flag(false)
            default: return .text(text)
            }
        case .choice, .numberOrWord: return .text(text)
        }
    }

    /// Every option set in `overrides`, in table order, with its value.
    public static func values(of overrides: MelOverrides) -> [(option: FeatureOption, value: Value)] {
        all.compactMap { option in option.get(overrides).map { (option, $0) } }
    }
}

extension FeatureOption.Value {
    /// The value as the user wrote it, quoted when it is text.
    var shown: String {
        switch self {
        case .integer(let value): return "\(value)"
        case .number(let value): return "\(value)"
        case .text(let text): return "'\(text)'"
        case .flag(let value): return "\(value)"
        }
    }
}

extension FeatureOption {
    /// A whole-number option stored at `field`.
    static func integer(_ name: String, _ field: WritableKeyPath<MelOverrides, Int?> & Sendable, help: String) -> FeatureOption {
        FeatureOption(name: name, kind: .integer, help: help,
                      set: { o, value in
                          guard case .integer(let int) = value else { return "as a whole number" }
                          o[keyPath: field] = int
                          return nil
                      },
                      get: { $0[keyPath: field].map(Value.integer) },
                      overlay: { o, other in o[keyPath: field] = other[keyPath: field] ?? o[keyPath: field] })
    }

    /// A number stored at `field`; whole numbers are accepted.
    static func number(_ name: String, _ field: WritableKeyPath<MelOverrides, Double?> & Sendable, help: String) -> FeatureOption {
        FeatureOption(name: name, kind: .number, help: help,
                      set: { o, value in
                          switch value {
                          case .number(let number): o[keyPath: field] = number
                          case .integer(let int): o[keyPath: field] = Double(int)
                          default: return "as a number"
                          }
                          return nil
                      },
                      get: { $0[keyPath: field].map(Value.number) },
                      overlay: { o, other in o[keyPath: field] = other[keyPath: field] ?? o[keyPath: field] })
    }

    /// One of `T`'s raw values, stored at `field`.
    static func choice<T: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ field: WritableKeyPath<MelOverrides, T?> & Sendable, help: String
    ) -> FeatureOption where T.RawValue == String {
        let words = T.allCases.map(\.rawValue)
        return FeatureOption(name: name, kind: .choice(words), help: help,
                             set: { o, value in
                                 guard case .text(let text) = value, let choice = T(rawValue: text) else {
                                     return "as one of " + words.joined(separator: ", ")
                                 }
                                 o[keyPath: field] = choice
                                 return nil
                             },
                             get: { $0[keyPath: field].map { .text($0.rawValue) } },
                             overlay: { o, other in o[keyPath: field] = other[keyPath: field] ?? o[keyPath: field] })
    }

    /// The table: `meltap file`'s feature options, in the order `--print-config` writes them.
    public static let all: [FeatureOption] = [
        .integer("n-fft", \.fftLength, help: "FFT length in samples (an even number, 16 or more; 400 and 1200 work too). For kaldi, the zero-padded FFT size. meltap run refuses sizes for which FFTW allocates memory on every frame (n_fft/2 with a prime factor above 31 other than 43, such as 2018; above 131072, any prime factor above 7) or longer than 524288, and names the nearest that work; meltap file accepts them, more slowly."),
        .integer("hop-length", \.hopLength, help: "Samples between frames."),
        .integer("win-length", \.windowLength, help: "Window length in samples, at most --n-fft; the window is zero-padded and centred (kaldi: the frame length)."),
        .choice("window", \.window, help: "The analysis window: hann (periodic, float64 like scipy), hann-float32 (torch), hamming, povey or rectangular."),
        .choice("framing", \.framing, help: "How frames sit on the signal: center-zero (librosa), center-reflect (torchaudio, Whisper), none (librosa center=False, Kaldi snip_edges=true) or kaldi-no-snip (Kaldi snip_edges=false)."),
        .integer("n-mels", \.melBandCount, help: "Number of mel bands (Kaldi: num_bins)."),
        .number("fmin", \.minimumFrequency, help: "Lowest frequency of the mel bank, in Hz."),
        .number("fmax", \.maximumFrequency, help: "Highest frequency of the mel bank, in Hz, at most half the sample rate. Zero or negative means Nyquist plus the value, as Kaldi's high_freq (write --fmax=-400)."),
        .choice("mel-scale", \.melScale, help: "Mel scale: slaney or htk."),
        .choice("mel-norm", \.melNorm, help: "Filter normalisation: slaney (area) or none."),
        .number("power", \.power, help: "2 for power, 1 for magnitude."),
        .choice("output", \.output, help: "What each frame holds (on the command line --features; the key output in --stream and a --config file): power (mel power, or magnitude with --power 1), db (power_to_db; with --power 1, amplitude_to_db), log (natural log with a floor, Kaldi's fbank), whisper (Whisper's normalised log-mel: log10, clamped at the maximum minus 8, then (x + 4)/4), mfcc (the first --n-mfcc coefficients of the orthonormal DCT-II of the dB bands), pcen (per-channel energy normalisation, librosa.pcen), micro (the TFLite-Micro frontend's integer features times 0.0390625, as microWakeWord models take them; only with --preset micro, which sets it), openwakeword (openWakeWord's melspectrogram model followed by x/10 + 2; only with --preset openwakeword, which sets it), spectrogram (the linear |STFT|^power, n_fft/2 + 1 bins, no mel bank) or spectrogram-db (that spectrogram in dB, as db)."),
        .integer("n-mfcc", \.mfccCount, help: "Number of MFCC coefficients with --features mfcc."),
        topDB,
        dbReference,
        FeatureOption(name: "use-energy", kind: .flag, help: "Kaldi: put the raw log energy first in every frame.",
                      set: { o, value in
                          guard case .flag(let on) = value else { return "with no value, or true/false" }
                          o.useEnergy = on
                          return nil
                      },
                      get: { $0.useEnergy.map(Value.flag) },
                      overlay: { o, other in o.useEnergy = other.useEnergy ?? o.useEnergy }),
        .choice("fft-precision", \.fftPrecision, help: "single or double. The librosa preset defaults to double, as librosa computes its FFT in float64; the others to single."),
    ]

    /// `top-db`: dB below the maximum to clamp at, or "none" (stored as -1: no clamp).
    static let topDB = FeatureOption(
        name: "top-db", kind: .numberOrWord(["none"]),
        help: "Clamp dB values this far below the maximum, or 'none' to keep them all.",
        set: { o, value in
            switch value {
            case .text("none"): o.topDB = -1
            case .text(let text) where Double(text).map({ $0 >= 0 }) == true: o.topDB = Double(text)
            case .number(let db) where db >= 0: o.topDB = db
            case .integer(let db) where db >= 0: o.topDB = Double(db)
            default: return "as a number of dB (0 or more), or 'none'"
            }
            return nil
        },
        get: { o in o.topDB.map { $0 < 0 ? .text("none") : .number($0) } },
        overlay: { o, other in o.topDB = other.topDB ?? o.topDB })

    /// `db-ref`: librosa's `ref`, max, min or a positive number (two fields of `MelOverrides`).
    static let dbReference = FeatureOption(
        name: "db-ref", kind: .numberOrWord(["max", "min"]),
        help: "The dB reference, librosa's ref: max (ref=np.max, the loudest value is 0 dB), min (ref=np.min) or a number (a power with --power 2, an amplitude with --power 1). Default 1. max and min need the whole signal: meltap file uses the whole file's, exactly as librosa; meltap run uses the maximum (minimum) so far, the running rule, as for top_db.",
        set: { o, value in
            let number: Double?
            switch value {
            case .text(let text):
                if let reference = DBReference(rawValue: text), reference != .value {
                    o.dbReference = reference
                    return nil
                }
                number = Double(text)
            case .number(let value): number = value
            case .integer(let value): number = Double(value)
            case .flag: number = nil
            }
            guard let number, number > 0, number.isFinite else { return "as max, min or a positive number (librosa's ref)" }
            o.referenceValue = number
            return nil
        },
        get: { o in
            if let reference = o.dbReference, reference != .value { return .text(reference.rawValue) }
            return o.referenceValue.map(Value.number)
        },
        overlay: { o, other in
            o.dbReference = other.dbReference ?? o.dbReference
            o.referenceValue = other.referenceValue ?? o.referenceValue
        })
}

extension MelOverrides {
    /// `other`'s overrides where it has them, else ours.
    public func overlaid(by other: MelOverrides) -> MelOverrides {
        var o = self
        for option in FeatureOption.all { option.overlay(&o, other) }
        return o
    }
}
