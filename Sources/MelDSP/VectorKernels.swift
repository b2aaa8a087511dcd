import CVectorMath

// Loops the compiler does not vectorise by itself, written with SIMD8 so that they give the same
// bits as the scalar loops they replace.

extension Math {
    /// x[i] = factor · x[i] for i < count, and the largest of the new values (−∞ for count 0).
    ///
    /// Same bits as `for i in 0..<count { x[i] = factor * x[i]; m = max(m, x[i]) }`: the
    /// products are the same IEEE float multiplications, and the maximum of a set does not depend
    /// on the order it is taken in, with two exceptions that do not change a caller that only
    /// subtracts a non-zero distance from it: +0 and −0 (either may come out) — and NaN, which
    /// both forms skip (`Swift.max(m, v)` keeps m when v is NaN, and so does the lane-wise
    /// `replace(with: v, where: lanes .< v)`; the accumulator starts at −∞ and is never NaN).
    ///
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    @inline(__always)
    static func scaleInPlaceReturningMaximum(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) -> Float {
        var lanes = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * factor
            UnsafeMutableRawPointer(x + i).storeBytes(of: v, as: SIMD8<Float>.self)
            lanes.replace(with: v, where: lanes .< v)   // pointwiseMax, which -O does not inline
            i += 8
        }
        var maximum = lanes.max()
        while i < count {
            let v = factor * x[i]
            x[i] = v
            maximum = max(maximum, v)
            i += 1
        }
        return maximum
    }

    /// The largest of x[0 ..< count] (−∞ for count 0), with the caveats of
    /// `scaleInPlaceReturningMaximum` (±0, NaN skipped).
    @inline(__always)
    static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            lanes.replace(with: v, where: lanes .< v)
            i += 8
        }
        var maximum = lanes.max()
        while i < count {
            maximum = max(maximum, x[i])
            i += 1
        }
        return maximum
    }
}

/// The index of the first NaN or infinity in `samples`, or nil when every sample is finite
/// (`meltap_first_nonfinite_f32`: the exponent bits, 64 samples at a time).
public func firstNonFiniteIndex(_ samples: UnsafeBufferPointer<Float>) -> Int? {
    guard let base = samples.baseAddress, !samples.isEmpty else { return nil }
    let index = meltap_first_nonfinite_f32(base, samples.count)
    return index < 0 ? nil : index
}
