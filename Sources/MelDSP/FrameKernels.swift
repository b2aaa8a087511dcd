import CVectorMath

// The per-frame loops of FloatFrameComputer that have AVX2 variants in
// Sources/CVectorMath/frame_kernels.c. These Swift loops are the baseline (the build targets
// baseline x86-64: SSE2, four lanes); the C variants give the same bits eight lanes at a time
// and are used when `FrameKernels.avx2Available()` says so. Tests/MelDSPTests/FrameKernelTests.swift
// compares the two bit for bit. Every function here is real-time safe: no allocation, locks or
// system calls.

/// Which kernel set `FloatFrameComputer` runs, fixed when it is configured.
enum FrameKernels {
    /// AVX2 when the CPU has it and `MELTAP_KERNELS=baseline` is not set. Reads the
    /// environment (getenv): evaluate at configuration time only, never on the realtime thread
    /// (the computer stores the result).
    static func avx2Available() -> Bool { meltap_avx2_kernels_available() != 0 }

    /// The eight-lane log of log_kernels.c: with the AVX2 kernels, when it equals this host's
    /// libmvec `_ZGVbN4v_logf` on the check inputs (another glibc may change the algorithm;
    /// scripts/check-log-kernel compares all 2³² floats). Configuration time only, as above.
    static func avx2LogAvailable() -> Bool { avx2Available() && logMatches }

    /// The check runs once per process (about 0.1 ms).
    private static let logMatches = meltap_log_avx2_matches_libmvec() != 0
}

extension Math {
    /// out[i] = x[i] · w[i] for i < count.
    @_noAllocation @_noLocks
    @inline(__always)
    static func multiply(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                         into out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { out[i] = x[i] * w[i] }
    }

    /// out[k] = re² + im² of the interleaved complex bins (re, im) = (bins[2k], bins[2k + 1]).
    @_noAllocation @_noLocks
    @inline(__always)
    static func powerSpectrum(_ bins: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        for k in 0..<count {
            let re = bins[2 * k], im = bins[2 * k + 1]
            out[k] = re * re + im * im
        }
    }

    /// The sparse mel bank: out[b] = Σⱼ weights[offset_b + j] · spectrum[first[b] + j] for
    /// j < span[b] (offset_b: the sum of the earlier spans). Spans are multiples of four (padded
    /// with zero weights), so each band is whole four-lane steps with interleaved partial sums:
    /// the product vectorises and has no scalar tail. Bands of up to three bins sum exactly as a
    /// serial loop would.
    @_noAllocation @_noLocks
    @inline(__always)
    static func melBank(_ spectrum: UnsafePointer<Float>, first: UnsafePointer<Int>, span: UnsafePointer<Int>,
                        weights: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, bands: Int) {
        var weight = weights
        for band in 0..<bands {
            let first = spectrum + first[band], span = span[band]
            // Eight partial sums (two vector registers) halve the add chain of wide bands.
            var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
            var s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
            var j = 0
            while j &+ 8 <= span {
                s0 += weight[j] * first[j]
                s1 += weight[j &+ 1] * first[j &+ 1]
                s2 += weight[j &+ 2] * first[j &+ 2]
                s3 += weight[j &+ 3] * first[j &+ 3]
                s4 += weight[j &+ 4] * first[j &+ 4]
                s5 += weight[j &+ 5] * first[j &+ 5]
                s6 += weight[j &+ 6] * first[j &+ 6]
                s7 += weight[j &+ 7] * first[j &+ 7]
                j &+= 8
            }
            if j < span {  // one last four-lane step (spans are multiples of 4)
                s0 += weight[j] * first[j]
                s1 += weight[j &+ 1] * first[j &+ 1]
                s2 += weight[j &+ 2] * first[j &+ 2]
                s3 += weight[j &+ 3] * first[j &+ 3]
            }
            out[band] = ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7))
            weight += span
        }
    }

    /// Kaldi's frame preparation (kaldi-native-fbank's order) from `samples` into `input`, both
    /// `count` long: scale, remove the DC offset, the raw energy, pre-emphasis and the window.
    /// Returns the energy Σ x² after DC removal (0 without `useEnergy`), unfloored.
    ///
    /// The mean and the energy are summed in four interleaved partial sums so the loops
    /// vectorise; kaldi-native-fbank sums serially, so they differ from it in the last bits of
    /// the mean (a relative 1e-7, far inside the 2e-3 tolerance on log values).
    @_noAllocation @_noLocks
    @inline(__always)
    static func prepareKaldiFrame(_ samples: UnsafePointer<Float>, into input: UnsafeMutablePointer<Float>,
                                  count l: Int, scale: Float, removeDCOffset: Bool, useEnergy: Bool,
                                  preemphasis: Float, window w: UnsafePointer<Float>) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var i = 0
        while i &+ 4 <= l {
            let a = samples[i] * scale, b = samples[i &+ 1] * scale
            let c = samples[i &+ 2] * scale, d = samples[i &+ 3] * scale
            input[i] = a; input[i &+ 1] = b; input[i &+ 2] = c; input[i &+ 3] = d
            s0 += a; s1 += b; s2 += c; s3 += d
            i &+= 4
        }
        while i < l { let a = samples[i] * scale; input[i] = a; s0 += a; i &+= 1 }
        if removeDCOffset {
            let mean = ((s0 + s1) + (s2 + s3)) / Float(l)
            for i in 0..<l { input[i] -= mean }
        }
        var energy: Float = 0
        if useEnergy {
            var e0: Float = 0, e1: Float = 0, e2: Float = 0, e3: Float = 0
            i = 0
            while i &+ 4 <= l {
                let a = input[i], b = input[i &+ 1], c = input[i &+ 2], d = input[i &+ 3]
                e0 += a * a; e1 += b * b; e2 += c * c; e3 += d * d
                i &+= 4
            }
            while i < l { e0 += input[i] * input[i]; i &+= 1 }
            energy = (e0 + e1) + (e2 + e3)
        }
        // Pre-emphasis y[i] = x[i] − c·x[i−1] (y[0] = x[0] − c·x[0]) and the window, in one pass,
        // in place from the end down, so x[i−1] is still unwritten when y[i] needs it: eight
        // samples at a time (SIMD8), the same float operations in the same order as one at a time.
        let c = preemphasis
        let cs = SIMD8<Float>(repeating: c)
        i = l
        while i >= 9 {
            i &-= 8
            let current = UnsafeRawPointer(input + i).loadUnaligned(as: SIMD8<Float>.self)
            let previous = UnsafeRawPointer(input + (i &- 1)).loadUnaligned(as: SIMD8<Float>.self)
            let weights = UnsafeRawPointer(w + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(input + i).storeBytes(of: (current - cs * previous) * weights, as: SIMD8<Float>.self)
        }
        while i > 1 {
            i &-= 1
            input[i] = (input[i] - c * input[i &- 1]) * w[i]
        }
        input[0] = (input[0] - c * input[0]) * w[0]
        return energy
    }
}
