import CVectorMath

/// One frame of the TFLite-Micro audio frontend (`frontend.c`): 480 samples in, 40 features
/// out, bit-exact against pymicro-features 2.0.2 (`docs/micro.md`).
///
/// Stages: float → int16 (`MicroParameters.int16Sample`), Q12 window, block-floating shift,
/// 16-bit fixed-point real FFT (`MicroFFT`), energy, filterbank and square root
/// (`MicroFilterbank`), noise reduction and PCAN (`MicroNoiseReduction`), log
/// (`MicroLogScale`). Each frame's uint16 output u becomes the float `u × 0.0390625`, exactly the
/// value pymicro-features hands a microWakeWord model.
///
/// This is the per-frame computer; `MelAnalyzer` is the streaming driver (framing `none`,
/// window 480, hop 160: the overlap of 320 samples lives in its ring). The state carried from
/// frame to frame here is the noise estimate.
///
/// Two kernel sets give the same bits: the Swift loops here (the baseline), and on a CPU with
/// AVX2 the kernels of Sources/CVectorMath/micro_kernels.c for every stage: int16 conversion,
/// window, FFT, filterbank, noise reduction and PCAN, log (`MicroKernelTests` compares the two).
/// `MELTAP_KERNELS=baseline` forces the Swift loops.
///
/// Owns its buffers (freed by `deallocate()`); `compute` is real-time safe. A struct of
/// pointers, so the real-time path does no reference counting.
struct MicroFrontend {
    /// The Q12 window, widened to int32 (480).
    private let window: UnsafeMutablePointer<Int32>
    /// The same window as int16 (480), for the AVX2 kernel.
    private let narrowWindow: UnsafeMutablePointer<Int16>
    /// Whether the AVX2 kernels run, fixed at init.
    let avx2: Bool
    /// The frame as int16 (480).
    private let samples: UnsafeMutablePointer<Int16>
    /// The FFT input: the windowed frame shifted up, zero-padded to 512 (the last 32 stay 0).
    private let fftInput: UnsafeMutablePointer<Int16>
    private let fft: MicroFFT
    private let filterbank: MicroFilterbank
    private let noiseReduction: MicroNoiseReduction
    private let logTable: UnsafeMutablePointer<Int32>
    /// The 40 channel values between stages (`state->work` reused as uint32 in the C).
    private let signal: UnsafeMutablePointer<UInt32>

    /// `avx2`: run the AVX2 kernels; by default when `FrameKernels.avx2Available()` (which reads
    /// the environment: build the frontend at configuration time, not on the realtime thread).
    /// Requesting AVX2 on a CPU without it is a programming error (checked).
    init(tables: MicroTables = MicroTables(), avx2: Bool = FrameKernels.avx2Available()) {
        let n = MicroParameters.windowLength
        precondition(n % 16 == 0, "the AVX2 window kernel takes whole vectors of 16 samples")
        window = .allocate(capacity: n)
        for i in 0..<n { window[i] = Int32(tables.window[i]) }
        narrowWindow = .allocate(capacity: n)
        for i in 0..<n { narrowWindow[i] = tables.window[i] }
        precondition(!avx2 || meltap_micro_cpu_has_avx2() != 0, "micro frontend: AVX2 kernels requested on a CPU without AVX2")
        self.avx2 = avx2
        samples = .allocate(capacity: n)
        samples.initialize(repeating: 0, count: n)
        fftInput = .allocate(capacity: MicroParameters.fftLength)
        fftInput.initialize(repeating: 0, count: MicroParameters.fftLength)
        fft = MicroFFT(tables: tables)
        filterbank = MicroFilterbank(tables: tables)
        noiseReduction = MicroNoiseReduction(tables: tables)
        logTable = MicroLogScale.makeTable()
        signal = .allocate(capacity: MicroParameters.channelCount)
        signal.initialize(repeating: 0, count: MicroParameters.channelCount)
    }

    /// Frees the buffers. The owner calls this exactly once.
    func deallocate() {
        window.deallocate()
        narrowWindow.deallocate()
        samples.deallocate()
        fftInput.deallocate()
        fft.deallocate()
        filterbank.deallocate()
        noiseReduction.deallocate()
        logTable.deallocate()
        signal.deallocate()
    }

    /// Forgets the noise estimate (a new stream).
    func reset() { noiseReduction.reset() }

    /// Computes the frame of the 480 float samples at `frame` (converted to int16 first) into 40
    /// float features `u16 × 0.0390625` at `out`, and advances the noise estimate.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func compute(_ frame: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let x = samples
        if avx2 {
            _unsafePerformance { meltap_micro_int16_avx2(frame, x, MicroParameters.windowLength) }  // C: no allocation or locks
        } else {
            for i in 0..<MicroParameters.windowLength { x[i] = MicroParameters.int16Sample(frame[i]) }
        }
        computeInt16(into: out)
    }

    /// The stages after the int16 conversion, on `samples`.
    @_noAllocation @_noLocks
    @inline(never)
    private func computeInt16(into out: UnsafeMutablePointer<Float>) {
        if avx2 {
            // The C kernels (micro_kernels.h): no allocation, locks or system calls.
            let shift = Int(_unsafePerformance {
                meltap_micro_window_avx2(samples, narrowWindow, fftInput, MicroParameters.windowLength)
            })
            fft.forwardAVX2(fftInput)
            filterbank.applyAVX2(pairs: fft.pairBins, shift: shift, into: signal)
            noiseReduction.applyAVX2(signal)
            _unsafePerformance {
                meltap_micro_log_avx2(signal, logTable, MicroParameters.outputScale, out, MicroParameters.channelCount)
            }
        } else {
            spectrumBaseline()
            noiseReduction.apply(signal)
            let lut = UnsafePointer(logTable), scale = MicroParameters.outputScale
            for j in 0..<MicroParameters.channelCount {
                out[j] = Float(MicroLogScale.apply(signal[j], lut: lut)) * scale
            }
        }
    }

    /// Window, shift, FFT, energy, filterbank and square root in the Swift loops: `samples`
    /// into the 40 channel magnitudes in `signal`.
    @_noAllocation @_noLocks
    @inline(__always)
    private func spectrumBaseline() {
        // WindowProcessSamples: y = (x·w) >> 12 as int16. |y| is an int16 negation, so −32768
        // stays negative and never raises the maximum (the C's quirk, kept).
        let x = samples, w = window, y = fftInput
        var maximum: Int16 = 0
        for i in 0..<MicroParameters.windowLength {
            let value = Int16(truncatingIfNeeded: (Int32(x[i]) &* w[i]) >> Int32(MicroParameters.windowBits))
            y[i] = value
            let magnitude = value < 0 ? 0 &- value : value
            if magnitude > maximum { maximum = magnitude }
        }
        // Block-floating shift: as many bits as the largest value leaves free (15 for silence).
        let shift = 15 &- (Int16.bitWidth &- maximum.leadingZeroBitCount)
        // FftCompute: each value shifted as uint16 and stored back into int16.
        let s = UInt16(truncatingIfNeeded: shift)
        for i in 0..<MicroParameters.windowLength {
            y[i] = Int16(bitPattern: UInt16(bitPattern: y[i]) &<< s)
        }
        fft.forward(y)
        filterbank.apply(binRe: fft.binRe, binIm: fft.binIm, shift: shift, into: signal)
    }
}

extension MicroParameters {
    /// The int16 sample the micro frontend analyses for float sample `x`: x·32768 rounded to
    /// the nearest integer, ties to even (C's `lrintf` in the default rounding mode, numpy's
    /// `np.rint`), clamped to [−32768, 32767]; NaN gives 0.
    ///
    /// libsndfile reads an int16 file as k/32768, so `meltap file` on int16 audio analyses
    /// exactly the file's samples (no value is a tie). Anything that writes out "the int16
    /// samples meltap analysed" must use this rule. Real-time safe; branch-free, so a loop of
    /// it vectorises.
    @_noAllocation @_noLocks
    @inline(__always)
    public static func int16Sample(_ x: Float) -> Int16 {
        let y = x * 32768                                    // exact: a power of two
        let clamped = y == y ? min(max(y, -32768), 32767) : 0  // NaN → 0; clamping first rounds the same
        // Adding 1.5·2^23 leaves |v| < 2^22 as an integer in the low mantissa bits, rounded to
        // nearest with ties to even (the FPU's default mode): those 16 bits are the int16.
        return Int16(truncatingIfNeeded: (clamped + 12_582_912).bitPattern)
    }
}
