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
        let n = Double(length)
        switch kind {
        case .hann:
            // scipy general_cosine: 0.5 + 0.5·cos(linspace(−π, π, n+1))[:n], linspace as numpy
            // evaluates it (k·step + start), so the float64 values match bit for bit.
            return scipyCosineFactors(length).map { Float(0.5 + 0.5 * cos($0)) }
        case .hannFloat32:
            let step = Float(2.0 * Double.pi / n)
            return (0..<length).map { k in cosf(Float(k) * step) * -0.5 + 0.5 }
        case .hamming:
            return scipyCosineFactors(length).map { Float(0.54 + 0.46 * cos($0)) }
        case .povey:
            let a = 2 * Double.pi / (n - 1)
            return (0..<length).map { k in Float(pow(0.5 - 0.5 * cos(a * Double(k)), 0.85)) }
        case .rectangular:
            return [Float](repeating: 1, count: length)
        }
    }

    /// numpy `linspace(-π, π, n + 1)[:n]`: k·(2π/n) − π.
    private static func scipyCosineFactors(_ n: Int) -> [Double] {
        let step = (Double.pi - -Double.pi) / Double(n)
        return (0..<n).map { Double($0) * step + -Double.pi }
    }
}
