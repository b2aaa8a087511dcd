/// A configuration or input the analyzer cannot honour. The message names the parameter, the
/// value given, and the values that are allowed.
public struct MelConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }

    /// Formats a number the way a user typed it: `16000`, not `16000.0`.
    static func format(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }
}

extension MelConfiguration {
    /// The longest block `process` is designed for, in samples: JACK's largest period. The
    /// realtime engine (MelRealtime) and the JACK client take it from here. Computed, not a stored
    /// `static let`, so that the realtime path reads a constant, not a lazily initialised global.
    @inlinable public static var maximumBlockLength: Int { 8192 }

    /// Whisper's clamp, in log10 units: `log_spec = max(log_spec, log_spec.max() - 8.0)` in
    /// whisper/audio.py (80 dB below the maximum). The whisper preset's `topDB`.
    public static var whisperClampDistance: Double { 8 }

    /// Throws the first problem found, with what is allowed instead.
    public func validate() throws(MelConfigurationError) {
        func fail(_ message: String) -> MelConfigurationError { MelConfigurationError(message) }
        let f = MelConfigurationError.format
        let nyquist = sampleRate / 2
        guard sampleRate > 0, sampleRate.isFinite else {
            throw fail("The sample rate must be a positive number of Hz; got \(f(sampleRate)).")
        }
        if filterbank == .micro || output == .micro {
            try validateMicro()
            return
        }
        if preset == MelPreset.openWakeWord.rawValue || output == .openWakeWord {
            try validateOpenWakeWord()
            return
        }
        guard RealFFT.supportedLengths.contains(fftLength), fftLength % 2 == 0 else {
            throw fail("n_fft must be an even number from 16 to 1048576; got \(fftLength). "
                       + "Common values are 400, 512, 1024 and 2048.")
        }
        guard hopLength >= 1 else {
            throw fail("hop_length must be at least 1 sample; got \(hopLength). "
                       + "A quarter of n_fft (\(fftLength / 4)) is a common choice.")
        }
        guard windowLength >= 1, windowLength <= fftLength else {
            throw fail("win_length must be from 1 to n_fft (\(fftLength)); got \(windowLength). "
                       + "Raise --n-fft or lower --win-length.")
        }
        guard melBandCount >= 1 else {
            throw fail("n_mels must be at least 1; got \(melBandCount). 40, 64, 80 and 128 are common.")
        }
        guard minimumFrequency >= 0 else {
            throw fail("fmin must be 0 Hz or more; got \(f(minimumFrequency)).")
        }
        guard maximumFrequency <= nyquist else {
            throw fail("fmax must be at most the Nyquist frequency, sr/2 = \(f(nyquist)) Hz; got \(f(maximumFrequency)) Hz. "
                       + "Lower --fmax, or omit it to use sr/2.")
        }
        guard minimumFrequency < maximumFrequency else {
            throw fail("fmin (\(f(minimumFrequency)) Hz) must be below fmax (\(f(maximumFrequency)) Hz). Raise --fmax or lower --fmin.")
        }
        guard power == 1 || power == 2 else {
            throw fail("power must be 1 (magnitude) or 2 (power); got \(f(power)).")
        }
        guard output != .mfcc || (1...melBandCount).contains(mfccCount) else {
            throw fail("n_mfcc must be from 1 to n_mels (\(melBandCount)); got \(mfccCount).")
        }
        if let topDB, !(topDB >= 0) {
            throw fail("top_db must be 0 or more; got \(f(topDB)). Pass a negative value on the command line to disable it.")
        }
        if let dbReference, dbReference != .value, !output.isDecibels {
            throw fail("A dB reference of \(dbReference.rawValue) (librosa ref=np.\(dbReference.rawValue)) needs a dB output; "
                       + "got --features \(output.rawValue). Use --features db or spectrogram-db, or drop --db-ref.")
        }
        guard amin > 0, referencePower > 0 else {
            throw fail("amin and ref must be positive; got amin \(amin), ref \(referencePower).")
        }
        guard logFloor > 0 else { throw fail("The log floor must be positive; got \(logFloor).") }
        guard inputScale.isFinite, inputScale != 0 else { throw fail("The input scale must be finite and non-zero.") }
        if framing == .kaldiNoSnip && hopLength > windowLength {
            throw fail("snip_edges=false needs hop_length (\(hopLength)) no longer than the frame length (\(windowLength)). Lower --hop-length or raise --win-length.")
        }
        if dropLastFrame && !(framing == .centerZero || framing == .centerReflect) {
            throw fail("Dropping the last frame (Whisper) needs centred framing.")
        }
        if dropLastFrame && fftLength / 2 < hopLength {
            throw fail("Dropping the last frame needs hop_length (\(hopLength)) at most n_fft/2 (\(fftLength / 2)).")
        }
        if filterbank == .kaldi && (window != .povey && window != .hann && window != .hamming && window != .rectangular
                                     && window != .hannFloat32) {
            throw fail("Unsupported window for the Kaldi preset.")
        }
        if output == .pcen {
            guard pcen.timeConstant > 0, pcen.eps > 0, pcen.gain >= 0, pcen.bias >= 0, pcen.power >= 0,
                  pcen.inputScale > 0 else {
                throw fail("PCEN needs time_constant > 0, eps > 0, and gain, bias, power at 0 or more.")
            }
        }
    }

    /// The micro preset's configuration is fixed: its sample rate, and every field equal to
    /// `MelPreset.micro`'s (the integer pipeline reads none of them, so a change would only make
    /// the sidecar lie).
    private func validateMicro() throws(MelConfigurationError) {
        guard filterbank == .micro && output == .micro else {
            throw MelConfigurationError(
                "The micro filterbank and output are the TFLite-Micro frontend and only go together, as the "
                + "micro preset sets them. Use --preset micro, or another filterbank and --features.")
        }
        if let error = MelPreset.micro.sampleRateError(sampleRate) { throw error }
        var expected = MelPreset.micro.configuration(sampleRate: sampleRate)
        expected.preset = preset
        guard self != expected else { return }
        let fields: [(String, Bool)] = [
            ("n_fft", fftLength != expected.fftLength), ("hop_length", hopLength != expected.hopLength),
            ("win_length", windowLength != expected.windowLength), ("window", window != expected.window),
            ("framing", framing != expected.framing), ("n_mels", melBandCount != expected.melBandCount),
            ("fmin", minimumFrequency != expected.minimumFrequency),
            ("fmax", maximumFrequency != expected.maximumFrequency), ("power", power != expected.power),
            ("output scale", outputScale != expected.outputScale),
        ]
        let changed = fields.filter { $0.1 }.map { $0.0 }
        throw MelConfigurationError(
            "The micro preset reproduces the TFLite-Micro frontend bit for bit, so its parameters are fixed "
            + "(n_fft 512, hop_length 160, win_length 480, 40 mel bands over 125–7500 Hz, uint16 × 0.0390625); "
            + "this configuration changes \(changed.isEmpty ? "a field" : changed.joined(separator: ", ")). "
            + "Use MelPreset.micro.configuration(sampleRate: 16000) unchanged.")
    }

    /// The openwakeword preset's configuration is fixed: every field equal to
    /// `MelPreset.openWakeWord`'s at 16 kHz, since it reproduces one trained model's frontend.
    private func validateOpenWakeWord() throws(MelConfigurationError) {
        if let error = MelPreset.openWakeWord.sampleRateError(sampleRate) { throw error }
        let expected = MelPreset.openWakeWord.configuration(sampleRate: sampleRate)
        guard self != expected else { return }
        throw MelConfigurationError(
            "The openwakeword output is openWakeWord's melspectrogram model, whose parameters are fixed "
            + "(\(MelPreset.openWakeWordSummary)); only the openwakeword preset runs it, unchanged. "
            + "Use --preset openwakeword without overrides, or choose another --features.")
    }

    /// Throws when n_fft makes FFTW allocate memory on every frame, which the realtime callback
    /// must never do; the message names the nearest sizes that do not. `meltap run` calls this
    /// before it opens JACK; offline use (`meltap file`) accepts such sizes with
    /// `fftAllocationNote`. The rule is `RealFFT.isAllocationFree(length:)`, and n_fft at most
    /// `RealFFT.realtimeLengthLimit`.
    public func checkRealtimeSafe() throws(MelConfigurationError) {
        try Self.checkRealtimeSafe(fftLength: fftLength)
    }

    /// `checkRealtimeSafe()` for an n_fft alone (n_fft does not depend on anything the realtime
    /// path learns later, such as the server's sample rate, except through the kaldi preset's
    /// power-of-two padding, which is always allocation-free).
    public static func checkRealtimeSafe(fftLength n: Int) throws(MelConfigurationError) {
        let limit = RealFFT.realtimeLengthLimit
        if n > limit && n <= RealFFT.supportedLengths.upperBound {
            throw MelConfigurationError(
                "n_fft \(n) is longer than live analysis allows (\(limit) samples): above that FFTW may allocate "
                + "memory on every frame, which the realtime callback must never do (it does for some lengths, "
                + "2^20 among them, when FFTW has no SIMD code for the machine). Use \(limit) or less, "
                + "or analyse the recording offline with meltap file.")
        }
        guard let reason = fftAllocationReason(n) else { return }
        throw MelConfigurationError(
            "n_fft \(n) makes FFTW allocate memory on every frame (\(reason)), and the realtime callback must "
            + "never allocate. Use a nearby size that does not: "
            + "\(allocationFreeAlternatives(to: n, in: RealFFT.supportedLengths.lowerBound...limit, joiner: "or")).")
    }

    /// For offline analysis: a one-line note that this n_fft is slower because FFTW allocates on
    /// every frame, naming the nearest sizes that do not; nil when n_fft is allocation-free.
    public var fftAllocationNote: String? {
        let n = fftLength
        guard let reason = Self.fftAllocationReason(n) else { return nil }
        return "n_fft \(n) is slower than its neighbours: FFTW allocates memory on every frame for it (\(reason)). "
            + "\(Self.allocationFreeAlternatives(to: n, in: RealFFT.supportedLengths, joiner: "and")) do not; "
            + "meltap run accepts only such sizes."
    }

    /// Why FFTW allocates for an n_fft ("2018/2 = 1009 is a prime …"), or nil when it does not.
    static func fftAllocationReason(_ n: Int) -> String? {
        guard n >= 2, n % 2 == 0, let prime = RealFFT.allocatingPrimeFactor(length: n) else { return nil }
        let half = "\(n)/2 = \(n / 2)"
        if n > RealFFT.largeLengthBound {
            return "\(half) has the prime factor \(prime), and above \(RealFFT.largeLengthBound) FFTW allocates "
                + "for any prime factor above 7"
        }
        return prime == n / 2
            ? "\(half) is a prime that FFTW transforms with an algorithm that allocates"
            : "\(half) has the prime factor \(prime), which FFTW transforms with an algorithm that allocates"
    }

    /// "2016 or 2024": the nearest allocation-free n_fft below and above `n` within `range`.
    static func allocationFreeAlternatives(to n: Int, in range: ClosedRange<Int>, joiner: String) -> String {
        let near = RealFFT.nearestAllocationFreeLengths(around: n, in: range)
        return [near.below, near.above].compactMap { $0.map(String.init) }.joined(separator: " \(joiner) ")
    }

    /// Bands with all-zero weights. librosa warns about these ("Empty filters detected in mel
    /// frequency basis"); they produce zero power (and the floor after a log).
    public var emptyBands: [Int] { MelFilterbank(configuration: self).emptyBands }

    /// The warning to show for `emptyBands`, or nil when every band has weight.
    public var emptyBandWarning: String? {
        guard !output.isLinearSpectrum else { return nil }  // no mel bank
        let empty = emptyBands
        guard !empty.isEmpty else { return nil }
        return "Empty mel bands \(empty.map(String.init).joined(separator: ", ")) of \(melBandCount): they will "
            + "always be zero. Try fewer --n-mels, a larger --n-fft, or a wider --fmin/--fmax range."
    }

    /// Frame length in samples: Kaldi and micro frames are win_length long and zero-padded at the
    /// end to n_fft; librosa-style frames are n_fft long with the window centred in them.
    public var frameLength: Int { filterbank == .kaldi || filterbank == .micro ? windowLength : fftLength }

    /// Samples of padding before the first input sample (frame t starts at t·hop − this).
    public var leftPadding: Int {
        switch framing {
        case .centerZero, .centerReflect: return fftLength / 2
        case .none: return 0
        case .kaldiNoSnip: return windowLength / 2 - hopLength / 2
        }
    }

    /// Values the output stage works on per frame: n_fft/2 + 1 spectrum bins for the
    /// spectrogram outputs, n_mels mel bands otherwise.
    public var bandCount: Int { output.isLinearSpectrum ? fftLength / 2 + 1 : melBandCount }

    /// Values per frame (the energy column included).
    public var frameWidth: Int {
        (output == .mfcc ? mfccCount : bandCount) + (useEnergy ? 1 : 0)
    }

    /// Frames the reference produces for `sampleCount` input samples.
    /// (openwakeword: whole groups of 8 only, as its model is called on 8 frames at a time).
    public func frameCount(sampleCount n: Int) -> Int {
        guard n > 0 else { return 0 }
        if output == .openWakeWord {
            return OpenWakeWordFrontend.emittedFrameCount(n < frameLength ? 0 : 1 + (n - frameLength) / hopLength)
        }
        switch framing {
        case .centerZero, .centerReflect:
            return 1 + n / hopLength - (dropLastFrame ? 1 : 0)
        case .none:
            return n < frameLength ? 0 : 1 + (n - frameLength) / hopLength
        case .kaldiNoSnip:
            return (n + hopLength / 2) / hopLength
        }
    }

    /// Algorithmic latency in analysis samples: from a frame's reference instant to its last
    /// input sample. n_fft/2 for centred framing (the frame is centred on its reference), the
    /// window length for `none`, the window less half a hop for `kaldi-no-snip`. openwakeword: the
    /// frame (n_fft) plus the 7 hops a frame is held until its group of 8 is complete. Part of
    /// `StreamDescription.latency`.
    public var algorithmicLatency: Int {
        if output == .openWakeWord { return fftLength + (OpenWakeWordParameters.groupLength - 1) * hopLength }
        switch framing {
        case .centerZero, .centerReflect: return fftLength / 2
        case .none: return windowLength
        case .kaldiNoSnip: return windowLength - hopLength / 2
        }
    }

    /// Whether the analysis rounds every sample to int16 first (`MicroParameters.int16Sample`): the
    /// micro and openwakeword presets, whose models take int16 audio.
    public var analysesInt16Samples: Bool { filterbank == .micro || output == .openWakeWord }

    /// Frames per second.
    public var frameRate: Double { sampleRate / Double(hopLength) }
}
