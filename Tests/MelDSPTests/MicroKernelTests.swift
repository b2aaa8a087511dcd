import CVectorMath
import Glibc
@testable import MelDSP
import Testing
import MelSystem

/// The micro preset's AVX2 kernels (Sources/CVectorMath/micro_kernels.c) against the Swift
/// loops they stand in for, bit for bit: the FFT, the filterbank and the square root each on
/// random and extreme integers, and whole frontends (window and shift included) on streams of
/// random, silent, full-scale and clipped frames. Integer arithmetic, so any divergence is a
/// mismatch. Skipped, saying so, on a CPU without AVX2 (the kernels never run there).
/// The golden vectors (MicroParityTests) run through whichever path the CPU picks; run them with
/// MELTAP_KERNELS=baseline for the Swift loops.
@Suite(.enabled(if: meltap_avx2_kernels_available() != 0, "this CPU has no AVX2 (or MELTAP_KERNELS=baseline)"))
struct MicroKernelTests {
    static let tables = MicroTables()

    /// FFT inputs (512 int16): random over the whole int16 range, random with a reduced
    /// amplitude, and the extremes: silence, all −32768, all 32767, alternating ±full scale,
    /// an impulse of −32768, and a sawtooth through every value.
    static func fftInputs() -> [(String, [Int16])] {
        var g = SplitMix64(seed: 1)
        var cases: [(String, [Int16])] = []
        for i in 0..<40 { cases.append(("random \(i)", (0..<512).map { _ in g.int16() })) }
        for bits in [1, 4, 9, 14] {
            cases.append(("random ±2^\(bits)", (0..<512).map { _ in Int16(truncatingIfNeeded: g.next()) >> (16 - bits) }))
        }
        cases.append(("silence", [Int16](repeating: 0, count: 512)))
        cases.append(("all −32768", [Int16](repeating: .min, count: 512)))
        cases.append(("all 32767", [Int16](repeating: .max, count: 512)))
        cases.append(("alternating", (0..<512).map { $0 % 2 == 0 ? Int16.max : Int16.min }))
        cases.append(("pairs alternating", (0..<512).map { ($0 / 2) % 2 == 0 ? Int16.min : Int16.max }))
        cases.append(("impulse", (0..<512).map { $0 == 0 ? Int16.min : 0 }))
        cases.append(("sawtooth", (0..<512).map { Int16(truncatingIfNeeded: $0 &* 128 &- 32768) }))
        return cases
    }

    @Test func fftEqualsTheSwiftLoops() {
        let fft = MicroFFT(tables: Self.tables)
        defer { fft.deallocate() }
        var mismatches = 0
        for (name, input) in Self.fftInputs() {
            input.withUnsafeBufferPointer { x in
                fft.forward(x.baseAddress!)
                fft.forwardAVX2(x.baseAddress!)
            }
            for k in 0..<MicroFFT.binCount {
                let pair = fft.pairBins[k]
                let re = Int16(truncatingIfNeeded: pair), im = Int16(truncatingIfNeeded: pair >> 16)
                if re != fft.binRe[k] || im != fft.binIm[k] {
                    mismatches += 1
                    if mismatches <= 5 {
                        Issue.record("\(name), bin \(k): expected (\(fft.binRe[k]), \(fft.binIm[k])), observed (\(re), \(im))")
                    }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func filterbankEqualsTheSwiftLoops() {
        let filterbank = MicroFilterbank(tables: Self.tables)
        defer { filterbank.deallocate() }
        var g = SplitMix64(seed: 2)
        var mismatches = 0
        for trial in 0..<64 {
            // Random bins, then the extremes: every bin −32768 (energy 2^31, the one overflow of
            // re² + im² in int32), every bin 32767, and zero.
            let re: [Int16], im: [Int16]
            switch trial {
            case 0: re = .init(repeating: .min, count: 257); im = re
            case 1: re = .init(repeating: .max, count: 257); im = .init(repeating: .min, count: 257)
            case 2: re = .init(repeating: 0, count: 257); im = re
            default:
                let bits = 1 + trial % 16
                re = (0..<257).map { _ in Int16(truncatingIfNeeded: g.next()) >> (16 - bits) }
                im = (0..<257).map { _ in Int16(truncatingIfNeeded: g.next()) >> (16 - bits) }
            }
            let pairs = (0..<257).map { UInt32(UInt16(bitPattern: re[$0])) | UInt32(UInt16(bitPattern: im[$0])) << 16 }
            let shift = trial % 16
            var expected = [UInt32](repeating: 1, count: 40), observed = [UInt32](repeating: 2, count: 40)
            filterbank.apply(binRe: re, binIm: im, shift: shift, into: &expected)
            filterbank.applyAVX2(pairs: pairs, shift: shift, into: &observed)
            for j in 0..<40 where expected[j] != observed[j] {
                mismatches += 1
                if mismatches <= 5 {
                    Issue.record("trial \(trial), shift \(shift), channel \(j): expected \(expected[j]), observed \(observed[j])")
                }
            }
        }
        #expect(mismatches == 0)
    }

    /// Values around every place the rounded square root can go wrong: r² − 1, r², r² + r,
    /// r² + r + 1 (the rounding edge), around 0xFFFF² and 2^32 (Sqrt32's cap), and random up to 2^52.
    @Test func squareRootEqualsTheSwiftLoop() {
        var g = SplitMix64(seed: 3)
        var values: [UInt64] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, (1 << 52) - 1, (1 << 32) - 1, 1 << 32, (1 << 32) + 1]
        var roots: [UInt64] = [1, 2, 3, 0xFFFE, 0xFFFF, 0x10000, 0x10001, (1 << 26) - 1, 67_108_863]
        for _ in 0..<2000 { roots.append(g.next() % (1 << 26)) }
        for r in roots {
            for n in [r * r &- 1, r * r, r * r + 1, r * r + r - 1, r * r + r, r * r + r + 1, r * r + 2 * r] where n < 1 << 52 {
                values.append(n)
            }
        }
        for _ in 0..<4000 { values.append(g.next() >> 12) }
        for _ in 0..<1000 { values.append(g.next() >> 32) }
        while values.count % 4 != 0 { values.append(0) }
        var mismatches = 0
        for shift in [0, 1, 7, 15] {
            var observed = [UInt32](repeating: 0, count: values.count)
            meltap_micro_sqrt_avx2(values, &observed, values.count, Int32(shift))
            for (i, n) in values.enumerated() {
                let expected = MicroFilterbank.roundedSquareRoot(n) >> UInt32(shift)
                if observed[i] != expected {
                    mismatches += 1
                    if mismatches <= 5 { Issue.record("√\(n) >> \(shift): expected \(expected), observed \(observed[i])") }
                }
            }
        }
        #expect(mismatches == 0)
    }

    /// Noise reduction and PCAN: two estimates fed the same 3000 frames of channel values at
    /// every magnitude (0, 1, 2, 3, powers of two and their neighbours, random values shifted
    /// down by 0…31 bits, 0xFFFFFFFF), so the gain function meets every segment, the ≤ 2 table
    /// entries and estimates ≥ 2^31, and PcanShrink both branches.
    @Test func noiseReductionEqualsTheSwiftLoop() {
        let baseline = MicroNoiseReduction(tables: Self.tables), vector = MicroNoiseReduction(tables: Self.tables)
        defer { baseline.deallocate(); vector.deallocate() }
        var g = SplitMix64(seed: 6)
        var expected = [UInt32](repeating: 0, count: 40), observed = expected
        var mismatches = 0
        for frame in 0..<3000 {
            for j in 0..<40 {
                let r = g.next()
                switch (frame / 100) % 4 {
                case 0: expected[j] = UInt32(truncatingIfNeeded: r) >> UInt32(r >> 59)   // random magnitudes
                case 1: expected[j] = [0, 1, 2, 3, 0xFFFF_FFFF][Int(r % 5)]
                case 2: expected[j] = 0   // set below, with the estimates
                default: expected[j] = UInt32(truncatingIfNeeded: r) >> 16                // the usual range
                }
            }
            if (frame / 100) % 4 == 2 {
                // Estimates chosen so the new estimate (the gain function's input) is exactly an
                // edge: 2^k − 1, 2^k, 2^k + 1 (where a float's exponent rounds up) or 0 … 3. It is
                // (up·sm + est·(2^14 − sm)) >> 14 with up = signal·2^10, so
                // est = ⌈(target·2^14 − up·sm) / (2^14 − sm)⌉; a signal above the
                // estimate makes PCAN's output depend on the gain.
                for j in 0..<40 {
                    let r = g.next(), k = UInt64(r % 33)
                    let target = k == 32 ? (r >> 40) % 4 : (UInt64(1) << k) &+ UInt64(bitPattern: Int64(Int(r >> 32) % 3 - 1))
                    let smoothing = UInt64(j % 2 == 0 ? MicroParameters.evenSmoothing : MicroParameters.oddSmoothing)
                    let remaining = UInt64(1 << 14) - smoothing
                    // A signal well above the estimate, so PCAN's output depends on the gain;
                    // else a small one; else none.
                    let candidates = [min((target >> 10) + (1 << 15) + (r >> 48), (1 << 22) - 1), 21 + (r >> 45) % 4000, 0]
                    let signal = candidates.first { target << 14 >= ($0 << 10) * smoothing }!
                    let value = UInt32((target << 14 - (signal << 10) * smoothing + remaining - 1) / remaining)
                    expected[j] = UInt32(signal)
                    baseline.estimate[j] = value
                    vector.estimate[j] = value
                }
            }
            observed = expected
            baseline.apply(&expected)
            vector.applyAVX2(&observed)
            for j in 0..<40 where expected[j] != observed[j] {
                mismatches += 1
                if mismatches <= 5 { Issue.record("frame \(frame), channel \(j): expected \(expected[j]), observed \(observed[j])") }
            }
        }
        #expect(mismatches == 0)
    }

    /// The log stage on every value below 2^17, powers of two ± 1 up to 2^32 − 1, and random
    /// values: the same floats as MicroLogScale.apply × outputScale.
    @Test func logEqualsTheSwiftLoop() {
        let lut = MicroLogScale.makeTable()
        defer { lut.deallocate() }
        var g = SplitMix64(seed: 7)
        var values = (0..<UInt32(1 << 17)).map { $0 }
        for k in 0..<32 { values += [(1 << k) - 1, 1 << k, (1 << k) + 1].map { UInt32(truncatingIfNeeded: $0) } }
        values += [0xFFFF_FFFF, 0x2000_0000, 0x1FFF_FFFF]
        for _ in 0..<50000 { values.append(UInt32(truncatingIfNeeded: g.next())) }
        for _ in 0..<50000 { values.append(UInt32(truncatingIfNeeded: g.next()) >> UInt32(g.next() % 32)) }
        while values.count % 8 != 0 { values.append(5) }
        var observed = [Float](repeating: -1, count: values.count)
        meltap_micro_log_avx2(values, lut, MicroParameters.outputScale, &observed, values.count)
        var mismatches = 0
        for (i, x) in values.enumerated() {
            let expected = Float(MicroLogScale.apply(x, lut: lut)) * MicroParameters.outputScale
            if expected.bitPattern != observed[i].bitPattern {
                mismatches += 1
                if mismatches <= 5 { Issue.record("log of \(x): expected \(expected), observed \(observed[i])") }
            }
        }
        #expect(mismatches == 0)
    }

    /// The float → int16 rule on ties (k + ½)/32768, the clamp edges, ±∞, NaN, ±0, subnormals
    /// and random values over ±2.
    @Test func int16ConversionEqualsTheSwiftRule() {
        var g = SplitMix64(seed: 5)
        var values: [Float] = [.nan, -.nan, .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
                               1, -1, 32767.5 / 32768, 32766.5 / 32768, -32768.5 / 32768, -32767.5 / 32768, 2, -2,
                               .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0.5 / 32768, -0.5 / 32768, 1.5 / 32768]
        for k in -40000...40000 where k % 7 == 0 { values.append((Float(k) + 0.5) / 32768) }
        for _ in 0..<20000 { values.append((Float(g.next() >> 40) / Float(1 << 24) * 2 - 1) * 2) }
        while values.count % 16 != 0 { values.append(0.25) }
        var observed = [Int16](repeating: 7, count: values.count)
        meltap_micro_int16_avx2(values, &observed, values.count)
        var mismatches = 0
        for (i, x) in values.enumerated() where observed[i] != MicroParameters.int16Sample(x) {
            mismatches += 1
            if mismatches <= 5 { Issue.record("\(x): expected \(MicroParameters.int16Sample(x)), observed \(observed[i])") }
        }
        #expect(mismatches == 0)
    }

    /// Frames as floats: random at several amplitudes, silence, ±1 LSB, full-scale square waves
    /// and DC, clipping (values beyond ±1, ±∞, NaN), a full-scale sine.
    static func frames() -> [(String, [Float])] {
        var g = SplitMix64(seed: 4)
        let n = MicroParameters.windowLength
        func uniform() -> Float { Float(g.next() >> 40) / Float(1 << 24) * 2 - 1 }
        var cases: [(String, [Float])] = []
        for amplitude: Float in [1, 0.5, 1e-2, 1e-3, 1e-4, 3e-5] {
            for i in 0..<6 { cases.append(("random × \(amplitude) #\(i)", (0..<n).map { _ in uniform() * amplitude })) }
        }
        cases.append(("silence", [Float](repeating: 0, count: n)))
        cases.append(("±1 LSB", (0..<n).map { $0 % 3 == 0 ? 1 / 32768 : -1 / 32768 }))
        cases.append(("DC −1", [Float](repeating: -1, count: n)))
        cases.append(("DC +1", [Float](repeating: 1, count: n)))
        cases.append(("square ±1", (0..<n).map { ($0 / 8) % 2 == 0 ? 1 : -1 }))
        cases.append(("alternating ±1", (0..<n).map { $0 % 2 == 0 ? 1 : -1 }))
        cases.append(("clipped ×4", (0..<n).map { _ in uniform() * 4 }))
        cases.append(("infinities and NaN", (0..<n).map { [Float.infinity, -.infinity, .nan, 0.9][$0 % 4] }))
        cases.append(("sine", (0..<n).map { Float(Glibc.sin(Double($0) * 0.3)) }))
        cases.append(("silence again", [Float](repeating: 0, count: n)))
        return cases
    }

    /// Two frontends, the Swift loops and the AVX2 kernels, fed the same stream of frames (so
    /// the noise estimate carries across extremes too), several passes: identical floats.
    @Test func frontendEqualsTheSwiftLoops() {
        let baseline = MicroFrontend(tables: Self.tables, avx2: false)
        let vector = MicroFrontend(tables: Self.tables, avx2: true)
        defer { baseline.deallocate(); vector.deallocate() }
        var expected = [Float](repeating: 1, count: 40), observed = [Float](repeating: 2, count: 40)
        var mismatches = 0, compared = 0
        for pass in 0..<3 {
            for (name, frame) in Self.frames() {
                baseline.compute(frame, into: &expected)
                vector.compute(frame, into: &observed)
                for j in 0..<40 {
                    compared += 1
                    if expected[j].bitPattern != observed[j].bitPattern {
                        mismatches += 1
                        if mismatches <= 5 {
                            Issue.record("pass \(pass), \(name), channel \(j): expected \(expected[j]), observed \(observed[j])")
                        }
                    }
                }
            }
        }
        #expect(compared == 3 * Self.frames().count * 40)
        #expect(mismatches == 0)
    }

    /// The two paths really differ in code: the default frontend on this CPU takes the kernels.
    @Test func defaultFrontendUsesTheKernels() {
        let frontend = MicroFrontend(tables: Self.tables)
        defer { frontend.deallocate() }
        #expect(frontend.avx2)
    }
}

extension SplitMix64 {
    /// 16 random bits as an int16 sample.
    mutating func int16() -> Int16 { Int16(truncatingIfNeeded: next()) }
}
