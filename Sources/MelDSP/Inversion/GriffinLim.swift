import CFFTW
import Glibc
import MelSystem

/// Phase reconstruction from a magnitude spectrogram: the "fast" Griffin-Lim algorithm
/// (Perraudin, Balazs & Søndergaard, "A fast Griffin-Lim algorithm", 2013) as
/// `librosa.griffinlim` runs it: random initial phases, then `iterations` rounds of
/// ISTFT → STFT with momentum 0.99, then a last ISTFT.
///
/// The STFT is the configuration's own: n_fft, hop, window (zero-padded and centred to n_fft),
/// centred framing with zero (librosa) or reflect (torchaudio, Whisper) padding, or none. The
/// ISTFT overlap-adds the windowed inverse FFTs and divides by the window's sum of squares
/// where that is above float32's smallest normal (librosa `istft`), then trims the centring
/// padding. Single-precision FFTW (`FFTW_ESTIMATE`, deterministic), one thread.
///
/// Deterministic: the initial phases come from SplitMix64 seeded with `seed`.
public struct GriffinLim: Sendable {
    public let configuration: MelConfiguration
    public let iterations: Int
    public let momentum: Float
    public let seed: UInt64

    public init(configuration: MelConfiguration, iterations: Int = 32, momentum: Float = 0.99, seed: UInt64 = 0) {
        self.configuration = configuration
        self.iterations = iterations
        self.momentum = momentum
        self.seed = seed
    }

    /// Samples the ISTFT of `frameCount` frames yields: hop·(frames − 1) with centred framing
    /// (librosa's `length=None`), n_fft + hop·(frames − 1) without.
    public func sampleCount(frameCount t: Int) -> Int {
        let c = configuration
        let centred = c.framing == .centerZero || c.framing == .centerReflect
        return max(0, centred ? c.hopLength * (t - 1) : c.fftLength + c.hopLength * (t - 1))
    }

    /// Audio whose STFT magnitude approximates `magnitudes` (frames × (n_fft/2 + 1), row-major).
    /// - Parameter progress: called after each iteration with (done, total).
    public func reconstruct(_ magnitudes: [Float], progress: (Int, Int) -> Void = { _, _ in }) -> [Float] {
        let c = configuration
        let n = c.fftLength, hop = c.hopLength, k = n / 2 + 1
        let frames = magnitudes.count / k
        guard frames > 0 else { return [] }
        let centred = c.framing == .centerZero || c.framing == .centerReflect
        let pad = centred ? n / 2 : 0
        let length = sampleCount(frameCount: frames)
        let padded = n + hop * (frames - 1)           // the OLA buffer: the padded signal

        // The window, zero-padded and centred to n_fft (librosa `pad_center`).
        var window = [Float](repeating: 0, count: n)
        let w = Window.make(c.window, length: c.windowLength), offset = (n - c.windowLength) / 2
        for i in 0..<c.windowLength { window[offset + i] = w[i] }
        // 1 / Σ w² over the frames covering each padded sample, 1 where that sum is ~0.
        var inverseWindowSum = [Float](repeating: 0, count: padded)
        for t in 0..<frames { for i in 0..<n { inverseWindowSum[t * hop + i] += window[i] * window[i] } }
        for j in 0..<padded {
            inverseWindowSum[j] = inverseWindowSum[j] > Float.leastNormalMagnitude ? 1 / inverseWindowSum[j] : 1
        }

        // FFTW buffers and plans (deterministic FFTW_ESTIMATE), freed at the end.
        let real = fftwf_alloc_real(n)!, complex = fftwf_alloc_complex(k)!
        let bins = UnsafeMutableRawPointer(complex).bindMemory(to: Float.self, capacity: 2 * k)
        let (forward, inverse) = RealFFT.plannerLock.withLock { _ in
            (UncheckedFFTWPlan(fftwf_plan_dft_r2c_1d(Int32(n), real, complex, UInt32(FFTW_ESTIMATE))!),
             UncheckedFFTWPlan(fftwf_plan_dft_c2r_1d(Int32(n), complex, real, UInt32(FFTW_ESTIMATE))!))
        }
        defer {
            RealFFT.plannerLock.withLock { _ in
                fftwf_destroy_plan(forward.plan)
                fftwf_destroy_plan(inverse.plan)
            }
            fftwf_free(real)
            fftwf_free(complex)
        }

        // Working buffers, owned here and freed on return: phases as unit complex numbers
        // interleaved (re, im), the last STFT (librosa's tprev), the padded signal.
        let count = frames * k
        let angles = UnsafeMutablePointer<Float>.allocate(capacity: 2 * count)
        let previous = UnsafeMutablePointer<Float>.allocate(capacity: 2 * count)
        let signal = UnsafeMutablePointer<Float>.allocate(capacity: padded)
        let magnitude = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let windowPointer = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let normaliser = UnsafeMutablePointer<Float>.allocate(capacity: padded)
        defer {
            angles.deallocate(); previous.deallocate(); signal.deallocate()
            magnitude.deallocate(); windowPointer.deallocate(); normaliser.deallocate()
        }
        previous.initialize(repeating: 0, count: 2 * count)
        for i in 0..<count { magnitude[i] = magnitudes[i] }
        for i in 0..<n { windowPointer[i] = window[i] }
        for j in 0..<padded { normaliser[j] = inverseWindowSum[j] }
        var random = SplitMix64(seed: seed)
        for i in 0..<count {
            let phase = 2 * Double.pi * random.nextUnit()
            angles[2 * i] = Float(cos(phase))
            angles[2 * i + 1] = Float(sin(phase))
        }
        let scale = 1 / Float(n)                                       // FFTW's c2r is unnormalised
        let reflectPadding = c.framing == .centerReflect

        /// signal = ISTFT(magnitudes · angles), before trimming (padded positions).
        func inverseSTFT() {
            signal.update(repeating: 0, count: padded)
            for t in 0..<frames {
                let m = magnitude + t * k, a = angles + 2 * t * k
                for b in 0..<k {
                    bins[2 * b] = m[b] * a[2 * b]
                    bins[2 * b + 1] = m[b] * a[2 * b + 1]
                }
                fftwf_execute(inverse.plan)
                let out = signal + t * hop
                for i in 0..<n { out[i] += real[i] * scale * windowPointer[i] }
            }
            for j in 0..<padded { signal[j] *= normaliser[j] }
            // The padding positions are not signal: rebuild them as the analysis pads.
            if centred {
                for j in 0..<pad {
                    signal[j] = reflectPadding ? signal[reflect(j - pad, length) + pad] : 0
                    let right = pad + length + j
                    if right < padded { signal[right] = reflectPadding ? signal[reflect(length + j, length) + pad] : 0 }
                }
            }
        }

        let beta = momentum / (1 + momentum)
        for iteration in 0..<iterations {
            inverseSTFT()
            // STFT of the rebuilt signal; angles = rebuilt − β·previous, normalised.
            let keep: Float = iteration > 0 ? beta : 0
            for t in 0..<frames {
                let source = signal + t * hop
                for i in 0..<n { real[i] = source[i] * windowPointer[i] }
                fftwf_execute(forward.plan)
                let a = angles + 2 * t * k, p = previous + 2 * t * k
                for b in 0..<k {
                    let re = bins[2 * b], im = bins[2 * b + 1]
                    let ar = re - keep * p[2 * b], ai = im - keep * p[2 * b + 1]
                    p[2 * b] = re
                    p[2 * b + 1] = im
                    let norm = (ar * ar + ai * ai).squareRoot() + Float.leastNormalMagnitude
                    a[2 * b] = ar / norm
                    a[2 * b + 1] = ai / norm
                }
            }
            progress(iteration + 1, iterations)
        }
        inverseSTFT()
        return Array(UnsafeBufferPointer(start: signal + pad, count: length))
    }

    /// Reflect padding's index (edge not repeated) into a signal of `n` samples.
    private func reflect(_ s: Int, _ n: Int) -> Int {
        guard n > 1 else { return 0 }
        var j = s
        while j < 0 || j >= n { j = j < 0 ? -j : 2 * n - 2 - j }
        return j
    }
}

/// Carries an FFTW plan pointer across the planner lock; used only by the function that made it.
struct UncheckedFFTWPlan: @unchecked Sendable {
    let plan: OpaquePointer
    init(_ plan: OpaquePointer) { self.plan = plan }
}
