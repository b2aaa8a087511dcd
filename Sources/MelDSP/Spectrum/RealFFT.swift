import CFFTW
import Synchronization

/// A real-to-complex FFT of fixed length and precision, planned once with FFTW.
///
/// Owns its SIMD-aligned buffers (`fftw(f)_alloc_*`): write the input, execute the plan
/// (`fftwf_execute` / `fftw_execute` on `plan`), read `n/2 + 1` complex bins as interleaved
/// (re, im). Single precision uses `inputSingle`/`outputSingle`, double precision
/// `inputDouble`/`outputDouble`; the other pair is nil.
///
/// Planning uses `FFTW_ESTIMATE`, which is deterministic: every process picks the same
/// algorithm for the same length, so `meltap file` and the live client produce bit-identical
/// frames (`FFTW_MEASURE` times candidates and may choose differently from run to run).
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
                UncheckedPlan(fftwf_plan_dft_r2c_1d(Int32(length), input, output, UInt32(FFTW_ESTIMATE))!)
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
                UncheckedPlan(fftw_plan_dft_r2c_1d(Int32(length), input, output, UInt32(FFTW_ESTIMATE))!)
            }.plan
        }
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
