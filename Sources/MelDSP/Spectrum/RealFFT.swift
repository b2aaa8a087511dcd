import CFFTW
import Synchronization

/// A single-precision real-to-complex FFT of fixed length, planned once with FFTW.
///
/// Owns its SIMD-aligned buffers (`fftwf_alloc_*`): write `input`, call `execute()`, read
/// `output` (n/2 + 1 complex bins as interleaved re, im). Planning uses `FFTW_ESTIMATE`, which
/// is deterministic: every process picks the same algorithm for the same length, so `meltap
/// file` and the live client produce bit-identical frames (`FFTW_MEASURE` times candidates and
/// can choose differently from run to run). The input buffer is preserved (`FFTW_PRESERVE_INPUT`
/// is implied for r2c out-of-place plans of rank 1).
public final class RealFFT: @unchecked Sendable {
    /// `n_fft`.
    public let length: Int
    /// `length` real samples, 64-byte aligned. Owned.
    public let input: UnsafeMutablePointer<Float>
    /// `length/2 + 1` complex bins as (re, im) float pairs. Owned.
    public let output: UnsafeMutablePointer<Float>
    /// The FFTW plan bound to `input` and `output`. Owned; destroyed with this object.
    public let plan: fftwf_plan

    /// FFTW's planner is not thread-safe; plans are made and destroyed under this lock.
    private static let plannerLock = Mutex(())

    public init(length: Int) {
        self.length = length
        input = fftwf_alloc_real(length)!
        input.initialize(repeating: 0, count: length)
        let complexOut = fftwf_alloc_complex(length / 2 + 1)!
        output = UnsafeMutableRawPointer(complexOut).bindMemory(to: Float.self, capacity: 2 * (length / 2 + 1))
        output.initialize(repeating: 0, count: 2 * (length / 2 + 1))
        let inputPointer = input
        plan = RealFFT.plannerLock.withLock { _ in
            UncheckedPlan(fftwf_plan_dft_r2c_1d(Int32(length), inputPointer, complexOut, UInt32(FFTW_ESTIMATE))!)
        }.plan
    }

    deinit {
        let plan = UncheckedPlan(self.plan)
        RealFFT.plannerLock.withLock { _ in fftwf_destroy_plan(plan.plan) }
        fftwf_free(input)
        fftwf_free(output)
    }
}

/// Carries a plan pointer across the planner lock; plans are only used by their owner.
private struct UncheckedPlan: @unchecked Sendable {
    let plan: fftwf_plan
    init(_ plan: fftwf_plan) { self.plan = plan }
}
