/// What the float pipeline needs per frame but not per channel: the FFTW plan with its input and
/// output buffers, the window, the sparse mel bank, and the spectrum and mel scratch.
/// `FloatFrameComputer` holds none of a channel's history in these (every frame rewrites the
/// scratch it reads; the FFT input's zero padding never changes), so the analyzers of one stream
/// can share one workspace: 64 channels then touch one plan, one window and one bank instead of
/// 64 copies, which keeps a many-channel callback's working set in cache. Sharing changes no bit:
/// the same plan runs on the same operands.
///
/// Ownership and threads: allocated and prefaulted by `init`, freed by deinit; the analyzers built
/// with it retain it. The scratch makes it single-threaded: every analyzer sharing one workspace
/// must be fed from one thread, one call at a time (one stream in the realtime callback, one file
/// in a worker). Analyzers built without a workspace make their own.
public final class FrameWorkspace: @unchecked Sendable {
    /// The configuration the tables were built for; a `FloatFrameComputer` accepts this workspace
    /// only for exactly this configuration.
    let configuration: MelConfiguration
    /// The FFTW plan and its buffers.
    let fft: RealFFT
    /// The window (length win_length), times the input scale for librosa style; and the same in
    /// float64 for double-precision FFTs.
    let window: UnsafeMutablePointer<Float>
    let windowDouble: UnsafeMutablePointer<Double>
    /// n_fft/2 + 1 power (or magnitude) bins, then three zeros that are never written: a padded
    /// mel band may read up to three bins past its span.
    let spectrum: UnsafeMutablePointer<Float>
    /// n_mels mel values before the output stage.
    let melBands: UnsafeMutablePointer<Float>
    /// The mel bank, sparse: band b weighs bins first[b] ..< first[b] + span[b] with the next
    /// span[b] weights. Spans are padded to a multiple of 4 with zero weights.
    let bankFirstBin: UnsafeMutablePointer<Int>
    let bankSpan: UnsafeMutablePointer<Int>
    let bankWeights: UnsafeMutablePointer<Float>
    /// One-element stand-ins for the FFT buffers of the precision not used, so the computer's
    /// pointers are never optional.
    let unusedSingle: UnsafeMutablePointer<Float>
    let unusedDouble: UnsafeMutablePointer<Double>

    /// The workspace an analyzer of `configuration` builds for itself: nil for the micro preset
    /// (its integer frontend has none); for openwakeword, the one its dB stage runs. The
    /// configuration must be valid (`MelAnalyzer.init` has validated it).
    static func forAnalyzer(of configuration: MelConfiguration) -> FrameWorkspace? {
        if configuration.filterbank == .micro { return nil }
        return FrameWorkspace(configuration: configuration.output == .openWakeWord
                              ? OpenWakeWordFrontend.decibelConfiguration(configuration) : configuration)
    }

    /// Plans the FFT and builds the tables for the float pipeline of `c` (a valid configuration
    /// that is not micro): every buffer is written here, so every page is touched.
    init(configuration c: MelConfiguration) {
        configuration = c
        let kaldiStyle = c.filterbank == .kaldi
        fft = RealFFT(length: c.fftLength, precision: FloatFrameComputer.fftPrecision(c))
        let w = Window.make(c.window, length: c.windowLength)
        window = .allocate(capacity: c.windowLength)
        for i in 0..<c.windowLength { window[i] = kaldiStyle ? w[i] : w[i] * c.inputScale }
        windowDouble = .allocate(capacity: c.windowLength)
        let w64 = Window.makeDouble(c.window, length: c.windowLength)
        for i in 0..<c.windowLength { windowDouble[i] = w64[i] * Double(c.inputScale) }

        let binCount = c.fftLength / 2 + 1
        spectrum = .allocate(capacity: binCount + 3)
        spectrum.initialize(repeating: 0, count: binCount + 3)
        melBands = .allocate(capacity: c.melBandCount)
        melBands.initialize(repeating: 0, count: c.melBandCount)
        let bank = MelFilterbank(configuration: c)
        bankFirstBin = .allocate(capacity: c.melBandCount)
        bankSpan = .allocate(capacity: c.melBandCount)
        var paddedWeights: [Float] = []
        var source = 0
        for band in 0..<c.melBandCount {
            let span = bank.binSpan[band], padded = (span + 3) / 4 * 4
            bankFirstBin[band] = bank.firstBin[band]
            bankSpan[band] = padded
            paddedWeights += bank.weights[source..<source + span]
            paddedWeights += repeatElement(0, count: padded - span)
            source += span
        }
        bankWeights = .allocate(capacity: max(1, paddedWeights.count))
        bankWeights.initialize(repeating: 0, count: max(1, paddedWeights.count))
        for (i, weight) in paddedWeights.enumerated() { bankWeights[i] = weight }
        unusedSingle = .allocate(capacity: 1)
        unusedSingle.initialize(to: 0)
        unusedDouble = .allocate(capacity: 1)
        unusedDouble.initialize(to: 0)
    }

    deinit {
        window.deallocate()
        windowDouble.deallocate()
        spectrum.deallocate()
        melBands.deallocate()
        bankFirstBin.deallocate()
        bankSpan.deallocate()
        bankWeights.deallocate()
        unusedSingle.deallocate()
        unusedDouble.deallocate()
    }
}
