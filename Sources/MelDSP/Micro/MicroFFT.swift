import CVectorMath

/// The 512-point real FFT of the TFLite-Micro frontend: kissfft's `kiss_fftr` built with
/// `FIXED_POINT=16` (Mark Borgerding's KISS FFT, as vendored by TensorFlow), bit for bit.
///
/// The 512 reals are packed as 256 complex values, transformed by four levels of radix-4
/// butterflies (kissfft factors 256 as 4·4·4·4), then split into 257 bins by the real-FFT
/// post-pass. Fixed-point rules (`docs/micro.md`, stage 3):
/// - every butterfly first scales its four inputs by `(v·8191 + 2^14) >> 15` (`C_FIXDIV(c, 4)`);
/// - a twiddle product is `(a·c − b·d + 2^14) >> 15`, `(a·d + b·c + 2^14) >> 15` (`C_MUL`);
/// - every sum is stored into int16 with two's-complement wrap (`&+`, `&-` here);
/// - the post-pass scales by 16383 (`C_FIXDIV(c, 2)`) and halves with an arithmetic shift.
/// kissfft recurses depth-first; every butterfly reads only its own block, so running the levels
/// bottom-up over the digit-reversed input gives the same integers.
///
/// `forwardAVX2` computes the same integers with the AVX2 kernel of
/// Sources/CVectorMath/micro_kernels.c (eight butterflies per instruction), into `pairBins`.
///
/// Owns its buffers (freed by `deallocate()`); `forward` is real-time safe. A struct of pointers,
/// so the real-time path does no reference counting.
struct MicroFFT {
    /// Complex points of the inner FFT (n_fft/2).
    static let pointCount = 256
    /// Bins of the real FFT (n_fft/2 + 1).
    static let binCount = 257

    /// kissfft twiddles, Q15, 256 each: floor(0.5 + 32767·cos(−2πi/256)) and the sine.
    private let twiddleRe: UnsafeMutablePointer<Int32>
    private let twiddleIm: UnsafeMutablePointer<Int32>
    /// kiss_fftr's super twiddles, Q15, 128 each.
    private let superRe: UnsafeMutablePointer<Int32>
    private let superIm: UnsafeMutablePointer<Int32>
    /// Base-4 digit reversal: inner-FFT position p reads packed input point `reversal[p]`.
    private let reversal: UnsafeMutablePointer<Int>
    /// The inner 256-point complex FFT, in place, int16 (kissfft's `tmpbuf`).
    private let workRe: UnsafeMutablePointer<Int16>
    private let workIm: UnsafeMutablePointer<Int16>
    /// The 257 output bins, int16 (kissfft's `freqdata`). Read after `forward`.
    let binRe: UnsafeMutablePointer<Int16>
    let binIm: UnsafeMutablePointer<Int16>
    /// The AVX2 kernel's twiddles (pmaddwd layout), its in-place work (256 complex int16 pairs,
    /// real part in the low half) and its 257 output bins in the same layout. Read `pairBins`
    /// after `forwardAVX2`.
    private let plan: UnsafeMutablePointer<meltap_micro_fft_plan>
    private let pairWork: UnsafeMutablePointer<UInt32>
    let pairBins: UnsafeMutablePointer<UInt32>

    init(tables: MicroTables) {
        let n = MicroFFT.pointCount
        twiddleRe = .allocate(capacity: n)
        twiddleIm = .allocate(capacity: n)
        for i in 0..<n {
            twiddleRe[i] = Int32(tables.twiddles[i].re)
            twiddleIm[i] = Int32(tables.twiddles[i].im)
        }
        superRe = .allocate(capacity: n / 2)
        superIm = .allocate(capacity: n / 2)
        for i in 0..<n / 2 {
            superRe[i] = Int32(tables.superTwiddles[i].re)
            superIm[i] = Int32(tables.superTwiddles[i].im)
        }
        reversal = .allocate(capacity: n)
        for p in 0..<n {
            // p = 64·d0 + 16·d1 + 4·d2 + d3 reads point d0 + 4·d1 + 16·d2 + 64·d3.
            reversal[p] = (p >> 6) | ((p >> 4) & 3) << 2 | ((p >> 2) & 3) << 4 | (p & 3) << 6
        }
        workRe = .allocate(capacity: n)
        workIm = .allocate(capacity: n)
        workRe.initialize(repeating: 0, count: n)
        workIm.initialize(repeating: 0, count: n)
        binRe = .allocate(capacity: MicroFFT.binCount)
        binIm = .allocate(capacity: MicroFFT.binCount)
        binRe.initialize(repeating: 0, count: MicroFFT.binCount)
        binIm.initialize(repeating: 0, count: MicroFFT.binCount)
        plan = .allocate(capacity: 1)
        plan.initialize(to: meltap_micro_fft_plan())
        meltap_micro_fft_plan_make(tables.twiddles.map(\.re), tables.twiddles.map(\.im),
                                   tables.superTwiddles.map(\.re), tables.superTwiddles.map(\.im), plan)
        pairWork = .allocate(capacity: n)
        pairWork.initialize(repeating: 0, count: n)
        pairBins = .allocate(capacity: MicroFFT.binCount)
        pairBins.initialize(repeating: 0, count: MicroFFT.binCount)
    }

    /// Frees the buffers. The owner calls this exactly once.
    func deallocate() {
        twiddleRe.deallocate()
        twiddleIm.deallocate()
        superRe.deallocate()
        superIm.deallocate()
        reversal.deallocate()
        workRe.deallocate()
        workIm.deallocate()
        binRe.deallocate()
        binIm.deallocate()
        plan.deallocate()
        pairWork.deallocate()
        pairBins.deallocate()
    }

    /// `(v·k + 2^14) >> 15` stored as int16: kissfft's `DIVSCALAR` with k = 32767/divisor.
    @inline(__always)
    private static func scaled(_ v: Int16, by k: Int32) -> Int16 {
        Int16(truncatingIfNeeded: (Int32(v) &* k &+ 16384) >> 15)
    }

    /// `sround(a·c − b·d)`, the real part of a Q15 complex product, stored as int16.
    @inline(__always)
    private static func productRe(_ a: Int16, _ b: Int16, _ c: Int32, _ d: Int32) -> Int16 {
        Int16(truncatingIfNeeded: (Int32(a) &* c &- Int32(b) &* d &+ 16384) >> 15)
    }

    /// `sround(a·d + b·c)`, the imaginary part.
    @inline(__always)
    private static func productIm(_ a: Int16, _ b: Int16, _ c: Int32, _ d: Int32) -> Int16 {
        Int16(truncatingIfNeeded: (Int32(a) &* d &+ Int32(b) &* c &+ 16384) >> 15)
    }

    /// `kiss_fftr` of 512 int16 samples at `input` into `binRe`/`binIm` (257 bins).
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func forward(_ input: UnsafePointer<Int16>) {
        let re = workRe, im = workIm
        // Leaf level of kf_work: the packed points (x[2j], x[2j + 1]) in digit-reversed order.
        for p in 0..<MicroFFT.pointCount {
            let j = reversal[p]
            re[p] = input[2 &* j]
            im[p] = input[2 &* j &+ 1]
        }
        // kf_bfly4 at each level, innermost (m = 1, twiddle stride 64) to outermost (m = 64).
        var m = 1
        while m < MicroFFT.pointCount {
            butterflies(m: m, stride: 64 / m)
            m &*= 4
        }
        postProcess()
    }

    /// `forward`'s bins, computed by the AVX2 kernel, into `pairBins` (257 pairs: real part in
    /// the low 16 bits, imaginary in the high). Only on a CPU with AVX2.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func forwardAVX2(_ input: UnsafePointer<Int16>) {
        _unsafePerformance { meltap_micro_fft_avx2(input, plan, pairWork, pairBins) }  // C: no allocation or locks
    }

    /// One level of radix-4 butterflies over blocks of 4m points (`kf_bfly4`, forward).
    @_noAllocation @_noLocks
    @inline(__always)
    private func butterflies(m: Int, stride: Int) {
        let re = workRe, im = workIm, twRe = twiddleRe, twIm = twiddleIm
        var block = 0
        while block < MicroFFT.pointCount {
            for k in 0..<m {
                let i0 = block &+ k, i1 = i0 &+ m, i2 = i1 &+ m, i3 = i2 &+ m
                let t1 = k &* stride, t2 = 2 &* t1, t3 = 3 &* t1
                // C_FIXDIV(·, 4) on the four inputs.
                let f0r = Self.scaled(re[i0], by: 8191), f0i = Self.scaled(im[i0], by: 8191)
                let f1r = Self.scaled(re[i1], by: 8191), f1i = Self.scaled(im[i1], by: 8191)
                let f2r = Self.scaled(re[i2], by: 8191), f2i = Self.scaled(im[i2], by: 8191)
                let f3r = Self.scaled(re[i3], by: 8191), f3i = Self.scaled(im[i3], by: 8191)
                // scratch[0…2]: the twiddled inputs.
                let s0r = Self.productRe(f1r, f1i, twRe[t1], twIm[t1]), s0i = Self.productIm(f1r, f1i, twRe[t1], twIm[t1])
                let s1r = Self.productRe(f2r, f2i, twRe[t2], twIm[t2]), s1i = Self.productIm(f2r, f2i, twRe[t2], twIm[t2])
                let s2r = Self.productRe(f3r, f3i, twRe[t3], twIm[t3]), s2i = Self.productIm(f3r, f3i, twRe[t3], twIm[t3])
                let s5r = f0r &- s1r, s5i = f0i &- s1i
                let g0r = f0r &+ s1r, g0i = f0i &+ s1i
                let s3r = s0r &+ s2r, s3i = s0i &+ s2i
                let s4r = s0r &- s2r, s4i = s0i &- s2i
                re[i2] = g0r &- s3r; im[i2] = g0i &- s3i
                re[i0] = g0r &+ s3r; im[i0] = g0i &+ s3i
                re[i1] = s5r &+ s4i; im[i1] = s5i &- s4r
                re[i3] = s5r &- s4i; im[i3] = s5i &+ s4r
            }
            block &+= 4 &* m
        }
    }

    /// kiss_fftr's split of the 256 complex points into 257 real-FFT bins.
    @_noAllocation @_noLocks
    @inline(__always)
    private func postProcess() {
        let re = workRe, im = workIm, outRe = binRe, outIm = binIm
        let n = MicroFFT.pointCount
        let dcr = Self.scaled(re[0], by: 16383), dci = Self.scaled(im[0], by: 16383)
        outRe[0] = dcr &+ dci
        outRe[n] = dcr &- dci
        outIm[0] = 0
        outIm[n] = 0
        for k in 1...(n / 2) {
            let pkr = Self.scaled(re[k], by: 16383), pki = Self.scaled(im[k], by: 16383)
            let pnkr = Self.scaled(re[n &- k], by: 16383), pnki = Self.scaled(0 &- im[n &- k], by: 16383)
            let f1r = pkr &+ pnkr, f1i = pki &+ pnki
            let f2r = pkr &- pnkr, f2i = pki &- pnki
            let twr = Self.productRe(f2r, f2i, superRe[k &- 1], superIm[k &- 1])
            let twi = Self.productIm(f2r, f2i, superRe[k &- 1], superIm[k &- 1])
            // HALF_OF: the sum in int, halved, stored as int16. At k = 128 the second write wins.
            outRe[k] = Int16(truncatingIfNeeded: (Int32(f1r) &+ Int32(twr)) >> 1)
            outIm[k] = Int16(truncatingIfNeeded: (Int32(f1i) &+ Int32(twi)) >> 1)
            outRe[n &- k] = Int16(truncatingIfNeeded: (Int32(f1r) &- Int32(twr)) >> 1)
            outIm[n &- k] = Int16(truncatingIfNeeded: (Int32(twi) &- Int32(f1i)) >> 1)
        }
    }
}
