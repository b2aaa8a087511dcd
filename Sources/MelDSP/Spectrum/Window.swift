import Glibc

/// Analysis windows, as the references compute them.
public enum Window {
    /// The window of `kind` with `length` samples.
    ///
    /// - periodic Hann / Hamming: `scipy.signal.get_window(..., fftbins=True)` in float64, rounded
    ///   to float32 (librosa).
    /// - `hannFloat32`: `torch.hann_window(n)` evaluated in float32: 0.5 − 0.5·cos(k·f32(2π/n)).
    /// - Povey (Kaldi): (0.5 − 0.5·cos(2πn/(L−1)))^0.85 in float64, stored as float32.
    public static func make(_ kind: WindowKind, length: Int) -> [Float] {
        if kind == .hannFloat32 {
            let step = Float(2.0 * Double.pi / Double(length))
            return (0..<length).map { k in cosf(Float(k) * step) * -0.5 + 0.5 }
        }
        return makeDouble(kind, length: length).map { Float($0) }
    }

    /// The float64 window (librosa multiplies frames by it before a float64 FFT).
    /// `hannFloat32` gives its float32 values widened.
    public static func makeDouble(_ kind: WindowKind, length: Int) -> [Double] {
        let n = Double(length)
        switch kind {
        case .hann:
            // scipy general_cosine: 0.5 + 0.5·cos(linspace(−π, π, n+1))[:n], linspace as numpy
            // evaluates it (k·step + start), so the float64 values match bit for bit.
            return scipyCosineFactors(length).map { 0.5 + 0.5 * cos($0) }
        case .hannFloat32:
            return make(.hannFloat32, length: length).map { Double($0) }
        case .hamming:
            return scipyCosineFactors(length).map { 0.54 + 0.46 * cos($0) }
        case .povey:
            let a = 2 * Double.pi / (n - 1)
            return (0..<length).map { k in pow(0.5 - 0.5 * cos(a * Double(k)), 0.85) }
        case .rectangular:
            return [Double](repeating: 1, count: length)
        }
    }

    /// numpy `linspace(-π, π, n + 1)[:n]`: k·(2π/n) − π.
    private static func scipyCosineFactors(_ n: Int) -> [Double] {
        let step = (Double.pi - -Double.pi) / Double(n)
        return (0..<n).map { Double($0) * step + -Double.pi }
    }
}
