import Glibc

/// The fixed parameters of the TFLite-Micro audio frontend as pymicro-features 2.0.2 configures
/// it (`docs/micro.md`, "Parameters"), the configuration microWakeWord and microVAD
/// models were trained on. Nothing here is tunable: each value is part of the bit-exact contract.
/// Computed properties rather than stored ones, so they fold to constants and the real-time path
/// calls no lazy-global initialiser; their getters carry the real-time annotations so the
/// checker accepts them from the stages in other files.
public enum MicroParameters {
    /// `sr` of the int16 input, in Hz.
    public static var sampleRate: Int { @_noAllocation @_noLocks get { 16000 } }
    /// Window length (`win_length`) in samples: 30 ms.
    public static var windowLength: Int { @_noAllocation @_noLocks get { 480 } }
    /// Step (`hop_length`) in samples: 10 ms.
    public static var hopLength: Int { @_noAllocation @_noLocks get { 160 } }
    /// FFT length (`n_fft`); the windowed frame is zero-padded to it.
    public static var fftLength: Int { @_noAllocation @_noLocks get { 512 } }
    /// Output channels (`n_mels`).
    public static var channelCount: Int { @_noAllocation @_noLocks get { 40 } }
    /// Filterbank edges (`fmin`, `fmax`), in Hz.
    public static var lowerBandLimit: Float { @_noAllocation @_noLocks get { 125 } }
    public static var upperBandLimit: Float { @_noAllocation @_noLocks get { 7500 } }
    /// A float feature is the frontend's uint16 output times this: 0.0390625 = 5/128, exact in
    /// float32, so `u16 × outputScale` is exact for every uint16 (what pymicro-features returns).
    public static var outputScale: Float { @_noAllocation @_noLocks get { 0.0390625 } }

    /// Window coefficients are Q12 (`kFrontendWindowBits`).
    static var windowBits: Int { @_noAllocation @_noLocks get { 12 } }
    /// Filterbank weights are Q12 (`kFilterbankBits`).
    static var filterbankBits: Int { @_noAllocation @_noLocks get { 12 } }
    /// Noise-reduction fractions are Q14 (`kNoiseReductionBits`).
    static var noiseReductionBits: Int { @_noAllocation @_noLocks get { 14 } }
    /// `smoothing_bits`: the noise estimate carries this many extra bits.
    static var smoothingBits: Int { @_noAllocation @_noLocks get { 10 } }
    /// `even_smoothing` 0.025 and `odd_smoothing` 0.06 in Q14, truncated as the C stores them
    /// (`config->even_smoothing * (1 << kNoiseReductionBits)` into a uint16): 409 and 983.
    static var evenSmoothing: UInt32 { @_noAllocation @_noLocks get { UInt32(Float(0.025) * Float(1 << 14)) } }
    static var oddSmoothing: UInt32 { @_noAllocation @_noLocks get { UInt32(Float(0.06) * Float(1 << 14)) } }
    /// `min_signal_remaining` 0.05 in Q14, truncated: 819.
    static var minimumSignalRemaining: UInt32 {
        @_noAllocation @_noLocks get { UInt32(Float(0.05) * Float(1 << 14)) }
    }
    /// PCAN `strength`, `offset` and `gain_bits`.
    static var pcanStrength: Float { @_noAllocation @_noLocks get { 0.95 } }
    static var pcanOffset: Float { @_noAllocation @_noLocks get { 80 } }
    static var pcanGainBits: Int { @_noAllocation @_noLocks get { 21 } }
    /// `kPcanSnrBits` and `kPcanOutputBits`.
    static var pcanSNRBits: Int { @_noAllocation @_noLocks get { 12 } }
    static var pcanOutputBits: Int { @_noAllocation @_noLocks get { 6 } }
    /// `MostSignificantBit32(fft_size) − 1 − kFilterbankBits/2` = 3: the log stage's left shift,
    /// and the gain table's input is the noise estimate in Q(smoothingBits − 3).
    static var correctionBits: Int {
        @_noAllocation @_noLocks get { (fftLength.bitWidth - fftLength.leadingZeroBitCount) - 1 - filterbankBits / 2 }
    }
    /// `log_scale`'s `scale_shift`: outputs are 64·ln(x) (Q6).
    static var logScaleShift: Int { @_noAllocation @_noLocks get { 6 } }
    /// Entries of the PCAN gain table (`kWideDynamicFunctionLUTSize` = 4·32 − 3).
    static var gainTableCount: Int { @_noAllocation @_noLocks get { 4 * 32 - 3 } }
}

/// One filterbank channel, stored sparse (kaldi-native-fbank style): the weights for FFT bins
/// `firstBin ..< firstBin + width` start at `weightStart` in the weight and unweight tables.
/// Widths are padded to a multiple of four and starts aligned down to even bins with zero
/// weights, exactly as `FilterbankPopulateState` lays them out.
public struct MicroChannel: Sendable, Equatable {
    public var firstBin: Int
    public var weightStart: Int
    public var width: Int
}

/// The tables the TFLite-Micro frontend builds at start-up, computed as pymicro-features 2.0.2
/// computes them (TensorFlow's `microfrontend/lib/*_util.c`, compiled with glibc's float maths):
/// the Q12 window from `cosf`, the mel edges from `log1pf`, the PCAN gains from `powf`, the FFT
/// twiddles from double `cos`/`sin`. `Tests/MelDSPTests/Fixtures/micro/tables.json` holds the reference
/// copy; `MicroParityTests` checks every entry against it.
///
/// TensorFlow's own `audio_microfrontend` op evaluates the window in double and gets w[17] = 53
/// where pymicro-features (what runs microWakeWord models on Linux) gets 54; these tables follow
/// pymicro-features.
///
/// Built once (plain arrays, allocating); the real-time stages copy what they need into owned
/// buffers at init.
public struct MicroTables: Sendable {
    /// `window_q12`: w[i] = floorf(4096·(0.5 − 0.5·cosf(2π/480·(i + ½))) + 0.5), 480 values.
    public let window: [Int16]
    /// 41 channels: channel 0 only feeds channel 1's unweighted side; output channel j is
    /// accumulator j + 1.
    public let channels: [MicroChannel]
    /// Q12 weights and unweights (1 − weight, rounded separately), indexed from `weightStart`.
    public let weights: [Int16]
    public let unweights: [Int16]
    /// FFT bins whose energy is computed: `start_index ..< end_index` (5 ..< 241).
    public let energyBins: Range<Int>
    /// The 125-entry PCAN gain table: piecewise-quadratic segments of 2^21·(x/128 + 80)^−0.95.
    /// Entries 4k − 3 (k ≥ 2) are never read; they are 0 here.
    public let pcanGain: [Int16]
    /// kissfft's 256 complex twiddles for the half-length complex FFT: floor(0.5 + 32767·cos φ),
    /// floor(0.5 + 32767·sin φ) with φ = −2πi/256, computed in double.
    public let twiddles: [(re: Int16, im: Int16)]
    /// kiss_fftr's 128 "super twiddles": φ = −π·((i + 1)/256 + ½).
    public let superTwiddles: [(re: Int16, im: Int16)]

    public init() {
        window = MicroTables.makeWindow()
        (channels, weights, unweights, energyBins) = MicroTables.makeFilterbank()
        pcanGain = MicroTables.makeGainTable()
        let pi = 3.14159265358979323846264338327  // kissfft's own constant (the double nearest π)
        twiddles = (0..<256).map { MicroTables.fixedPhase(-2 * pi * Double($0) / 256) }
        superTwiddles = (0..<128).map { MicroTables.fixedPhase(-pi * (Double($0 + 1) / 256 + 0.5)) }
    }

    /// `kf_cexp` for 16-bit fixed point: (floor(0.5 + 32767·cos φ), floor(0.5 + 32767·sin φ)).
    static func fixedPhase(_ phase: Double) -> (re: Int16, im: Int16) {
        (Int16(Glibc.floor(0.5 + 32767 * Libm.cos(phase))), Int16(Glibc.floor(0.5 + 32767 * Libm.sin(phase))))
    }

    /// `WindowPopulateState`: `arg` is evaluated in double and stored as float, the rest in float.
    static func makeWindow() -> [Int16] {
        let n = MicroParameters.windowLength
        let arg = Float(Double.pi * 2.0 / Double(Float(n)))
        return (0..<n).map { i in
            let value: Float = 0.5 - 0.5 * Libm.cosf(arg * (Float(i) + 0.5))
            return Int16(floorf(value * Float(1 << MicroParameters.windowBits) + 0.5))
        }
    }

    /// `FreqToMel` as pymicro-features runs it: 1127·log1pf(f/700) in float.
    static func melOf(_ frequency: Float) -> Float { 1127 * Libm.log1pf(frequency / 700) }

    /// `FilterbankPopulateState` for 40 channels (41 accumulators) over a 257-bin spectrum.
    static func makeFilterbank() -> ([MicroChannel], [Int16], [Int16], Range<Int>) {
        let accumulators = MicroParameters.channelCount + 1
        let blockSize = 4       // kFilterbankChannelBlockSize
        let indexAlignment = 2  // kFilterbankIndexAlignment (4 bytes) / sizeof(int16_t)
        let spectrumSize = MicroParameters.fftLength / 2 + 1
        let lower = MicroParameters.lowerBandLimit, upper = MicroParameters.upperBandLimit
        // CalculateCenterFrequencies, in float.
        let melLow = melOf(lower), melHigh = melOf(upper)
        let spacing = (melHigh - melLow) / Float(accumulators)
        let centers = (0..<accumulators).map { melLow + spacing * Float($0 + 1) }
        // 0.5·sr / (spectrum_size − 1): double, stored as float. DC is always excluded.
        let hzPerBin = Float(0.5 * Double(MicroParameters.sampleRate) / Double(Float(spectrumSize) - 1))
        let startIndex = Int(1.5 + Double(lower / hzPerBin))

        var channels: [MicroChannel] = []
        var actualStarts: [Int] = [], actualWidths: [Int] = []
        var frequencyStart = startIndex, weightStart = 0, needsZeros = false
        for channel in 0..<accumulators {
            var frequency = frequencyStart
            while melOf(Float(frequency) * hzPerBin) <= centers[channel] { frequency += 1 }
            let width = frequency - frequencyStart
            actualStarts.append(frequencyStart)
            actualWidths.append(width)
            if width == 0 {
                // An empty channel reads four zero weights placed at the very start of the tables.
                channels.append(MicroChannel(firstBin: 0, weightStart: 0, width: blockSize))
                if !needsZeros {
                    needsZeros = true
                    for j in 0..<channel { channels[j].weightStart += blockSize }
                    weightStart += blockSize
                }
            } else {
                let alignedStart = frequencyStart / indexAlignment * indexAlignment
                let alignedWidth = frequencyStart - alignedStart + width
                let paddedWidth = ((alignedWidth - 1) / blockSize + 1) * blockSize
                channels.append(MicroChannel(firstBin: alignedStart, weightStart: weightStart, width: paddedWidth))
                weightStart += paddedWidth
            }
            frequencyStart = frequency
        }

        var weights = [Int16](repeating: 0, count: weightStart)
        var unweights = [Int16](repeating: 0, count: weightStart)
        var endIndex = 0
        let scale = Float(1 << MicroParameters.filterbankBits)
        for channel in 0..<accumulators {
            let offset = actualStarts[channel] - channels[channel].firstBin
            let denominator = channel == 0 ? melLow : centers[channel - 1]
            var frequency = actualStarts[channel]
            for j in 0..<actualWidths[channel] {
                let weight = (centers[channel] - melOf(Float(frequency) * hzPerBin)) / (centers[channel] - denominator)
                // QuantizeFilterbankWeights: the weight scaled in float, the +0.5 and 1 − weight in double.
                let index = channels[channel].weightStart + offset + j
                weights[index] = Int16(Glibc.floor(Double(weight * scale) + 0.5))
                unweights[index] = Int16(Glibc.floor((1.0 - Double(weight)) * Double(scale) + 0.5))
                frequency += 1
            }
            endIndex = max(endIndex, frequency)
        }
        precondition(endIndex < spectrumSize, "micro filterbank reaches past the spectrum")
        return (channels, weights, unweights, startIndex..<endIndex)
    }

    /// `PcanGainLookupFunction`: 2^21·powf(x/2^7 + 80, −0.95), rounded, capped at 32767.
    static func gain(_ x: UInt32) -> Int16 {
        let inputBits = MicroParameters.smoothingBits - MicroParameters.correctionBits
        let xAsFloat = Float(x) / Float(UInt32(1) << UInt32(inputBits))
        let gain = Float(UInt32(1) << UInt32(MicroParameters.pcanGainBits))
            * Libm.powf(xAsFloat + MicroParameters.pcanOffset, -MicroParameters.pcanStrength)
        return gain > 32767 ? 32767 : Int16(gain + 0.5)
    }

    /// `PcanGainControlPopulateState`: a quadratic through three points of each octave of x.
    static func makeGainTable() -> [Int16] {
        var table = [Int16](repeating: 0, count: MicroParameters.gainTableCount)
        table[0] = gain(0)
        table[1] = gain(1)
        for interval in 2...32 {
            let x0 = UInt32(1) << UInt32(interval - 1)
            let x1 = x0 + (x0 >> 1)
            let x2 = interval == 32 ? x0 + (x0 - 1) : 2 * x0
            let y0 = Int32(gain(x0)), y1 = Int32(gain(x1)), y2 = Int32(gain(x2))
            let diff1 = y1 - y0, diff2 = y2 - y0
            let a1 = 4 * diff1 - diff2
            let a2 = diff2 - a1
            let base = 4 * interval - 6
            table[base] = Int16(truncatingIfNeeded: y0)
            table[base + 1] = Int16(truncatingIfNeeded: a1)
            table[base + 2] = Int16(truncatingIfNeeded: a2)
        }
        return table
    }

    /// The filterbank as a dense (40 × 257) matrix of float weights (Q12 / 4096), for inspection
    /// and `MelFilterbank`: output channel j weighs accumulator j + 1's bins by their weight and
    /// accumulator j's bins by their unweight (the falling and the rising side of one triangle).
    public func denseFilterbank() -> [[Float]] {
        let bins = MicroParameters.fftLength / 2 + 1
        var dense = [[Float]](repeating: [Float](repeating: 0, count: bins), count: MicroParameters.channelCount)
        for (index, channel) in channels.enumerated() {
            for j in 0..<channel.width where energyBins.contains(channel.firstBin + j) {
                let bin = channel.firstBin + j, k = channel.weightStart + j
                if index >= 1 { dense[index - 1][bin] += Float(weights[k]) / 4096 }
                if index < MicroParameters.channelCount { dense[index][bin] += Float(unweights[k]) / 4096 }
            }
        }
        return dense
    }
}

/// glibc's maths functions, always called at run time. The tables must hold glibc's results, but
/// a release build folds a libm call whose argument is a constant: the upper mel edge,
/// `log1pf(7500/700)`, came out 2.460809 instead of glibc's 2.4608092, which moved filterbank
/// weight 211, the last energy bin and a few features per vector. Unoptimised wrappers keep the
/// calls opaque; they run at start-up only.
enum Libm {
    @_optimize(none) static func cosf(_ x: Float) -> Float { Glibc.cosf(x) }
    @_optimize(none) static func log1pf(_ x: Float) -> Float { Glibc.log1pf(x) }
    @_optimize(none) static func powf(_ x: Float, _ y: Float) -> Float { Glibc.powf(x, y) }
    @_optimize(none) static func cos(_ x: Double) -> Double { Glibc.cos(x) }
    @_optimize(none) static func sin(_ x: Double) -> Double { Glibc.sin(x) }
}
