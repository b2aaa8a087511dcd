import Glibc

/// Why a feature file cannot be turned back into audio, and what to do instead.
public struct InversionError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Features back to audio, as `librosa.feature.inverse.mel_to_audio` does: undo the output
/// stage (dB, Whisper's log10 scaling, natural log) to linear mel power or magnitude, mel →
/// linear spectrum by non-negative least squares (`MelToLinear`), then Griffin-Lim with
/// momentum 0.99 (`GriffinLim`). Spectrogram outputs skip the least squares.
///
/// Invertible: `power`, `db`, `whisper`, `log` (not Kaldi's), `spectrogram`, `spectrogram-db`.
/// A dB reference of max/min is unknown afterwards: the values are taken relative to 1, so
/// the level is off by that reference while the spectral shape is kept. Clamped values
/// (top_db, Whisper's max − 8) come back at the clamp.
public struct FeatureInversion: Sendable {
    public let configuration: MelConfiguration
    /// Values per frame in the feature file (the energy column included).
    public let frameWidth: Int

    /// Refuses configurations whose features cannot be inverted, saying why.
    public init(configuration c: MelConfiguration) throws(InversionError) {
        switch c.output {
        case .mfcc:
            throw InversionError("MFCCs keep only the first n_mfcc DCT coefficients of the dB mel bands, so the "
                                 + "finer spectral detail is gone. Invert a --features db (or power) file of the same "
                                 + "audio instead.")
        case .pcen:
            throw InversionError("PCEN divides each band by its own smoothed, gain-controlled history, which is not "
                                 + "stored, so the mel energies cannot be recovered. Invert a --features power or db "
                                 + "file of the same audio instead.")
        case .micro:
            throw InversionError("The micro preset's integer features pass through noise reduction and per-channel "
                                 + "gain control whose state is not stored, so they cannot be turned back into a "
                                 + "spectrum. Analyse the audio with --preset librosa to invert it.")
        case .power, .db, .whisper, .log, .spectrogram, .spectrogramDB, .openWakeWord:
            break
        }
        if c.filterbank == .kaldi || c.filterbank == .micro {
            throw InversionError("Kaldi-style frames are scaled, DC-removed and pre-emphasised one by one before the "
                                 + "FFT, which is not an STFT that Griffin-Lim can invert. Analyse the audio with "
                                 + "--preset librosa (or torchaudio, whisper) to invert it.")
        }
        configuration = c
        frameWidth = c.frameWidth
    }

    /// The features in the linear domain the STFT gives, frames × bands (mel bands, or the
    /// n_fft/2 + 1 bins of a spectrogram), power or magnitude per `configuration.power`
    /// (Whisper: power). The energy column, if any, is dropped.
    public func linearValues(_ features: [Float]) -> [Float] {
        let c = configuration
        let energy = c.useEnergy ? 1 : 0, bands = c.bandCount, frames = features.count / max(1, frameWidth)
        var out = [Float](repeating: 0, count: frames * bands)
        // dB reference (power units): a fixed one is known; max/min were lost, take 1.
        let referenceDB = c.dbReference == .max || c.dbReference == .min
            ? 0 : 10 * log10(max(c.amin, c.referencePower))
        for t in 0..<frames {
            for b in 0..<bands {
                let x = Double(features[t * frameWidth + energy + b])
                let value: Double
                switch c.output {
                case .db, .spectrogramDB:
                    let power = pow(10, (x + referenceDB) / 10)       // db_to_power
                    value = c.power == 1 ? power.squareRoot() : power  // amplitude_to_db squared first
                case .whisper: value = pow(10, 4 * x - 4)              // (log10(mel) + 4) / 4
                case .log: value = exp(x)
                case .openWakeWord: value = pow(10, x - 2)             // dB / 10 + 2 (the floor is lost)
                default: value = x
                }
                out[t * bands + b] = Float(value)
            }
        }
        return out
    }

    /// Magnitude spectra (frames × (n_fft/2 + 1)) for linear values from `linearValues`.
    public func magnitudes(linear: [Float], nnlsIterations: Int = MelToLinear.defaultIterations) -> [Float] {
        let c = configuration
        if c.output.isLinearSpectrum {
            return c.power == 1 ? linear : linear.map { max(0, $0).squareRoot() }
        }
        return MelToLinear(configuration: c, iterations: nnlsIterations).magnitudes(linear)
    }

    /// Audio for `features` (frames × `frameWidth`, row-major, one channel), at
    /// `configuration.sampleRate`.
    public func audio(features: [Float], iterations: Int = 32, seed: UInt64 = 0,
                      progress: (Int, Int) -> Void = { _, _ in }) -> [Float] {
        let magnitudes = magnitudes(linear: linearValues(features))
        return GriffinLim(configuration: configuration, iterations: iterations, seed: seed)
            .reconstruct(magnitudes, progress: progress)
    }

    /// Spectral convergence ‖S − Ŝ‖_F / ‖S‖_F of `audio` against `features`: S the features'
    /// linear values (`linearValues`), Ŝ those of the same analysis run on `audio` (global
    /// clamp, as `meltap file`). Frames beyond the shorter of the two are ignored.
    public func spectralConvergence(audio: [Float], features: [Float]) throws -> Double {
        // With ref=np.max / np.min both sides are relative to their own reference, so the level
        // the inversion could not know cancels.
        let reanalysed = try MelAnalyzer.analyze(audio, configuration: configuration, clampRule: .deferred)
        let a = linearValues(features), b = linearValues(reanalysed)
        let count = min(a.count, b.count)
        var difference = 0.0, reference = 0.0
        for i in 0..<count {
            let d = Double(a[i]) - Double(b[i])
            difference += d * d
            reference += Double(a[i]) * Double(a[i])
        }
        return (difference / max(reference, .leastNormalMagnitude)).squareRoot()
    }
}
