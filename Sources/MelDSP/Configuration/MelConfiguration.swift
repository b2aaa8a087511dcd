/// Every parameter of a mel frontend, fully resolved.
///
/// Spellings follow Swift; the doc comments give the librosa / Kaldi name. A configuration
/// is plain data: it is checked by `validated()` and turned into running state by
/// `MelAnalyzer`. It is also what the `.json` sidecar and the stream header carry.
public struct MelConfiguration: Codable, Sendable, Equatable {
    /// The preset this configuration started from (`librosa`, `torchaudio`, `kaldi`, `whisper`,
    /// `micro`, `openwakeword`).
    public var preset: String
    /// `sr`, in Hz.
    public var sampleRate: Double

    // MARK: Framing
    /// `n_fft`: FFT length in samples. Kaldi: the padded FFT size (`round_to_power_of_two`).
    public var fftLength: Int
    /// `hop_length` (Kaldi `frame_shift`), in samples.
    public var hopLength: Int
    /// `win_length` (Kaldi `frame_length`), in samples, at most `fftLength`.
    public var windowLength: Int
    /// The analysis window.
    public var window: WindowKind
    /// Precision of the window product and FFT. librosa multiplies by a float64 window and
    /// transforms in float64 (then rounds to complex64); torch, Whisper and Kaldi use float32.
    public var fftPrecision: FFTPrecision
    /// How frames are laid over the signal (librosa `center`/`pad_mode`, Kaldi `snip_edges`).
    public var framing: Framing
    /// Drop the last frame at the end of the input (Whisper's `stft[..., :-1]`).
    public var dropLastFrame: Bool

    // MARK: Per-frame preprocessing (Kaldi)
    /// Input samples are multiplied by this before anything else (Kaldi: 32768, int16 range).
    public var inputScale: Float
    /// Kaldi `remove_dc_offset`: subtract the frame mean.
    public var removeDCOffset: Bool
    /// Kaldi `preemph_coeff`; 0 disables pre-emphasis.
    public var preemphasis: Float
    /// Kaldi `use_energy`: prepend the raw log energy ln(max(Σx², FLT_EPSILON)) as column 0.
    public var useEnergy: Bool

    // MARK: Spectrum and mel bank
    /// `power`: 2 for power, 1 for magnitude.
    public var power: Double
    /// `n_mels` (Kaldi `num_bins`).
    public var melBandCount: Int
    /// `fmin` (Kaldi `low_freq`), in Hz.
    public var minimumFrequency: Double
    /// `fmax` (Kaldi `high_freq`), in Hz; at most sampleRate/2.
    public var maximumFrequency: Double
    /// `htk=True` selects `.htk`; Kaldi always uses its own HTK-shaped mel curve.
    public var melScale: MelScale
    /// `norm='slaney'` or `None`.
    public var melNorm: MelNorm
    /// Which reference's filterbank construction to reproduce.
    public var filterbank: FilterbankStyle

    // MARK: Output stage
    /// What each frame holds.
    public var output: OutputKind
    /// power_to_db `ref` (linear power units; with power 1 and a dB output, the square of
    /// amplitude_to_db's `ref`). Used when `dbReference` is nil or `.value`.
    public var referencePower: Double
    /// librosa's `ref=np.max` / `ref=np.min`: the dB reference is the maximum (minimum) value of
    /// the whole signal (file mode, `ClampRule.deferred`) or of the frames so far (live,
    /// `ClampRule.running`). Nil or `.value`: `referencePower`. dB outputs only.
    public var dbReference: DBReference?
    /// power_to_db `amin`.
    public var amin: Double
    /// power_to_db `top_db`; nil disables the clamp. openwakeword: the floor below each group of
    /// 8 frames' maximum (80 dB).
    public var topDB: Double?
    /// Natural-log floor (Kaldi: FLT_EPSILON = 1.1920929e-7).
    public var logFloor: Float
    /// `n_mfcc`.
    public var mfccCount: Int
    /// PCEN parameters (librosa `pcen`).
    public var pcen: PCENParameters
    /// Integer outputs (micro): every frame value is an integer times this, and value / scale
    /// recovers the integer exactly (micro: the frontend's uint16, 0.0390625 = 5/128). Nil for
    /// float outputs; then it is absent from the JSON of sidecars and stream headers.
    public var outputScale: Double?
    /// openwakeword: the `topDB` floor is taken over groups of this many frames (8, one call of
    /// openWakeWord's melspectrogram model), groups counted from the stream's first frame. Nil
    /// (absent from the JSON) otherwise.
    public var floorGroupLength: Int?
    /// openwakeword: each value is dB / `outputDivisor` + `outputOffset` (10 and 2, the scaling
    /// openWakeWord applies to the model's output). Nil (absent from the JSON) otherwise.
    public var outputDivisor: Double?
    public var outputOffset: Double?

    public init(preset: String, sampleRate: Double, fftLength: Int, hopLength: Int, windowLength: Int,
                window: WindowKind, fftPrecision: FFTPrecision = .single, framing: Framing, dropLastFrame: Bool = false,
                inputScale: Float = 1, removeDCOffset: Bool = false, preemphasis: Float = 0,
                useEnergy: Bool = false, power: Double, melBandCount: Int, minimumFrequency: Double,
                maximumFrequency: Double, melScale: MelScale, melNorm: MelNorm,
                filterbank: FilterbankStyle, output: OutputKind, referencePower: Double = 1,
                amin: Double = 1e-10, topDB: Double? = 80, logFloor: Float = 1.1920929e-7,
                mfccCount: Int = 20, pcen: PCENParameters = PCENParameters(), outputScale: Double? = nil,
                dbReference: DBReference? = nil, floorGroupLength: Int? = nil, outputDivisor: Double? = nil,
                outputOffset: Double? = nil) {
        self.preset = preset
        self.sampleRate = sampleRate
        self.fftLength = fftLength
        self.hopLength = hopLength
        self.windowLength = windowLength
        self.window = window
        self.fftPrecision = fftPrecision
        self.framing = framing
        self.dropLastFrame = dropLastFrame
        self.inputScale = inputScale
        self.removeDCOffset = removeDCOffset
        self.preemphasis = preemphasis
        self.useEnergy = useEnergy
        self.power = power
        self.melBandCount = melBandCount
        self.minimumFrequency = minimumFrequency
        self.maximumFrequency = maximumFrequency
        self.melScale = melScale
        self.melNorm = melNorm
        self.filterbank = filterbank
        self.output = output
        self.referencePower = referencePower
        self.amin = amin
        self.topDB = topDB
        self.logFloor = logFloor
        self.mfccCount = mfccCount
        self.pcen = pcen
        self.outputScale = outputScale
        self.dbReference = dbReference
        self.floorGroupLength = floorGroupLength
        self.outputDivisor = outputDivisor
        self.outputOffset = outputOffset
    }
}

/// librosa's `ref` argument of `power_to_db` / `amplitude_to_db`.
public enum DBReference: String, Codable, Sendable, CaseIterable {
    /// A fixed value: `MelConfiguration.referencePower`.
    case value
    /// `ref=np.max`: the largest value, so the loudest bin is 0 dB.
    case max
    /// `ref=np.min`: the smallest value (floored at amin), so the quietest bin is 0 dB.
    case min
}

/// Analysis windows. All are computed in float64 and stored as float32 unless noted.
public enum WindowKind: String, Codable, Sendable, CaseIterable {
    /// Periodic Hann, 0.5 − 0.5·cos(2πn/N), computed in float64 (scipy / librosa).
    case hann
    /// Periodic Hann evaluated in float32 as `torch.hann_window` does (torchaudio, Whisper).
    case hannFloat32 = "hann-float32"
    /// Periodic Hamming, 0.54 − 0.46·cos(2πn/N).
    case hamming
    /// Kaldi's Povey window: symmetric Hann raised to 0.85.
    case povey
    /// All ones.
    case rectangular
}

/// Arithmetic precision of the window product and the FFT.
public enum FFTPrecision: String, Codable, Sendable, CaseIterable {
    /// float32 (`fftwf`): torch, Whisper, Kaldi.
    case single
    /// float64 (`fftw`), rounded to float32 after the transform: librosa / numpy.
    case double
}

/// How frames are laid over the signal.
public enum Framing: String, Codable, Sendable, CaseIterable {
    /// `center=True, pad_mode='constant'`: n_fft/2 zeros each side (librosa ≥ 0.9).
    case centerZero = "center-zero"
    /// `center=True, pad_mode='reflect'`: mirror without repeating the edge (torchaudio, Whisper).
    case centerReflect = "center-reflect"
    /// `center=False` / Kaldi `snip_edges=true`: frame t = x[t·hop, t·hop + win_length).
    case none
    /// Kaldi `snip_edges=false`: frame t starts at t·hop + hop/2 − win/2, symmetric reflection.
    case kaldiNoSnip = "kaldi-no-snip"
}

/// Mel frequency scales.
public enum MelScale: String, Codable, Sendable, CaseIterable {
    /// Slaney's Auditory Toolbox: linear below 1 kHz, logarithmic above.
    case slaney
    /// HTK: 2595·log10(1 + f/700).
    case htk
}

/// Filter normalisation.
public enum MelNorm: String, Codable, Sendable, CaseIterable {
    /// Slaney area norm: band i scaled by 2/(f[i+2] − f[i]).
    case slaney
    case none
}

/// Which reference's filterbank construction to reproduce exactly.
public enum FilterbankStyle: String, Codable, Sendable, CaseIterable {
    /// `librosa.filters.mel`: Hz-domain triangles, float64 maths, float32 weights.
    case librosa
    /// `torchaudio.functional.melscale_fbanks`: float32 maths with torch's linspace.
    case torchaudio
    /// Kaldi `MelBanks`: triangles linear in the mel domain, float32, Nyquist bin unused.
    case kaldi
    /// The TFLite-Micro frontend's integer filterbank (Q12 weights and unweights on
    /// 1127·ln(1 + f/700), `MicroTables`). Only with `OutputKind.micro`: the micro preset.
    case micro
}

/// What the output stage makes of the mel bands.
public enum OutputKind: String, Codable, Sendable, CaseIterable {
    /// Mel power (or magnitude, with power 1).
    case power
    /// `power_to_db` with ref, amin and top_db; with power 1, `amplitude_to_db` (20·log10,
    /// amin 1e-5, as librosa computes it: `power_to_db(S², ref², amin²)`).
    case db
    /// Natural log with a floor (Kaldi fbank).
    case log
    /// Whisper: log10(max(mel, 1e-10)), clamp at max − 8, then (x + 4)/4.
    case whisper
    /// Orthonormal DCT-II of the dB bands, first `mfccCount` coefficients.
    case mfcc
    /// Per-channel energy normalisation (librosa `pcen`).
    case pcen
    /// The TFLite-Micro frontend's integer pipeline (noise reduction, PCAN, 64·ln), its uint16
    /// times `outputScale` (0.0390625). Only with `FilterbankStyle.micro`: the micro preset.
    case micro
    /// openWakeWord's melspectrogram model followed by its caller's x/10 + 2: 10·log10(max(mel,
    /// 1e-10)), floored at each group of 8 frames' maximum − `topDB` (80), then dB / 10 + 2.
    /// Only the openwakeword preset (`OpenWakeWordFrontend`).
    case openWakeWord = "openwakeword"
    /// The linear-frequency spectrogram: |STFT|^power, n_fft/2 + 1 bins, no mel bank
    /// (`np.abs(librosa.stft(y))**power`, torchaudio `Spectrogram`).
    case spectrogram
    /// The spectrogram in dB, as `.db` does for mel bands: `power_to_db(|STFT|²)`, or with
    /// power 1 `amplitude_to_db(|STFT|)`.
    case spectrogramDB = "spectrogram-db"
}

extension OutputKind {
    /// Outputs of the linear spectrum (n_fft/2 + 1 bins) rather than mel bands.
    public var isLinearSpectrum: Bool { self == .spectrogram || self == .spectrogramDB }
    /// Outputs in dB of a power (or, with power 1, an amplitude): `.db`, `.spectrogramDB`.
    public var isDecibels: Bool { self == .db || self == .spectrogramDB }
}

/// librosa `pcen` parameters.
public struct PCENParameters: Codable, Sendable, Equatable {
    /// `gain` (alpha).
    public var gain: Double = 0.98
    /// `bias` (delta).
    public var bias: Double = 2
    /// `power` (r).
    public var power: Double = 0.5
    /// `time_constant`, in seconds.
    public var timeConstant: Double = 0.4
    /// `eps`.
    public var eps: Double = 1e-6
    /// Mel values are multiplied by this before PCEN (librosa's docs use 2³¹ on magnitudes).
    public var inputScale: Double = 1
    /// `sr` used for the smoother; nil means the stream's rate. librosa's own default is 22050
    /// whatever the audio's rate.
    public var smootherSampleRate: Double? = nil
    /// `hop_length` used for the smoother; nil means the stream's hop.
    public var smootherHopLength: Int? = nil

    public init() {}
}
