import Glibc

/// A mel filterbank stored sparse: for each band, the first FFT bin it touches and its weights.
///
/// Built to reproduce one reference exactly (see `FilterbankStyle`):
/// - librosa `filters.mel` (Slaney, "An Efficient Implementation of the Patterson–Holdsworth
///   Auditory Filter Bank", 1998; HTK: Young et al., The HTK Book): Hz-domain triangles
///   between mel-spaced edges, float64 maths, weights rounded to float32 (twice with Slaney norm).
/// - torchaudio `melscale_fbanks`: the same triangles in float32, with torch's `linspace`.
/// - Kaldi `MelBanks`: triangles linear in the mel domain (1127·ln(1 + f/700)), float32,
///   over bins 0 ..< n_fft/2 (the Nyquist bin is never used).
/// - The TFLite-Micro frontend's Q12 bank (micro preset), as floats: see `MicroTables`.
public struct MelFilterbank: Sendable {
    /// `n_mels`.
    public let bandCount: Int
    /// One-sided spectrum length the bank applies to: n_fft/2 + 1 bins.
    public let binCount: Int
    /// First FFT bin of each band (0 for an empty band).
    public let firstBin: [Int]
    /// Number of weights of each band (0 for an empty band).
    public let binSpan: [Int]
    /// All bands' weights, back to back (band i starts at `weightOffset[i]`).
    public let weights: [Float]
    public let weightOffset: [Int]
    /// Bands whose weights are all zero (librosa's "Empty filters detected" warning).
    public let emptyBands: [Int]

    /// Builds the bank `configuration` asks for. The configuration must be valid.
    public init(configuration c: MelConfiguration) {
        let dense: [[Float]]
        var empty: [Int] = []
        switch c.filterbank {
        case .librosa:
            (dense, empty) = MelFilterbank.librosaWeights(c)
        case .torchaudio:
            dense = MelFilterbank.torchaudioWeights(c)
            empty = dense.indices.filter { dense[$0].allSatisfy { $0 == 0 } }
        case .kaldi:
            dense = MelFilterbank.kaldiWeights(c)
            empty = dense.indices.filter { dense[$0].allSatisfy { $0 == 0 } }
        case .micro:
            // The Q12 integer bank as floats, for inspection; MicroFrontend applies the integers.
            dense = MicroTables().denseFilterbank()
            empty = dense.indices.filter { dense[$0].allSatisfy { $0 == 0 } }
        }
        self.init(dense: dense, binCount: c.fftLength / 2 + 1, emptyBands: empty)
    }

    /// Packs dense (bands × bins) weights into first-bin + weights form.
    public init(dense: [[Float]], binCount: Int, emptyBands: [Int]) {
        var first: [Int] = [], span: [Int] = [], offset: [Int] = [], packed: [Float] = []
        for row in dense {
            offset.append(packed.count)
            guard let lo = row.firstIndex(where: { $0 != 0 }), let hi = row.lastIndex(where: { $0 != 0 }) else {
                first.append(0); span.append(0); continue
            }
            first.append(lo)
            span.append(hi - lo + 1)
            packed.append(contentsOf: row[lo...hi])
        }
        bandCount = dense.count
        self.binCount = binCount
        firstBin = first
        binSpan = span
        weights = packed
        weightOffset = offset
        self.emptyBands = emptyBands
    }

    /// The dense (bands × bins) matrix, for tests and inspection.
    public func denseMatrix() -> [[Float]] {
        (0..<bandCount).map { band in
            var row = [Float](repeating: 0, count: binCount)
            for j in 0..<binSpan[band] { row[firstBin[band] + j] = weights[weightOffset[band] + j] }
            return row
        }
    }

    // MARK: - Mel scales

    /// Hz → mel on `scale`, float64 (librosa `hz_to_mel`).
    public static func hzToMel(_ f: Double, scale: MelScale) -> Double {
        switch scale {
        case .htk:
            return 2595.0 * log10(1.0 + f / 700.0)
        case .slaney:
            let fSp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27.0
            return f >= minLogHz ? minLogMel + log(f / minLogHz) / logStep : f / fSp
        }
    }

    /// Mel → Hz on `scale`, float64 (librosa `mel_to_hz`).
    public static func melToHz(_ m: Double, scale: MelScale) -> Double {
        switch scale {
        case .htk:
            return 700.0 * (pow(10.0, m / 2595.0) - 1.0)
        case .slaney:
            let fSp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27.0
            return m >= minLogMel ? minLogHz * exp(logStep * (m - minLogMel)) : fSp * m
        }
    }

    // MARK: - librosa

    private static func librosaWeights(_ c: MelConfiguration) -> ([[Float]], [Int]) {
        let bins = c.fftLength / 2 + 1
        let bands = c.melBandCount
        // np.fft.rfftfreq(n_fft, 1/sr) as librosa's reference writes it.
        let binHz = (0..<bins).map { Double($0) * (1.0 / (Double(c.fftLength) * (1.0 / c.sampleRate))) }
        // np.linspace(mel(fmin), mel(fmax), n_mels + 2): k·step + start, last point exact.
        let melLo = hzToMel(c.minimumFrequency, scale: c.melScale)
        let melHi = hzToMel(c.maximumFrequency, scale: c.melScale)
        let step = (melHi - melLo) / Double(bands + 1)
        var edgesHz = (0..<(bands + 2)).map { melToHz(Double($0) * step + melLo, scale: c.melScale) }
        edgesHz[bands + 1] = melToHz(melHi, scale: c.melScale)
        var dense: [[Float]] = []
        var empty: [Int] = []
        for i in 0..<bands {
            let lowerWidth = edgesHz[i + 1] - edgesHz[i], upperWidth = edgesHz[i + 2] - edgesHz[i + 1]
            let enorm = 2.0 / (edgesHz[i + 2] - edgesHz[i])
            var row = [Float](repeating: 0, count: bins)
            for k in 0..<bins {
                let lower = -(edgesHz[i] - binHz[k]) / lowerWidth
                let upper = (edgesHz[i + 2] - binHz[k]) / upperWidth
                // Rounded to float32 first (librosa's weights array), then scaled in float64.
                let triangle = Float(max(0.0, min(lower, upper)))
                row[k] = c.melNorm == .slaney ? Float(Double(triangle) * enorm) : triangle
            }
            // librosa: empty unless the band's upper edge is 0 Hz.
            if row.allSatisfy({ $0 == 0 }) && edgesHz[i + 2] != 0 { empty.append(i) }
            dense.append(row)
        }
        return (dense, empty)
    }

    // MARK: - torchaudio

    /// ATen CPU `linspace` in float32: the first half steps forward from `start`, the second
    /// half backward from `end`.
    static func torchLinspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
        guard steps > 1 else { return [start] }
        let step = (end - start) / Float(steps - 1)
        return (0..<steps).map { i in
            i < steps / 2 ? start + step * Float(i) : end - step * Float(steps - i - 1)
        }
    }

    private static func torchaudioWeights(_ c: MelConfiguration) -> [[Float]] {
        let bins = c.fftLength / 2 + 1
        let bands = c.melBandCount
        let allFreqs = torchLinspace(0, Float(Int(c.sampleRate) / 2), bins)
        let melLo = hzToMel(c.minimumFrequency, scale: c.melScale)   // python float
        let melHi = hzToMel(c.maximumFrequency, scale: c.melScale)
        let melPoints = torchLinspace(Float(melLo), Float(melHi), bands + 2)
        let edgesHz: [Float] = melPoints.map { m in
            switch c.melScale {
            case .htk: return 700 * (powf(10, m / 2595) - 1)
            case .slaney: return Float(melToHz(Double(m), scale: .slaney))
            }
        }
        var dense = [[Float]](repeating: [Float](repeating: 0, count: bins), count: bands)
        for i in 0..<bands {
            let lowerWidth = edgesHz[i + 1] - edgesHz[i], upperWidth = edgesHz[i + 2] - edgesHz[i + 1]
            let enorm: Float = 2 / (edgesHz[i + 2] - edgesHz[i])
            for k in 0..<bins {
                let down = (-1 * (edgesHz[i] - allFreqs[k])) / lowerWidth
                let up = (edgesHz[i + 2] - allFreqs[k]) / upperWidth
                let w = max(0, min(down, up))
                dense[i][k] = c.melNorm == .slaney ? w * enorm : w
            }
        }
        return dense
    }

    // MARK: - Kaldi

    /// Kaldi's mel curve in float32, as kaldi-native-fbank evaluates it.
    static func kaldiMel(_ f: Float) -> Float { 1127 * logf(1 + f / 700) }

    private static func kaldiWeights(_ c: MelConfiguration) -> [[Float]] {
        let bins = c.fftLength / 2 + 1
        let binWidth = Float(c.sampleRate) / Float(c.fftLength)
        let melLo = kaldiMel(Float(c.minimumFrequency)), melHi = kaldiMel(Float(c.maximumFrequency))
        let delta = (melHi - melLo) / Float(c.melBandCount + 1)
        let binMel = (0..<(c.fftLength / 2)).map { kaldiMel(binWidth * Float($0)) }
        return (0..<c.melBandCount).map { b in
            let left = melLo + Float(b) * delta, center = melLo + Float(b + 1) * delta
            let right = melLo + Float(b + 2) * delta
            var row = [Float](repeating: 0, count: bins)
            for (k, mel) in binMel.enumerated() where mel > left && mel < right {
                row[k] = mel <= center ? (mel - left) / (center - left) : (right - mel) / (right - center)
            }
            return row
        }
    }
}
