import CVectorMath
import Glibc

/// Energy, mel filterbank and square root of the TFLite-Micro frontend (`filterbank.c`), bit
/// for bit (`docs/micro.md`, stages 4–6).
///
/// - Energy: re² + im² as uint32, for bins `start_index ..< end_index` (5 ..< 241) only.
/// - Filterbank: 41 accumulators in uint64; accumulator c sums weight·E over its own bins and
///   unweight·E over accumulator c − 1's bins. Output channel j is accumulator j + 1.
/// - Square root: rounded to nearest, then shifted right by the block-floating shift; values
///   below 2^32 take the C's 32-bit path, whose result is capped at 0xFFFF.
///
/// `applyAVX2` computes the same integers with the AVX2 kernel of
/// Sources/CVectorMath/micro_kernels.c, from `MicroFFT.forwardAVX2`'s paired bins.
///
/// Owns its buffers (freed by `deallocate()`); `apply` is real-time safe. A struct of pointers.
struct MicroFilterbank {
    /// The sparse channels (41), as three parallel arrays.
    private let firstBin: UnsafeMutablePointer<Int>
    private let weightStart: UnsafeMutablePointer<Int>
    private let width: UnsafeMutablePointer<Int>
    /// Q12 weights and unweights, as uint64 so the multiply-accumulate needs no conversion.
    private let weights: UnsafeMutablePointer<UInt64>
    private let unweights: UnsafeMutablePointer<UInt64>
    /// Energy of bins 0 ..< 257; bins outside `energyBins` stay 0 (their weights are 0 too).
    private let energy: UnsafeMutablePointer<UInt32>
    private let energyStart: Int
    private let energyEnd: Int
    /// The 41 accumulators, uint64 (`state->work`).
    private let work: UnsafeMutablePointer<UInt64>
    /// The weights and unweights as uint32, the AVX2 kernel's layout (pmuludq reads 32 bits).
    private let narrowWeights: UnsafeMutablePointer<UInt32>
    private let narrowUnweights: UnsafeMutablePointer<UInt32>

    init(tables: MicroTables) {
        let count = tables.channels.count
        firstBin = .allocate(capacity: count)
        weightStart = .allocate(capacity: count)
        width = .allocate(capacity: count)
        for (i, channel) in tables.channels.enumerated() {
            firstBin[i] = channel.firstBin
            weightStart[i] = channel.weightStart
            width[i] = channel.width
        }
        weights = .allocate(capacity: tables.weights.count)
        unweights = .allocate(capacity: tables.unweights.count)
        for i in tables.weights.indices {
            weights[i] = UInt64(tables.weights[i])
            unweights[i] = UInt64(tables.unweights[i])
        }
        energy = .allocate(capacity: MicroFFT.binCount)
        energy.initialize(repeating: 0, count: MicroFFT.binCount)
        energyStart = tables.energyBins.lowerBound
        energyEnd = tables.energyBins.upperBound
        work = .allocate(capacity: count)
        work.initialize(repeating: 0, count: count)
        narrowWeights = .allocate(capacity: tables.weights.count)
        narrowUnweights = .allocate(capacity: tables.unweights.count)
        for i in tables.weights.indices {
            narrowWeights[i] = UInt32(tables.weights[i])
            narrowUnweights[i] = UInt32(tables.unweights[i])
        }
        // The AVX2 square root converts accumulators to double exactly, which needs every
        // accumulator below 2^52: at most Σ (weight + unweight) over its bins times 2^31 (the
        // largest energy).
        var previousUnweights = 0
        for channel in tables.channels {
            let range = channel.weightStart..<channel.weightStart + channel.width
            let weightSum = range.reduce(0) { $0 + Int(tables.weights[$1]) }
            precondition((weightSum + previousUnweights) << 31 < 1 << 52,
                         "micro filterbank: an accumulator could reach 2^52; the AVX2 square root would be inexact")
            previousUnweights = range.reduce(0) { $0 + Int(tables.unweights[$1]) }
        }
    }

    /// Frees the buffers. The owner calls this exactly once.
    func deallocate() {
        firstBin.deallocate()
        weightStart.deallocate()
        width.deallocate()
        weights.deallocate()
        unweights.deallocate()
        energy.deallocate()
        work.deallocate()
        narrowWeights.deallocate()
        narrowUnweights.deallocate()
    }

    /// `apply` on `MicroFFT.forwardAVX2`'s bins (`pairs`, 257 complex int16 pairs), by the AVX2
    /// kernel. Only on a CPU with AVX2.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func applyAVX2(pairs: UnsafePointer<UInt32>, shift: Int, into signal: UnsafeMutablePointer<UInt32>) {
        _unsafePerformance {  // C: no allocation, locks or system calls
            meltap_micro_filterbank_avx2(pairs, energy, energyStart, energyEnd, firstBin, weightStart, width,
                                         narrowWeights, narrowUnweights, MicroParameters.channelCount + 1,
                                         work, Int32(truncatingIfNeeded: shift), signal)
        }
    }

    /// The 40 channel magnitudes of one FFT (`binRe`/`binIm`, 257 bins) into `signal`, scaled
    /// back down by the block-floating `shift`.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func apply(binRe: UnsafePointer<Int16>, binIm: UnsafePointer<Int16>, shift: Int,
               into signal: UnsafeMutablePointer<UInt32>) {
        // FilterbankConvertFftComplexToEnergy: the products in int32, their sum as uint32
        // (re = im = −32768 gives exactly 2^31).
        let e = energy
        for k in energyStart..<energyEnd {
            let re = Int32(binRe[k]), im = Int32(binIm[k])
            e[k] = UInt32(bitPattern: re &* re) &+ UInt32(bitPattern: im &* im)
        }
        // FilterbankAccumulateChannels.
        var weighted: UInt64 = 0, unweighted: UInt64 = 0
        for c in 0..<MicroParameters.channelCount + 1 {
            let bins = e + firstBin[c], w = weights + weightStart[c], u = unweights + weightStart[c]
            for j in 0..<width[c] {
                let value = UInt64(bins[j])
                weighted &+= w[j] &* value
                unweighted &+= u[j] &* value
            }
            work[c] = weighted
            weighted = unweighted
            unweighted = 0
        }
        // FilterbankSqrt: output channel j is accumulator j + 1.
        let s = UInt32(truncatingIfNeeded: shift)
        for j in 0..<MicroParameters.channelCount {
            signal[j] = Self.roundedSquareRoot(work[j &+ 1]) >> s
        }
    }

    /// `Sqrt64`: ⌊√n⌋, plus one when n − ⌊√n⌋² > ⌊√n⌋ (so rounded to nearest), unless the result
    /// is already 0xFFFF on the 32-bit path (n < 2^32, `Sqrt32`) or 0xFFFFFFFF on the 64-bit one.
    /// Computed with a double square root and an exact integer correction; the C's bit-by-bit
    /// loop yields the same floor and remainder.
    @_noAllocation @_noLocks
    @inline(__always)
    static func roundedSquareRoot(_ n: UInt64) -> UInt32 {
        let cap: UInt64 = n >> 32 == 0 ? 0xFFFF : 0xFFFF_FFFF
        // The double root is within one of ⌊√n⌋ (exact below 2^52); the loops make it exact.
        let root = _unsafePerformance { Glibc.sqrt(Double(n)) }  // glibc's sqrt: no allocation or locks
        var r = UInt64(min(root, 4_294_967_295))
        while r &* r > n { r &-= 1 }
        while r < 0xFFFF_FFFF && (r &+ 1) &* (r &+ 1) <= n { r &+= 1 }
        if n &- r &* r > r && r != cap { r &+= 1 }
        return UInt32(truncatingIfNeeded: r)
    }
}
