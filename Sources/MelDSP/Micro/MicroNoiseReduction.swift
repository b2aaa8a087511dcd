import CVectorMath

/// Noise reduction and per-channel amplitude normalisation (PCAN) of the TFLite-Micro frontend
/// (`noise_reduction.c`, `pcan_gain_control.c`), bit for bit (`docs/micro.md`,
/// stages 7–8). PCAN is Wang et al., "Trainable Frontend For Robust and Far-Field Keyword
/// Spotting" (ICASSP 2017), in TensorFlow's fixed-point form.
///
/// State: the noise estimate `est[40]`, uint32 in Q10 (`smoothing_bits`), starting at 0 and
/// carried from frame to frame; `reset()` zeroes it. Owns its buffers (freed by
/// `deallocate()`); `apply` is real-time safe. A struct of pointers.
struct MicroNoiseReduction {
    /// est[40]: each channel's smoothed signal, Q10 (`state->estimate`). Internal so tests can
    /// set it to the gain function's edge values.
    let estimate: UnsafeMutablePointer<UInt32>
    /// The 125-entry PCAN gain table, widened to int32.
    private let gainTable: UnsafeMutablePointer<Int32>

    init(tables: MicroTables) {
        estimate = .allocate(capacity: MicroParameters.channelCount)
        estimate.initialize(repeating: 0, count: MicroParameters.channelCount)
        gainTable = .allocate(capacity: tables.pcanGain.count)
        for (i, g) in tables.pcanGain.enumerated() { gainTable[i] = Int32(g) }
        // The AVX2 kernel has these constants built in (micro_kernels.h) and takes whole vectors
        // of eight channels.
        precondition(MicroParameters.evenSmoothing == 409 && MicroParameters.oddSmoothing == 983
                     && MicroParameters.minimumSignalRemaining == 819 && MicroParameters.channelCount % 8 == 0
                     && tables.pcanGain.count == 125,
                     "micro noise reduction: the AVX2 kernel's constants no longer match MicroParameters")
    }

    /// Frees the buffers. The owner calls this exactly once.
    func deallocate() {
        estimate.deallocate()
        gainTable.deallocate()
    }

    /// Forgets the noise estimate (a new stream).
    func reset() {
        estimate.update(repeating: 0, count: MicroParameters.channelCount)
    }

    /// Replaces the 40 channel magnitudes in `signal` by their noise-reduced, gain-normalised
    /// values, updating the noise estimate.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func apply(_ signal: UnsafeMutablePointer<UInt32>) {
        let bits = UInt32(MicroParameters.smoothingBits)
        let one = UInt64(1) << UInt64(MicroParameters.noiseReductionBits)
        let snrShift = UInt64(MicroParameters.pcanGainBits - MicroParameters.correctionBits - MicroParameters.pcanSNRBits)
        for i in 0..<MicroParameters.channelCount {
            // NoiseReductionApply: est = (up·sm + est·(1 − sm)) >> 14, all in Q14 fractions.
            let smoothing = UInt64(i & 1 == 0 ? MicroParameters.evenSmoothing : MicroParameters.oddSmoothing)
            let s = signal[i]
            let scaledUp = s &<< bits                  // uint32: wraps, as the C
            let updated = UInt32(truncatingIfNeeded:
                (UInt64(scaledUp) &* smoothing &+ UInt64(estimate[i]) &* (one &- smoothing)) >> 14)
            estimate[i] = updated
            let floor = UInt32(truncatingIfNeeded: (UInt64(s) &* UInt64(MicroParameters.minimumSignalRemaining)) >> 14)
            let subtracted = (scaledUp &- min(updated, scaledUp)) >> bits
            let reduced = max(subtracted, floor)
            // PcanGainControlApply: the gain looked up on the new estimate (int16 → uint32 as the
            // C converts it), snr = (x·gain) >> 6, then PcanShrink.
            let gain = UInt32(bitPattern: Int32(wideDynamicFunction(updated)))
            let snr = UInt32(truncatingIfNeeded: (UInt64(reduced) &* UInt64(gain)) >> snrShift)
            signal[i] = Self.shrink(snr)
        }
    }

    /// `apply`, by the AVX2 kernel of Sources/CVectorMath/micro_kernels.c (eight channels per
    /// instruction). Only on a CPU with AVX2.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func applyAVX2(_ signal: UnsafeMutablePointer<UInt32>) {
        _unsafePerformance {  // C: no allocation, locks or system calls
            meltap_micro_noise_pcan_avx2(signal, estimate, gainTable, MicroParameters.channelCount)
        }
    }

    /// `WideDynamicFunction`: the gain table's quadratic segment for `x` (one segment per octave).
    @_noAllocation @_noLocks
    @inline(__always)
    private func wideDynamicFunction(_ x: UInt32) -> Int16 {
        if x <= 2 { return Int16(truncatingIfNeeded: gainTable[Int(x)]) }
        let interval = 32 &- x.leadingZeroBitCount   // MostSignificantBit32
        let lut = gainTable + (4 &* interval &- 6)
        let fraction = Int32((interval < 11 ? x &<< UInt32(11 &- interval) : x &>> UInt32(interval &- 11)) & 0x3FF)
        // int32 arithmetic with C's wrap; for this table none of it overflows.
        var result = (lut[2] &* fraction) >> 5
        result &+= Int32(bitPattern: UInt32(bitPattern: lut[1]) &<< 5)
        result &*= fraction
        result = (result &+ (1 << 14)) >> 15
        result &+= lut[0]
        return Int16(truncatingIfNeeded: result)
    }

    /// `PcanShrink`: x²/2^20 below 2·2^12, else x/2^6 − 2^6.
    @_noAllocation @_noLocks
    @inline(__always)
    static func shrink(_ x: UInt32) -> UInt32 {
        let snrBits = UInt32(MicroParameters.pcanSNRBits), outputBits = UInt32(MicroParameters.pcanOutputBits)
        if x < 2 << snrBits { return (x &* x) >> (2 + 2 * snrBits - outputBits) }
        return (x >> (snrBits - outputBits)) &- (1 << outputBits)
    }
}
