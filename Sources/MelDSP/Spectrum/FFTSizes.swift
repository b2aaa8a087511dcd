/// Which real-FFT lengths FFTW executes without touching the heap.
///
/// FFTW 3.3.10 plans an even n-point real FFT (`fftw(f)_plan_dft_r2c_1d`, `FFTW_ESTIMATE`, as
/// `RealFFT` does) as one radix-2 step around a complex DFT of n/2 points, which it splits by the
/// prime factors of n/2. Some of its solvers malloc and free scratch inside every
/// `fftw(f)_execute`: Rader's and Bluestein's algorithms for large primes (`dft-rader`,
/// `dft-bluestein`) and the buffered generic solvers (`dftw-genericbuf`, `dft-buffered`).
/// Codelets and the stack-buffered `dft-generic` do not. Which solver a factor gets is the
/// estimate planner's choice, and in 3.3.10 it comes out as:
/// - n ≤ 2^17 (131072): allocation-free when every prime factor of n/2 is 2, 3, 5, 7, 11, 13,
///   17, 19, 23, 29, 31 or 43. Every other prime, 37 and 41 included, goes to Rader or Bluestein.
///   43 is the odd one: the estimate for Rader over 42 = 2·3·7 points comes out dearer than the
///   O(p²) generic loop, so `dft-generic-43` is used.
/// - n > 2^17: allocation-free when every prime factor of n/2 is 2, 3, 5 or 7. Above 2^17 the
///   planner splits with a radix near √(n/2); a radix it has no twiddle codelet for (FFTW has
///   them for 2–10, 12, 15, 16, 20, 25, 32 and 64) goes to `dftw-genericbuf`, which allocates.
///   From 132496 = 2·2³·7²·13² on, sizes that pass the first rule start to allocate (35 of the
///   2,388 from 131074 to 262144, 198 of the 7,760 from 262146 to 2^20); with only 2, 3, 5 and 7
///   every radix has a twiddle codelet, and none of those sizes allocates.
///
/// Measured with `scripts/fft-size-sweep` (meltap-bench under Tools/rtguard; Debian's FFTW
/// 3.3.10 with its SSE2/AVX codelets, on x86-64 with AVX), float32 (`fftwf`) and float64
/// (`fftw`) alike: of the 2,041 even n from 16 to 4096, the 1,315 that allocate are exactly those
/// this rule refuses, and every one of the 5,966 sizes it accepts up to 2^20 executes with no heap
/// call. Planned without SIMD codelets (`FFTW_NO_SIMD`: as an FFTW built without
/// `--enable-sse2/avx/neon` for the machine, or a precision it has none for, plans), fewer sizes
/// allocate, and none the rule accepts up to 2^19; above that, 26 it accepts do, 2^20 among them
/// (the buffered solvers again). `realtimeLengthLimit` keeps live use below them. Another FFTW
/// version, build or CPU family may choose differently: re-run the sweep there. The lengths
/// `RealFFT` plans from its compiled-in wisdom (`FFTWisdom`: 256, 400, 512, 1024, 2048) get
/// other plans than the estimate's; all of them are powers of two or 400 and execute with no
/// heap call in both precisions (the sweep covers them).
/// `MeltapCLITests/FFTSizeSweepTests` runs every even size from 16 to 4096 in CI.
extension RealFFT {
    /// Primes of n/2 that FFTW 3.3.10 transforms without heap calls when n ≤ `largeLengthBound`.
    public static let allocationFreePrimes: Set<Int> = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 43]

    /// Above this length only `allocationFreePrimesAboveBound` are allocation-free (see above).
    public static let largeLengthBound = 1 << 17

    /// Primes of n/2 that keep n > `largeLengthBound` allocation-free: those with twiddle codelets.
    public static let allocationFreePrimesAboveBound: Set<Int> = [2, 3, 5, 7]

    /// The longest n_fft `MelConfiguration.checkRealtimeSafe()` accepts: 2^19 (10.9 s at 48 kHz).
    /// Every length up to it that `isAllocationFree` accepts was measured allocation-free with and
    /// without SIMD codelets; above it, some are not without them (see above).
    public static let realtimeLengthLimit = 1 << 19

    /// The even lengths `MelConfiguration.validate()` accepts for n_fft.
    public static let supportedLengths = 16...(1 << 20)

    /// The largest prime factor of n/2 that makes FFTW allocate on every execute, or nil when
    /// an n-point real FFT executes without heap calls. `length` must be even and at least 2.
    public static func allocatingPrimeFactor(length: Int) -> Int? {
        precondition(length >= 2 && length % 2 == 0, "real-FFT lengths here are even; got \(length)")
        let allowed = length > largeLengthBound ? allocationFreePrimesAboveBound : allocationFreePrimes
        var rest = length / 2, allocating: Int?
        var p = 2
        while p * p <= rest {
            if rest % p == 0 {
                if !allowed.contains(p) { allocating = p }
                while rest % p == 0 { rest /= p }
            }
            p += p == 2 ? 1 : 2
        }
        if rest > 1, !allowed.contains(rest) { allocating = rest }
        return allocating
    }

    /// Whether `fftwf_execute` / `fftw_execute` of `RealFFT(length:precision:)`'s plan makes no
    /// heap calls: true when every prime factor of n/2 is in `allocationFreePrimes` (n up to
    /// `largeLengthBound`) or `allocationFreePrimesAboveBound` (longer n).
    /// Odd lengths (which n_fft never is) return false.
    public static func isAllocationFree(length: Int) -> Bool {
        length >= 2 && length % 2 == 0 && allocatingPrimeFactor(length: length) == nil
    }

    /// The nearest allocation-free even lengths strictly below and above `length`, within
    /// `range` (by default every length n_fft may have); nil on a side where there is none.
    public static func nearestAllocationFreeLengths(around length: Int, in range: ClosedRange<Int> = supportedLengths)
        -> (below: Int?, above: Int?) {
        let lowest = range.lowerBound, highest = range.upperBound
        var below: Int?, above: Int?
        // Start from the even neighbours inside the supported range, so odd or out-of-range
        // lengths still get an answer.
        var n = min(length - 1, highest) & ~1
        while n >= lowest {
            if isAllocationFree(length: n) { below = n; break }
            n -= 2
        }
        n = max(length + 1, lowest)
        n += n & 1
        while n <= highest {
            if isAllocationFree(length: n) { above = n; break }
            n += 2
        }
        return (below, above)
    }
}
