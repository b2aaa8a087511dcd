@testable import MelDSP
import Testing

/// The SIMD8 kernels of VectorKernels.swift against the scalar loops they replaced, bit for bit,
/// on every length from 1 to 67 (so every tail length runs) and on values that include NaN and
/// both zeros.
@Suite struct VectorKernelTests {
    /// Seeded values in about ±100, with NaN, +0 and −0 mixed in when `special` is set.
    static func values(_ count: Int, seed: UInt32, special: Bool) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            if special {
                switch state >> 28 {
                case 0: return .nan
                case 1: return 0
                case 2: return -0.0
                default: break
                }
            }
            return (Float(state >> 8) / Float(1 << 24) - 0.5) * 200
        }
    }

    @Test(arguments: [false, true])
    func scaleAndMaximumEqualTheScalarLoop(special: Bool) {
        for count in 1...67 {
            let input = Self.values(count, seed: UInt32(count) &+ 7, special: special)
            var expected = input
            var expectedMaximum = -Float.infinity
            for i in 0..<count {
                let v = Math.log10OfE * expected[i]
                expected[i] = v
                expectedMaximum = max(expectedMaximum, v)
            }
            var observed = input
            let observedMaximum = observed.withUnsafeMutableBufferPointer {
                Math.scaleInPlaceReturningMaximum($0.baseAddress!, count: count, by: Math.log10OfE)
            }
            #expect(observed.map(\.bitPattern) == expected.map(\.bitPattern), "count \(count): scaled values differ")
            // Equal as numbers (the sign of a zero maximum may differ, see the kernel's doc).
            #expect(observedMaximum == expectedMaximum, "count \(count): maximum \(observedMaximum), scalar \(expectedMaximum)")
            #expect(observedMaximum.isNaN == false)

            var scalarMaximum = -Float.infinity
            for v in input { scalarMaximum = max(scalarMaximum, v) }
            let simdMaximum = input.withUnsafeBufferPointer { Math.maximum($0.baseAddress!, count: count) }
            #expect(simdMaximum == scalarMaximum, "count \(count): maximum \(simdMaximum), scalar \(scalarMaximum)")
        }
    }
}
