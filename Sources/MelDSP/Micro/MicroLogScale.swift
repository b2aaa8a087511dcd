/// The log stage of the TFLite-Micro frontend (`log_scale.c`, `log_lut.c`), bit for bit
/// (`docs/micro.md`, stage 9): out = 64·ln(x << 3) in fixed point, 0 when x << 3 ≤ 1,
/// capped at 65535.
///
/// The logarithm is log2 through a 128-segment correction table with linear interpolation
/// (the method of "Logarithm approximations for fixed-point DSP", SPL 2007, that the C cites),
/// then × ln 2 in Q16 (45426) and scaled by 2^`scale_shift`. Stateless and real-time safe.
enum MicroLogScale {
    /// `kLogLut`: the log2 correction per segment, Q16 (130 entries; 129 are read).
    private static let table: [Int32] = [
        0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797, 2944, 3087,
        3224, 3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714, 4791, 4864,
        4934, 5001, 5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507, 5533, 5557, 5578, 5595,
        5610, 5622, 5631, 5637, 5640, 5641, 5638, 5633, 5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470,
        5439, 5406, 5370, 5332, 5291, 5249, 5203, 5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697, 4630,
        4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848, 3759, 3668, 3575, 3481, 3384, 3286, 3186,
        3084, 2981, 2875, 2768, 2659, 2549, 2437, 2323, 2207, 2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224,
        1094, 963, 830, 695, 559, 421, 282, 142, 0, 0,
    ]

    /// `kLogScaleLog2`, `kLogSegmentsLog2` and `kLogCoeff` (ln 2 in Q16).
    private static let scaleBits: Int32 = 16
    private static let segmentBits: Int32 = 7
    private static let lnTwo: UInt64 = 45426

    /// A copy of the table in owned memory, for the real-time path (no array access, no
    /// reference counting). Freed by the owner with `deallocate()`.
    static func makeTable() -> UnsafeMutablePointer<Int32> {
        let pointer = UnsafeMutablePointer<Int32>.allocate(capacity: table.count)
        for (i, value) in table.enumerated() { pointer[i] = value }
        return pointer
    }

    /// `LogScaleApply` for one value with correction_bits = 3 and scale_shift = 6: the uint16
    /// the frontend outputs for filterbank value `x`. `lut` is `makeTable()`'s copy.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    @inline(__always)
    static func apply(_ x: UInt32, lut: UnsafePointer<Int32>) -> UInt16 {
        let value = x &<< UInt32(MicroParameters.correctionBits)   // uint32: wraps, as the C
        guard value > 1 else { return 0 }
        let logged = log(value, lut: lut)
        return logged < 0xFFFF ? UInt16(truncatingIfNeeded: logged) : 0xFFFF
    }

    /// `Log`: 2^scale_shift·ln(x) in Q0 for x ≥ 2, in the C's uint32/int32 arithmetic.
    @_noAllocation @_noLocks
    @inline(__always)
    private static func log(_ x: UInt32, lut: UnsafePointer<Int32>) -> UInt32 {
        let integer = UInt32(31 &- x.leadingZeroBitCount)          // MostSignificantBit32(x) − 1
        // Log2FractionPart: the bits below the leading one, as a Q16 fraction.
        var fraction = Int32(truncatingIfNeeded: Int64(x) &- (Int64(1) << Int64(integer)))
        if integer < UInt32(scaleBits) {
            fraction <<= Int32(scaleBits) &- Int32(integer)
        } else {
            fraction >>= Int32(integer) &- scaleBits
        }
        let segment = Int(UInt32(bitPattern: fraction) >> UInt32(scaleBits &- segmentBits))
        let segmentUnit = Int32(1) << (scaleBits &- segmentBits)
        let c0 = lut[segment], c1 = lut[segment &+ 1]
        let relative = ((c1 &- c0) &* (fraction &- segmentUnit &* Int32(segment))) >> scaleBits
        let log2Fraction = UInt32(bitPattern: fraction &+ c0 &+ relative)
        let log2 = (integer &<< UInt32(scaleBits)) &+ log2Fraction
        let half: UInt64 = 1 << 15
        let loge = UInt32(truncatingIfNeeded: (lnTwo &* UInt64(log2) &+ half) >> UInt64(scaleBits))
        return ((loge &<< UInt32(MicroParameters.logScaleShift)) &+ UInt32(half)) >> UInt32(scaleBits)
    }
}
