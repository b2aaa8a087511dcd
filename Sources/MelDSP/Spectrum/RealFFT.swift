import CFFTW
import Synchronization

/// A real-to-complex FFT of fixed length and precision, planned once with FFTW.
///
/// Owns its SIMD-aligned buffers (`fftw(f)_alloc_*`): write the input, execute the plan
/// (`fftwf_execute` / `fftw_execute` on `plan`), read `n/2 + 1` complex bins as interleaved
/// (re, im). Single precision uses `inputSingle`/`outputSingle`, double precision
/// `inputDouble`/`outputDouble`; the other pair is nil.
///
/// Planning is deterministic, so `meltap file` and the live client build the same plan and
/// produce bit-identical frames. `FFTW_MEASURE`/`FFTW_PATIENT` planning times candidates and may
/// choose differently from run to run, so meltap never times: for the lengths in `FFTWisdom`
/// (256, 400, 512, 1024, 2048) it imports that compiled-in wisdom and plans with
/// `FFTW_WISDOM_ONLY`, which rebuilds the recorded plan without timing anything (1.1–1.5× faster
/// than the estimate at 256, 512, 1024 and 2048 points); every other length, and these where the
/// wisdom does not apply (another FFTW version, a CPU without the recorded codelets' SIMD), is
/// planned with `FFTW_ESTIMATE`. Either way the choice depends only on the length, the precision,
/// the FFTW build and the CPU, never on timing, on files or on what the process planned before:
/// the planner's table is emptied before and after each wisdom plan, under `plannerLock`.
public final class RealFFT: @unchecked Sendable {
    /// `n_fft`.
    public let length: Int
    public let precision: FFTPrecision
    public let inputSingle: UnsafeMutablePointer<Float>?
    public let outputSingle: UnsafeMutablePointer<Float>?
    public let inputDouble: UnsafeMutablePointer<Double>?
    public let outputDouble: UnsafeMutablePointer<Double>?
    /// The FFTW plan (an `fftwf_plan` or `fftw_plan`) bound to the buffers. Owned.
    public let plan: OpaquePointer

    /// FFTW's planner is not thread-safe; plans are made and destroyed under this lock.
    static let plannerLock = Mutex(())

    public init(length: Int, precision: FFTPrecision) {
        self.length = length
        self.precision = precision
        let bins = length / 2 + 1
        switch precision {
        case .single:
            let input = fftwf_alloc_real(length)!, output = fftwf_alloc_complex(bins)!
            input.initialize(repeating: 0, count: length)
            let floats = UnsafeMutableRawPointer(output).bindMemory(to: Float.self, capacity: 2 * bins)
            floats.initialize(repeating: 0, count: 2 * bins)
            inputSingle = input
            outputSingle = floats
            inputDouble = nil
            outputDouble = nil
            plan = RealFFT.plannerLock.withLock { _ in
                UncheckedPlan(RealFFT.planSingle(length: length, input: input, output: output))
            }.plan
        case .double:
            let input = fftw_alloc_real(length)!, output = fftw_alloc_complex(bins)!
            input.initialize(repeating: 0, count: length)
            let doubles = UnsafeMutableRawPointer(output).bindMemory(to: Double.self, capacity: 2 * bins)
            doubles.initialize(repeating: 0, count: 2 * bins)
            inputSingle = nil
            outputSingle = nil
            inputDouble = input
            outputDouble = doubles
            plan = RealFFT.plannerLock.withLock { _ in
                UncheckedPlan(RealFFT.planDouble(length: length, input: input, output: output))
            }.plan
        }
    }

    /// The lengths `FFTWisdom` holds plans for (float32 and float64 alike).
    public static let wisdomLengths: Set<Int> = [256, 400, 512, 1024, 2048]

    /// The float32 plan for `length`: from the compiled-in wisdom when it applies, else
    /// FFTW_ESTIMATE. Call with `plannerLock` held.
    private static func planSingle(length: Int, input: UnsafeMutablePointer<Float>,
                                   output: UnsafeMutablePointer<fftwf_complex>) -> OpaquePointer {
        if wisdomLengths.contains(length) {
            // Only the imported wisdom in the table: the plan cannot depend on earlier planning.
            fftwf_forget_wisdom()
            let imported = fftwf_import_wisdom_from_string(FFTWisdom.single) != 0
            let plan = imported
                ? fftwf_plan_dft_r2c_1d(Int32(length), input, output, UInt32(FFTW_PATIENT | FFTW_WISDOM_ONLY)) : nil
            // Emptied again, so estimate plans made later see no wisdom either.
            fftwf_forget_wisdom()
            if let plan { return plan }
        }
        return fftwf_plan_dft_r2c_1d(Int32(length), input, output, UInt32(FFTW_ESTIMATE))!
    }

    /// The float64 counterpart of `planSingle`.
    private static func planDouble(length: Int, input: UnsafeMutablePointer<Double>,
                                   output: UnsafeMutablePointer<fftw_complex>) -> OpaquePointer {
        if wisdomLengths.contains(length) {
            fftw_forget_wisdom()
            let imported = fftw_import_wisdom_from_string(FFTWisdom.double) != 0
            let plan = imported
                ? fftw_plan_dft_r2c_1d(Int32(length), input, output, UInt32(FFTW_PATIENT | FFTW_WISDOM_ONLY)) : nil
            fftw_forget_wisdom()
            if let plan { return plan }
        }
        return fftw_plan_dft_r2c_1d(Int32(length), input, output, UInt32(FFTW_ESTIMATE))!
    }

    deinit {
        let plan = UncheckedPlan(self.plan), single = precision == .single
        RealFFT.plannerLock.withLock { _ in
            if single { fftwf_destroy_plan(plan.plan) } else { fftw_destroy_plan(plan.plan) }
        }
        if let inputSingle { fftwf_free(inputSingle) }
        if let outputSingle { fftwf_free(outputSingle) }
        if let inputDouble { fftw_free(inputDouble) }
        if let outputDouble { fftw_free(outputDouble) }
    }
}

/// Carries a plan pointer across the planner lock; plans are only used by their owner.
private struct UncheckedPlan: @unchecked Sendable {
    let plan: OpaquePointer
    init(_ plan: OpaquePointer) { self.plan = plan }
}
