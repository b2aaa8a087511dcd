import CVectorMath
@testable import MelDSP
import Testing

/// The AVX2 frame kernels (Sources/CVectorMath/frame_kernels.c) against the Swift loops they
/// stand in for (Sources/MelDSP/FrameKernels.swift), bit for bit: every length from 0 to 67 (so
/// every tail runs), values that include NaN, infinities, both zeros and subnormals, and mel banks
/// with spans of 4 to 44 bins. Skipped, saying so, on a CPU without AVX2 (the kernels never run
/// there). The comparison of whole `meltap file` outputs with `MELTAP_KERNELS=baseline` is in
/// docs/performance.md.
@Suite(.enabled(if: meltap_avx2_kernels_available() != 0, "this CPU has no AVX2 (or MELTAP_KERNELS=baseline)"))
struct FrameKernelTests {
    /// The bits compared: every value's bit pattern, but any NaN as the one quiet NaN. IEEE 754
    /// leaves the sign and payload of a NaN an operation returns unspecified, and LLVM does not
    /// keep them across optimisation: it may swap the operands of a commutative `fadd`, and x86
    /// then passes on the other NaN operand (seen in `-O` builds: the Swift loop gave 0xFFC00000
    /// where the kernel gave 0x7FC00000). Every finite value, infinity and zero sign still has to
    /// match bit for bit, and a NaN must stay a NaN.
    static func bits(_ values: [Float]) -> [UInt32] {
        values.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern }
    }

    /// Seeded values spread over ±1e4 (so sums really round), with NaN, ±∞, ±0 and a subnormal
    /// mixed in when `special` is set.
    static func values(_ count: Int, seed: UInt32, special: Bool) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            if special {
                switch state >> 27 {
                case 0: return .nan
                case 1: return .infinity
                case 2: return 0
                case 3: return -0.0
                case 4: return Float.leastNonzeroMagnitude * 3
                default: break
                }
            }
            let unit = Float(state >> 8) / Float(1 << 24) - 0.5
            return unit * unit * unit * 8e4
        }
    }

    @Test(arguments: [false, true])
    func multiplyEqualsTheSwiftLoop(special: Bool) {
        for count in 0...67 {
            let x = Self.values(count, seed: UInt32(count) &+ 1, special: special)
            let w = Self.values(count, seed: UInt32(count) &+ 101, special: special)
            var expected = [Float](repeating: 1, count: count), observed = expected
            Math.multiply(x, w, into: &expected, count: count)
            meltap_multiply_f32_avx2(x, w, &observed, count)
            #expect(Self.bits(observed) == Self.bits(expected), "count \(count)")
        }
    }

    @Test(arguments: [false, true])
    func powerSpectrumEqualsTheSwiftLoop(special: Bool) {
        for count in 0...67 {
            let bins = Self.values(2 * count, seed: UInt32(count) &+ 11, special: special)
            var expected = [Float](repeating: 1, count: count), observed = expected
            Math.powerSpectrum(bins, into: &expected, count: count)
            meltap_power_spectrum_f32_avx2(bins, &observed, count)
            #expect(Self.bits(observed) == Self.bits(expected), "count \(count)")
        }
    }

    /// Random sparse banks: every span a multiple of four from 4 to 44 (both the eight-lane loop
    /// and the last four-lane step run), overlapping bands, the spectrum padded as the computer
    /// pads it.
    @Test(arguments: [false, true])
    func melBankEqualsTheSwiftLoop(special: Bool) {
        for (bands, seed) in [(1, UInt32(3)), (23, 5), (80, 7), (128, 9)] {
            let binCount = 257
            let spectrum = Self.values(binCount + 44, seed: seed, special: special)
            var state = seed &* 977
            var first = [Int](), span = [Int]()
            for _ in 0..<bands {
                state = state &* 1_664_525 &+ 1_013_904_223
                let s = 4 * (1 + Int(state >> 28) % 11)
                first.append(Int(state >> 8) % binCount)
                span.append(s)
            }
            let weights = Self.values(span.reduce(0, +), seed: seed &+ 1, special: false)
            var expected = [Float](repeating: 1, count: bands), observed = expected
            Math.melBank(spectrum, first: first, span: span, weights: weights, into: &expected, bands: bands)
            meltap_mel_bank_f32_avx2(spectrum, first, span, weights, &observed, bands)
            #expect(Self.bits(observed) == Self.bits(expected), "\(bands) bands, seed \(seed)")
        }
    }

    /// Kaldi's preparation on every length from 1 to 67 and the preset's 400 and 480 samples,
    /// with and without DC removal and energy, pre-emphasis 0.97 and 0.
    @Test(arguments: [false, true])
    func kaldiPreparationEqualsTheSwiftLoop(special: Bool) {
        for count in Array(1...67) + [400, 480] {
            let samples = Self.values(count, seed: UInt32(count) &+ 21, special: special)
            let window = Self.values(count, seed: UInt32(count) &+ 31, special: false)
            for (removeDC, useEnergy, preemphasis) in [(true, true, Float(0.97)), (false, true, 0.97),
                                                       (true, false, 0), (false, false, 0.97)] {
                var expected = [Float](repeating: 1, count: count), observed = expected
                let expectedEnergy = Math.prepareKaldiFrame(
                    samples, into: &expected, count: count, scale: 32768, removeDCOffset: removeDC,
                    useEnergy: useEnergy, preemphasis: preemphasis, window: window)
                let observedEnergy = meltap_kaldi_prepare_f32_avx2(
                    samples, &observed, count, 32768, removeDC ? 1 : 0, useEnergy ? 1 : 0, preemphasis, window)
                let label = "count \(count), remove DC \(removeDC), energy \(useEnergy), preemphasis \(preemphasis)"
                #expect(Self.bits(observed) == Self.bits(expected), "\(label): frame")
                #expect(Self.bits([observedEnergy]) == Self.bits([expectedEnergy]), "\(label): energy")
            }
        }
    }
}
