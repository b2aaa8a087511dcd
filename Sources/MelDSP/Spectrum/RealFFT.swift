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
///
/// `RealFFT.$compiledWisdom.withValue(false) { … }` plans everything in its scope (that task
/// only) with `FFTW_ESTIMATE`, as on a machine where the wisdom does not apply;
/// `WisdomFallbackTests` checks that those frames stay within the presets' tolerances.
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
    /// Whether `plan` was rebuilt from the compiled-in wisdom (false: `FFTW_ESTIMATE`).
    public let plannedFromWisdom: Bool

    /// Whether `init` may plan from the compiled-in wisdom: true unless a caller's task says
    /// otherwise. False forces the `FFTW_ESTIMATE` fallback that a machine without the recorded
    /// codelets (or another FFTW version) gets, so tests can check those frames too. Task-local:
    /// other tasks, and the live client, are unaffected.
    @TaskLocal public static var compiledWisdom = true

    /// FFTW's planner is not thread-safe; plans are made and destroyed under this lock.
    static let plannerLock = Mutex(())

    public init(length: Int, precision: FFTPrecision) {
        self.length = length
        self.precision = precision
        let bins = length / 2 + 1
        let wisdom = RealFFT.compiledWisdom && RealFFT.wisdomLengths.contains(length)
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
            let planned = RealFFT.plannerLock.withLock { _ in
                RealFFT.planSingle(length: length, wisdom: wisdom, input: input, output: output)
            }
            plan = planned.plan
            plannedFromWisdom = planned.fromWisdom
        case .double:
            let input = fftw_alloc_real(length)!, output = fftw_alloc_complex(bins)!
            input.initialize(repeating: 0, count: length)
            let doubles = UnsafeMutableRawPointer(output).bindMemory(to: Double.self, capacity: 2 * bins)
            doubles.initialize(repeating: 0, count: 2 * bins)
            inputSingle = nil
            outputSingle = nil
            inputDouble = input
            outputDouble = doubles
            let planned = RealFFT.plannerLock.withLock { _ in
                RealFFT.planDouble(length: length, wisdom: wisdom, input: input, output: output)
            }
            plan = planned.plan
            plannedFromWisdom = planned.fromWisdom
        }
    }

    /// The lengths `FFTWisdom` holds plans for (float32 and float64 alike).
    public static let wisdomLengths: Set<Int> = [256, 400, 512, 1024, 2048]

    /// The float32 plan for `length`, and whether it came from the wisdom: from the compiled-in
    /// wisdom when `wisdom` is set and it applies, else FFTW_ESTIMATE. Call with `plannerLock` held.
    private static func planSingle(length: Int, wisdom: Bool, input: UnsafeMutablePointer<Float>,
                                   output: UnsafeMutablePointer<fftwf_complex>) -> UncheckedPlan {
        if wisdom {
            // Only the imported wisdom in the table: the plan cannot depend on earlier planning.
            fftwf_forget_wisdom()
            let imported = fftwf_import_wisdom_from_string(FFTWisdom.single) != 0
            let plan = imported
                ? fftwf_plan_dft_r2c_1d(Int32(length), input, output, UInt32(FFTW_PATIENT | FFTW_WISDOM_ONLY)) : nil
            // Emptied again, so estimate plans made later see no wisdom either.
            fftwf_forget_wisdom()
            if let plan { return UncheckedPlan(plan, fromWisdom: true) }
        }
        return UncheckedPlan(fftwf_plan_dft_r2c_1d(Int32(length), input, output, UInt32(FFTW_ESTIMATE))!)
    }

    /// The float64 counterpart of `planSingle`.
    private static func planDouble(length: Int, wisdom: Bool, input: UnsafeMutablePointer<Double>,
                                   output: UnsafeMutablePointer<fftw_complex>) -> UncheckedPlan {
        if wisdom {
            fftw_forget_wisdom()
            let imported = fftw_import_wisdom_from_string(FFTWisdom.double) != 0
            let plan = imported
                ? fftw_plan_dft_r2c_1d(Int32(length), input, output, UInt32(FFTW_PATIENT | FFTW_WISDOM_ONLY)) : nil
            fftw_forget_wisdom()
            if let plan { return UncheckedPlan(plan, fromWisdom: true) }
        }
        return UncheckedPlan(fftw_plan_dft_r2c_1d(Int32(length), input, output, UInt32(FFTW_ESTIMATE))!)
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

/// Carries a plan pointer (and whether it came from the wisdom) across the planner lock; plans
/// are only used by their owner.
private struct UncheckedPlan: @unchecked Sendable {
    let plan: OpaquePointer
    let fromWisdom: Bool
    init(_ plan: OpaquePointer, fromWisdom: Bool = false) {
        self.plan = plan
        self.fromWisdom = fromWisdom
    }
}
