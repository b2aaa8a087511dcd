import CFFTW
import CVectorMath
import Glibc

/// The float pipeline's per-frame computer: window → FFT → power → mel → output stage, for
/// one frame of `frameLength` samples (librosa, torchaudio, Whisper and Kaldi styles).
/// `MelAnalyzer` is the streaming driver that hands it frames.
///
/// Owns its output stage, freed by `deallocate()`; the FFTW plan, the tables and the scratch
/// belong to the `FrameWorkspace` the owner keeps alive (shared by the channels of a stream).
/// `compute` is real-time safe. A struct of pointers and scalars, so calling it from the
/// realtime path involves no reference counting.
struct FloatFrameComputer {
    /// Values per frame: the output stage's width, plus the energy column with `useEnergy`.
    let width: Int
    /// Frame length F: n_fft (librosa style) or win_length (Kaldi style), in samples.
    private let frameLength: Int
    private let binCount: Int
    private let melBandCount: Int
    /// Kaldi per-frame processing (DC removal, energy, pre-emphasis, window at frame start).
    private let kaldiStyle: Bool
    /// Kaldi: the input scale (32768), `remove_dc_offset`, `preemph_coeff`, `use_energy`.
    private let inputScale: Float
    private let removeDCOffset: Bool
    private let preemphasis: Float
    private let useEnergy: Bool

    /// The window (length win_length), times the input scale for librosa style, and the same in
    /// float64 for double-precision FFTs. The workspace's.
    private let window: UnsafeMutablePointer<Float>
    private let windowDouble: UnsafeMutablePointer<Double>
    private let windowLength: Int
    /// Offset of the window inside the FFT input (centred for librosa style, 0 for Kaldi).
    private let windowOffset: Int
    /// n_fft/2 + 1 power (or magnitude) bins, then three zeros. The workspace's scratch.
    private let spectrum: UnsafeMutablePointer<Float>
    /// n_mels mel values before the output stage. The workspace's scratch.
    private let melBands: UnsafeMutablePointer<Float>
    /// The sparse mel bank (see `FrameWorkspace`). The workspace's.
    private let bankFirstBin: UnsafeMutablePointer<Int>
    private let bankSpan: UnsafeMutablePointer<Int>
    private let bankWeights: UnsafeMutablePointer<Float>

    /// The FFTW plan, bound to the FFT buffers below; the workspace's.
    private let fftPlan: OpaquePointer
    private let doublePrecision: Bool
    /// power = 1: magnitudes instead of powers.
    private let magnitudeOnly: Bool
    /// Spectrogram outputs: the output stage reads the n_fft/2 + 1 bins, no mel bank.
    private let linearSpectrum: Bool
    /// Single-precision FFT buffers (Kaldi style always uses these).
    private let fftInput: UnsafeMutablePointer<Float>
    private let fftOutput: UnsafeMutablePointer<Float>
    /// Double-precision FFT buffers (a one-element stand-in in single precision).
    private let fftInputDouble: UnsafeMutablePointer<Double>
    private let fftOutputDouble: UnsafeMutablePointer<Double>
    private let outputStage: OutputStage
    /// The AVX2 kernels of frame_kernels.c instead of the Swift loops (same bits), chosen
    /// once here by `FrameKernels.avx2Available()`.
    private let avx2: Bool

    /// The FFT precision `configuration` runs: Kaldi style always transforms in float32.
    static func fftPrecision(_ c: MelConfiguration) -> FFTPrecision {
        c.fftPrecision == .double && c.filterbank != .kaldi ? .double : .single
    }

    /// Builds the computer for a valid configuration that is not micro, with `workspace`'s plan,
    /// tables and scratch (built for exactly `c`); the owner keeps the workspace alive.
    init(configuration c: MelConfiguration, clampRule: ClampRule, workspace: FrameWorkspace) {
        precondition(workspace.configuration == c, "the frame workspace was built for another configuration")
        frameLength = c.frameLength
        binCount = c.fftLength / 2 + 1
        melBandCount = c.melBandCount
        kaldiStyle = c.filterbank == .kaldi
        inputScale = c.inputScale
        removeDCOffset = c.removeDCOffset
        preemphasis = c.preemphasis
        useEnergy = c.useEnergy

        windowLength = c.windowLength
        windowOffset = kaldiStyle ? 0 : (c.fftLength - c.windowLength) / 2
        window = workspace.window
        windowDouble = workspace.windowDouble
        spectrum = workspace.spectrum
        melBands = workspace.melBands
        bankFirstBin = workspace.bankFirstBin
        bankSpan = workspace.bankSpan
        bankWeights = workspace.bankWeights

        magnitudeOnly = c.power == 1
        linearSpectrum = c.output.isLinearSpectrum
        let fft = workspace.fft
        doublePrecision = fft.precision == .double
        fftPlan = fft.plan
        fftInput = fft.inputSingle ?? workspace.unusedSingle
        fftOutput = fft.outputSingle ?? workspace.unusedSingle
        fftInputDouble = fft.inputDouble ?? workspace.unusedDouble
        fftOutputDouble = fft.outputDouble ?? workspace.unusedDouble
        outputStage = OutputStage(configuration: c, clampRule: clampRule)
        avx2 = FrameKernels.avx2Available()
        width = outputStage.width + (c.useEnergy ? 1 : 0)
    }

    /// Frees the output stage (the workspace frees the rest). The owner calls this exactly once.
    func deallocate() {
        outputStage.deallocate()
    }

    /// Forgets the output stage's state (running maximum, PCEN smoother).
    func reset() { outputStage.reset() }

    /// Window → FFT → power → mel → output stage for the F samples at `samples`, `width` values
    /// into `frame`. One function per step keeps each loop's code generation independent of the
    /// others.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func compute(_ samples: UnsafePointer<Float>, into frame: UnsafeMutablePointer<Float>) {
        var logEnergy: Float = 0
        if kaldiStyle {
            logEnergy = prepareKaldiFrame(samples)
        } else if doublePrecision {
            windowFrameDouble(samples)
        } else {
            windowFrame(samples)
        }
        if doublePrecision { powerSpectrumDouble() } else { powerSpectrum() }
        if !linearSpectrum { applyMelBank() }
        let bands = linearSpectrum ? spectrum : melBands
        if useEnergy {
            frame[0] = logEnergy
            outputStage.apply(bands, into: frame + 1)
        } else {
            outputStage.apply(bands, into: frame)
        }
    }

    /// librosa / torchaudio / Whisper: the window (times the input scale) into the centre of
    /// the float32 FFT input; the zero padding around it never changes.
    @_noAllocation @_noLocks
    @inline(never)
    private func windowFrame(_ samples: UnsafePointer<Float>) {
        // Offset pointers first: keeps the loop free of overflow checks, so it vectorises.
        let source = samples + windowOffset, destination = fftInput + windowOffset, w = window
        if avx2 {
            _unsafePerformance { meltap_multiply_f32_avx2(source, w, destination, windowLength) }
        } else {
            Math.multiply(source, w, into: destination, count: windowLength)
        }
    }

    /// librosa: float32 frame × float64 window into the float64 FFT input.
    @_noAllocation @_noLocks
    @inline(never)
    private func windowFrameDouble(_ samples: UnsafePointer<Float>) {
        let source = samples + windowOffset, destination = fftInputDouble + windowOffset, w = windowDouble
        for i in 0..<windowLength { destination[i] = Double(source[i]) * w[i] }
    }

    /// Kaldi (kaldi-native-fbank's order): scale, remove the DC offset, raw log energy,
    /// pre-emphasis, window, into the float32 FFT input (zero-padded at the end). Returns
    /// ln(max(energy, FLT_EPSILON)), or 0 without `useEnergy`.
    ///
    /// The mean and the energy are summed in four interleaved partial sums so the loops
    /// vectorise; kaldi-native-fbank sums serially, so they differ from it in the last bits of
    /// the mean (a relative 1e-7, far inside the 2e-3 tolerance on log values).
    @_noAllocation @_noLocks
    @inline(never)
    private func prepareKaldiFrame(_ samples: UnsafePointer<Float>) -> Float {
        let energy: Float
        if avx2 {
            energy = _unsafePerformance {
                meltap_kaldi_prepare_f32_avx2(samples, fftInput, frameLength, inputScale, removeDCOffset ? 1 : 0,
                                              useEnergy ? 1 : 0, preemphasis, window)
            }
        } else {
            energy = Math.prepareKaldiFrame(samples, into: fftInput, count: frameLength, scale: inputScale,
                                            removeDCOffset: removeDCOffset, useEnergy: useEnergy,
                                            preemphasis: preemphasis, window: window)
        }
        guard useEnergy else { return 0 }
        let floored = max(energy, Float.ulpOfOne)
        return _unsafePerformance { logf(floored) }
    }

    /// |X|² (or |X|) of the float32 FFT output into `spectrum`.
    @_noAllocation @_noLocks
    @inline(never)
    private func powerSpectrum() {
        let plan = fftPlan
        _unsafePerformance { fftwf_execute(plan) }
        let bins = fftOutput, out = spectrum
        if magnitudeOnly {
            for k in 0..<binCount {
                let re = bins[2 * k], im = bins[2 * k + 1]
                out[k] = _unsafePerformance { sqrtf(re * re + im * im) }
            }
        } else if avx2 {
            _unsafePerformance { meltap_power_spectrum_f32_avx2(bins, out, binCount) }
        } else {
            Math.powerSpectrum(bins, into: out, count: binCount)
        }
    }

    /// The float64 FFT, its bins rounded to complex64 (as librosa's STFT output), then |X|² or |X|.
    @_noAllocation @_noLocks
    @inline(never)
    private func powerSpectrumDouble() {
        let plan = fftPlan
        _unsafePerformance { fftw_execute(plan) }
        let bins = fftOutputDouble, out = spectrum
        if magnitudeOnly {
            for k in 0..<binCount {
                let re = Float(bins[2 * k]), im = Float(bins[2 * k + 1])
                out[k] = _unsafePerformance { sqrtf(re * re + im * im) }
            }
        } else {
            for k in 0..<binCount {
                let re = Float(bins[2 * k]), im = Float(bins[2 * k + 1])
                out[k] = re * re + im * im
            }
        }
    }

    /// The sparse mel bank (`Math.melBank`, or its AVX2 variant): melBands[b] =
    /// Σⱼ weight[b, j]·spectrum[first[b] + j].
    @_noAllocation @_noLocks
    @inline(never)
    private func applyMelBank() {
        if avx2 {
            _unsafePerformance {
                meltap_mel_bank_f32_avx2(spectrum, bankFirstBin, bankSpan, bankWeights, melBands, melBandCount)
            }
        } else {
            Math.melBank(spectrum, first: bankFirstBin, span: bankSpan, weights: bankWeights,
                         into: melBands, bands: melBandCount)
        }
    }
}
