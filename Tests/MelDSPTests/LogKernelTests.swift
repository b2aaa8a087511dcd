import CVectorMath
import Glibc
@testable import MelDSP
import Testing

/// The eight-lane AVX2 log and the Whisper kernels of Sources/CVectorMath/log_kernels.c against
/// the paths they replace, bit for bit: `Math.logInPlace` (glibc libmvec's four lanes, then logf)
/// on a strided sweep over all 2³² float bit patterns, and OutputStage's scalar Whisper steps on
/// every length from 0 to 67 plus 80 and 128 bands. The quick CI form of
/// scripts/check-log-kernel, which compares all 2³² inputs (about a minute). Skipped, saying so,
/// on a CPU without AVX2 (the kernels never run there).
@Suite(.enabled(if: meltap_avx2_kernels_available() != 0, "this CPU has no AVX2 (or MELTAP_KERNELS=baseline)"))
struct LogKernelTests {
    /// meltap enables the kernel only when this start-up check passes; on a glibc whose libmvec
    /// computes otherwise it falls back (same bits, slower), and this test says so.
    @Test func startUpCheckAcceptsThisLibmvec() {
        #expect(meltap_log_avx2_matches_libmvec() != 0,
                "the AVX2 log differs from this glibc's libmvec on the start-up inputs: meltap uses libmvec's four lanes here; run scripts/check-log-kernel and compare log_kernels.c with glibc's svml_s_logf4_core_sse4.S")
    }

    /// Every 251st bit pattern from a varying start (prime stride: every exponent, both signs,
    /// NaNs, infinities, subnormals and mantissas across each binade), 17 million inputs, in
    /// chunks of 65 539 (not a multiple of 8 or 4, so both tails run).
    @Test func logEqualsLibmvecOnAStridedSweep() {
        let chunk = 65_539
        let input = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
        let mine = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
        let theirs = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
        defer { input.deallocate(); mine.deallocate(); theirs.deallocate() }
        var bits: UInt64 = 7
        var differing = 0, checked = 0
        var firstDifference: UInt32?
        while bits < 1 << 32 {
            var n = 0
            while n < chunk && bits < 1 << 32 {
                input[n] = Float(bitPattern: UInt32(bits))
                bits += 251
                n += 1
            }
            theirs.update(from: input, count: n)
            Math.logInPlace(theirs, count: n)
            meltap_log_f32_avx2(input, mine, n)
            for i in 0..<n where mine[i].bitPattern != theirs[i].bitPattern {
                differing += 1
                if firstDifference == nil { firstDifference = input[i].bitPattern }
            }
            checked += n
        }
        #expect(checked > 17_000_000)
        #expect(differing == 0, "\(differing) of \(checked) inputs differ, the first at bit pattern \(String(firstDifference ?? 0, radix: 16))")
    }

    /// Band values as the mel bank gives them (positive powers over many decades), with zeros,
    /// values under Whisper's 1e-10 floor, NaN, +∞, −0 and subnormals mixed in when `special`.
    static func bands(_ count: Int, seed: UInt32, special: Bool) -> [Float] {
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
                case 5: return 3e-11
                default: break
                }
            }
            let exponent = Float(state >> 8) / Float(1 << 24) * 24 - 14  // 1e-14 … 1e10
            return Float(pow(10, Double(exponent)))
        }
    }

    /// `meltap_whisper_log10_f32_avx2` against OutputStage's scalar Whisper steps: clamp at the
    /// floor with Swift's `max`, `Math.logInPlace`, times log10(e) with the frame's maximum.
    @Test(arguments: [false, true])
    func whisperLogEqualsTheScalarSteps(special: Bool) {
        for count in Array(0...67) + [80, 128] {
            let bands = Self.bands(count, seed: UInt32(count) &+ 3, special: special)
            var expected = bands.map { max($0, 1e-10) }
            let expectedMaximum = expected.withUnsafeMutableBufferPointer { out -> Float in
                guard let base = out.baseAddress else { return -.infinity }
                Math.logInPlace(base, count: count)
                return Math.scaleInPlaceReturningMaximum(base, count: count, by: Math.log10OfE)
            }
            var observed = [Float](repeating: 1, count: count)
            let observedMaximum = meltap_whisper_log10_f32_avx2(bands, &observed, count, 1e-10, Math.log10OfE)
            #expect(observed.map(\.bitPattern) == expected.map(\.bitPattern), "count \(count)")
            #expect(observedMaximum.bitPattern == expectedMaximum.bitPattern, "count \(count): maximum")
            // In place, as OutputStage may call it.
            var inPlace = bands
            _ = inPlace.withUnsafeMutableBufferPointer {
                meltap_whisper_log10_f32_avx2($0.baseAddress, $0.baseAddress, count, 1e-10, Math.log10OfE)
            }
            #expect(inPlace.map(\.bitPattern) == expected.map(\.bitPattern), "count \(count): in place")
        }
    }

    /// `meltap_whisper_clamp_scale_f32_avx2` against (max(x, floor) + 4) / 4, OutputStage's running
    /// step and OfflineFinisher's loop.
    @Test(arguments: [false, true])
    func whisperClampScaleEqualsTheSwiftLoop(special: Bool) {
        for count in Array(0...67) + [80, 128] {
            // log10 values around Whisper's range (−14 … 10), the specials kept as they are.
            let values = Self.bands(count, seed: UInt32(count) &+ 41, special: special)
                .map { $0 > 0 && $0.isFinite ? Float(log10(Double($0))) : $0 }
            for floor: Float in [-10, -2.5, 0, 3.25] {
                let expected = values.map { (max($0, floor) + 4) / 4 }
                var observed = values
                observed.withUnsafeMutableBufferPointer { meltap_whisper_clamp_scale_f32_avx2($0.baseAddress, count, floor) }
                #expect(observed.map(\.bitPattern) == expected.map(\.bitPattern), "count \(count), floor \(floor)")
            }
        }
    }
}
