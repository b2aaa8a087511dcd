import CVectorMath
import Glibc

/// Turns one frame of mel bands into the configured output: power, dB, log, Whisper, MFCC or PCEN.
///
/// Owns preallocated state (running maximum, PCEN smoother, DCT matrix, scratch), freed by
/// `deallocate()`; `apply` is real-time safe. A struct of pointers and scalars, so calling it
/// from the realtime path involves no reference counting. References matched: librosa `power_to_db`, `feature.mfcc` (orthonormal
/// DCT-II) and `pcen`; Kaldi's log with FLT_EPSILON floor; Whisper's `log_mel_spectrogram`.
struct OutputStage: @unchecked Sendable {
    let kind: OutputKind
    let clampRule: ClampRule
    /// dB values go straight to the output (dB output, or MFCC deferred to the finisher).
    let writesDBToOutput: Bool
    /// `clampRule == .running`, as a plain flag for the real-time path.
    let clampsRunning: Bool
    let bandCount: Int
    /// Clamp distance below the maximum, in output units (dB, or log10 for Whisper); nil: none.
    let topDistance: Float?
    /// 10·log10(max(amin, ref)), subtracted from every dB value (0 with a max/min reference).
    let referenceDB: Float
    let amin: Float
    /// amplitude_to_db: dB outputs with power 1 square the magnitudes first, as librosa does
    /// (`power_to_db(S², ref², amin²)`, so `amin` here is the square of its 1e-5).
    let squaresBeforeDB: Bool
    /// `ref=np.max` / `np.min` applied causally (running rule): subtract the running maximum
    /// (minimum) of the unreferenced dB values. With the deferred rule `OfflineFinisher` does it.
    let subtractsRunningReference: Bool
    /// With `subtractsRunningReference`: the reference is the minimum (`np.min`), not the maximum.
    let referenceIsMinimum: Bool
    let logFloor: Float
    /// The eight-lane AVX2 log of log_kernels.c (same bits as libmvec's four lanes), chosen once
    /// by `FrameKernels.avx2LogAvailable()`.
    let avx2Log: Bool

    /// n_mfcc × n_mels orthonormal DCT-II matrix, float64, row-major. Owned.
    let dct: UnsafeMutablePointer<Double>
    let mfccCount: Int
    /// n_mels scratch for the dB bands under the MFCC. Owned.
    let scratch: UnsafeMutablePointer<Float>

    /// PCEN smoother state z[band] = (1 − b)·M[t−1], float64. Owned.
    let pcenState: UnsafeMutablePointer<Double>
    let pcenB: Double, pcenGain: Double, pcenBias: Double, pcenPower: Double, pcenEps: Double
    let pcenScale: Double, pcenLogEps: Double, pcenBiasPower: Double

    /// The running maximum over all values so far (output units, before clamping). Owned.
    let runningMaximum: UnsafeMutablePointer<Float>
    /// [0]: the running maximum, [1]: the running minimum of the unreferenced dB values (before
    /// clamping), for a running `ref=np.max` / `np.min`. Owned.
    let runningExtremes: UnsafeMutablePointer<Float>

    init(configuration c: MelConfiguration, clampRule: ClampRule) {
        kind = c.output
        self.clampRule = clampRule
        clampsRunning = clampRule == .running
        bandCount = c.bandCount
        topDistance = c.output == .whisper ? Float(c.topDB ?? MelConfiguration.whisperClampDistance) : c.topDB.map(Float.init)
        // librosa: 10.0 * np.log10(np.maximum(amin, ref)) in float64, subtracted from float32.
        let relative = c.output.isDecibels && (c.dbReference == .max || c.dbReference == .min)
        referenceDB = relative ? 0 : Float(10.0 * log10(max(c.amin, c.referencePower)))
        amin = Float(c.amin)
        squaresBeforeDB = c.output.isDecibels && c.power == 1
        subtractsRunningReference = relative && clampRule == .running
        referenceIsMinimum = c.dbReference == .min
        writesDBToOutput = c.output.isDecibels || (c.output == .mfcc && clampRule == .deferred && c.topDB != nil)
        logFloor = c.logFloor
        avx2Log = FrameKernels.avx2LogAvailable()

        mfccCount = c.output == .mfcc ? c.mfccCount : 0
        dct = .allocate(capacity: max(1, mfccCount * c.melBandCount))
        let n = Double(c.melBandCount)
        for k in 0..<mfccCount {
            let scale = k == 0 ? (1.0 / n).squareRoot() : (2.0 / n).squareRoot()
            for i in 0..<c.melBandCount {
                dct[k * c.melBandCount + i] = scale * cos(Double.pi * Double(k) * (2 * Double(i) + 1) / (2 * n))
            }
        }
        scratch = .allocate(capacity: c.bandCount)
        scratch.initialize(repeating: 0, count: c.bandCount)

        let p = c.pcen
        let tFrames = p.timeConstant * (p.smootherSampleRate ?? c.sampleRate) / Double(p.smootherHopLength ?? c.hopLength)
        pcenB = ((1 + 4 * tFrames * tFrames).squareRoot() - 1) / (2 * tFrames * tFrames)
        pcenGain = p.gain
        pcenBias = p.bias
        pcenPower = p.power
        pcenEps = p.eps
        pcenScale = p.inputScale
        pcenLogEps = log(p.eps)
        pcenBiasPower = pow(p.bias, p.power)
        pcenState = .allocate(capacity: c.bandCount)
        runningMaximum = .allocate(capacity: 1)
        runningExtremes = .allocate(capacity: 2)
        reset()
    }

    /// Frees the buffers. The owner calls this exactly once.
    func deallocate() {
        dct.deallocate()
        scratch.deallocate()
        pcenState.deallocate()
        runningMaximum.deallocate()
        runningExtremes.deallocate()
    }

    /// Forgets the running maximum and the PCEN smoother (M[−1] = 1, as librosa).
    func reset() {
        runningMaximum.pointee = -.infinity
        runningExtremes[0] = -.infinity
        runningExtremes[1] = .infinity
        pcenState.initialize(repeating: 1 - pcenB, count: bandCount)
    }

    /// Values written per frame by `apply`.
    var width: Int { kind == .mfcc && !deferMFCC ? mfccCount : bandCount }

    /// With deferred clamping, MFCC frames carry the dB bands; `OfflineFinisher` applies the DCT.
    var deferMFCC: Bool { kind == .mfcc && !clampsRunning && topDistance != nil }

    /// Replaces `bands` (n_mels mel values) by the output, writing `width` values to `out`.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func apply(_ bands: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let n = bandCount
        switch kind {
        case .power, .spectrogram:
            for i in 0..<n { out[i] = bands[i] }
        case .log:
            // Kaldi: ln(max(x, FLT_EPSILON)).
            let floor = logFloor
            for i in 0..<n { out[i] = max(bands[i], floor) }
            logInPlace(out, count: n)
        case .db, .mfcc, .spectrogramDB:
            // librosa power_to_db: 10·log10(max(amin, x)) − 10·log10(max(amin, ref));
            // amplitude_to_db squares the magnitudes first (float32, as numpy).
            let target = writesDBToOutput ? out : scratch
            let floor = amin, reference = referenceDB
            if squaresBeforeDB {
                for i in 0..<n { target[i] = max(floor, bands[i] * bands[i]) }
            } else {
                for i in 0..<n { target[i] = max(floor, bands[i]) }
            }
            logInPlace(target, count: n)
            var frameMax = -Float.infinity, frameMin = Float.infinity
            for i in 0..<n {
                let v = Math.decibelsPerNeper * target[i] - reference
                target[i] = v
                frameMax = max(frameMax, v)
                frameMin = min(frameMin, v)
            }
            clampRunning(target, count: n, frameMaximum: frameMax)
            if subtractsRunningReference {
                subtractRunningReference(target, count: n, frameMaximum: frameMax, frameMinimum: frameMin)
            }
            if !writesDBToOutput { applyDCT(target, into: out) }
        case .whisper:
            // Whisper: log10(clamp(x, min=1e-10)).
            let frameMax: Float
            if avx2Log {
                // The same steps in one AVX2 pass (log_kernels.c; same bits).
                frameMax = _unsafePerformance {
                    meltap_whisper_log10_f32_avx2(bands, out, n, 1e-10, Math.log10OfE)
                }
            } else {
                for i in 0..<n { out[i] = max(bands[i], 1e-10) }
                Math.logInPlace(out, count: n)
                // log10 = ln · log10(e), and the frame's maximum, in SIMD8 (same bits as scalar).
                frameMax = Math.scaleInPlaceReturningMaximum(out, count: n, by: Math.log10OfE)
            }
            if clampsRunning, let distance = topDistance {
                let maximum = max(runningMaximum.pointee, frameMax)
                runningMaximum.pointee = maximum
                let floor = maximum - distance
                if avx2Log {
                    _unsafePerformance { meltap_whisper_clamp_scale_f32_avx2(out, n, floor) }
                } else {
                    for i in 0..<n { out[i] = (max(out[i], floor) + 4) / 4 }
                }
            }
        case .pcen:
            let b = pcenB, z = pcenState
            let gain = pcenGain, eps = pcenEps, logEps = pcenLogEps, bias = pcenBias, r = pcenPower
            let biasPower = pcenBiasPower, scale = pcenScale
            for i in 0..<n {
                let s = Double(bands[i]) * scale
                let smooth = b * s + z[i]          // M[t] = b·S[t] + (1 − b)·M[t−1]
                z[i] = (1 - b) * smooth
                let gainFactor = Math.exp(-gain * (logEps + Math.log1p(smooth / eps)))
                out[i] = Float(biasPower * Math.expm1(r * Math.log1p(s * gainFactor / bias)))
            }
        case .micro, .openWakeWord:
            // Never built for these: MicroFrontend and OpenWakeWordFrontend (which runs a `.db`
            // stage) compute the whole frame (MelAnalyzer).
            for i in 0..<n { out[i] = bands[i] }
        }
    }

    /// ln in place: the AVX2 kernel when chosen, else libmvec's four lanes (same bits).
    @_noAllocation @_noLocks
    @inline(__always)
    private func logInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        if avx2Log {
            _unsafePerformance { meltap_log_f32_avx2(x, x, count) }
        } else {
            Math.logInPlace(x, count: count)
        }
    }

    /// Clamps at the running maximum − top distance (causal stand-in for the global maximum).
    @_noAllocation @_noLocks
    @inline(__always)
    private func clampRunning(_ values: UnsafeMutablePointer<Float>, count n: Int, frameMaximum: Float) {
        guard clampsRunning, let distance = topDistance else { return }
        let maximum = max(runningMaximum.pointee, frameMaximum)
        runningMaximum.pointee = maximum
        let floor = maximum - distance
        for i in 0..<n { values[i] = max(values[i], floor) }
    }

    /// Subtracts the running maximum (`ref=np.max`) or minimum (`ref=np.min`) of the dB values
    /// so far, this frame's included: the causal stand-in for the whole signal's. The extremes
    /// are of the values before the top_db clamp, as librosa takes `ref` before clamping.
    @_noAllocation @_noLocks
    @inline(__always)
    private func subtractRunningReference(_ values: UnsafeMutablePointer<Float>, count n: Int,
                                          frameMaximum: Float, frameMinimum: Float) {
        runningExtremes[0] = max(runningExtremes[0], frameMaximum)
        runningExtremes[1] = min(runningExtremes[1], frameMinimum)
        let shift = referenceIsMinimum ? runningExtremes[1] : runningExtremes[0]
        for i in 0..<n { values[i] -= shift }
    }

    /// out[k] = Σᵢ D[k, i]·dB[i], accumulated in float64.
    @_noAllocation @_noLocks
    @inline(__always)
    func applyDCT(_ db: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let n = bandCount
        for k in 0..<mfccCount {
            let row = dct + k * n
            var acc = 0.0
            for i in 0..<n { acc += row[i] * Double(db[i]) }
            out[k] = Float(acc)
        }
    }
}

/// C maths functions wrapped for the performance-annotated path (they neither allocate nor lock).
enum Math {
    /// log10(e): log10(x) = ln(x)·log10(e).
    static var log10OfE: Float { 0.434_294_48 }
    /// 10·log10(e): decibels of a power ratio per neper of ln(power).
    static var decibelsPerNeper: Float { 4.342_944_8 }
    /// x[i] = ln(x[i]) for i < count, vectorised (glibc libmvec, see CVectorMath).
    @inline(__always) static func logInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        _unsafePerformance { meltap_log_f32(x, x, count) }
    }
    @inline(__always) static func exp(_ x: Double) -> Double { _unsafePerformance { Glibc.exp(x) } }
    @inline(__always) static func log1p(_ x: Double) -> Double { _unsafePerformance { Glibc.log1p(x) } }
    @inline(__always) static func expm1(_ x: Double) -> Double { _unsafePerformance { Glibc.expm1(x) } }
}
