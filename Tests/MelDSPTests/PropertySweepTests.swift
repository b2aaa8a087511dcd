import Glibc
import MelDSP
import Testing

/// One point of the sweep sr × n_fft × n_mels × (fmin, fmax) × scale × norm.
struct SweepPoint: Sendable, CustomStringConvertible {
    var sampleRate: Int
    var fftLength: Int
    var melBandCount: Int
    var minimumFrequency: Double
    var maximumFrequency: Double
    var melScale: MelScale
    var melNorm: MelNorm

    var description: String {
        "sr \(sampleRate) n_fft \(fftLength) n_mels \(melBandCount) fmin \(minimumFrequency) "
            + "fmax \(maximumFrequency) \(melScale) norm \(melNorm)"
    }

    static let sampleRates = [8000, 16000, 22050, 44100, 48000]
    static let fftLengths = [256, 400, 512, 1024, 1200, 2048]
    static let bandCounts = [20, 40, 80, 128]

    /// (fmin, fmax) pairs: full band, (20, sr/2 − 400), and (300, 4000 clipped to sr/2).
    static func ranges(_ sr: Int) -> [(Double, Double)] {
        let nyquist = Double(sr) / 2
        return [(0, nyquist), (20, nyquist - 400), (300, min(4000, nyquist))]
    }

    /// Every `stride`-th point of the full product at one sample rate (288 points), starting at
    /// `offset`. A stride coprime to every axis length (2, 3, 4, 6) visits every value of every axis.
    static func sample(sampleRate sr: Int, stride: Int, offset: Int) -> [SweepPoint] {
        all(sampleRate: sr).enumerated().filter { $0.offset % stride == offset % stride }.map(\.element)
    }

    /// The full product at one sample rate (288 points).
    static func all(sampleRate sr: Int) -> [SweepPoint] {
        var points: [SweepPoint] = []
        for n in fftLengths {
            for m in bandCounts {
                for (lo, hi) in ranges(sr) {
                    for scale in MelScale.allCases {
                        for norm in MelNorm.allCases {
                            points.append(SweepPoint(sampleRate: sr, fftLength: n, melBandCount: m,
                                                     minimumFrequency: lo, maximumFrequency: hi,
                                                     melScale: scale, melNorm: norm))
                        }
                    }
                }
            }
        }
        return points
    }

    /// Resolves this point on top of `preset`, through the command-line path.
    func configuration(_ preset: MelPreset) throws -> MelConfiguration {
        var o = MelOverrides()
        o.fftLength = fftLength
        o.windowLength = fftLength
        o.melBandCount = melBandCount
        o.minimumFrequency = minimumFrequency
        o.maximumFrequency = maximumFrequency
        if preset != .kaldi {   // Kaldi's bank has its own fixed curve and no normalisation
            o.melScale = melScale
            o.melNorm = melNorm
        }
        return try o.resolve(preset: preset, sampleRate: Double(sampleRate))
    }
}

/// The librosa-style bank computed in float64 straight from the formulas of docs/presets.md
/// ("Mel scales", "Triangles in Hz"), independent of `MelFilterbank`.
enum ReferenceMelBank {
    static func mel(_ f: Double, _ scale: MelScale) -> Double {
        switch scale {
        case .htk: return 2595 * log10(1 + f / 700)
        case .slaney: return f < 1000 ? 3 * f / 200 : 15 + log(f / 1000) / (log(6.4) / 27)
        }
    }

    static func hz(_ m: Double, _ scale: MelScale) -> Double {
        switch scale {
        case .htk: return 700 * (pow(10, m / 2595) - 1)
        case .slaney: return m < 15 ? 200 * m / 3 : 1000 * exp((m - 15) * log(6.4) / 27)
        }
    }

    /// M + 2 band edges in Hz, evenly spaced in mel from mel(fmin) to mel(fmax).
    static func edges(_ c: MelConfiguration) -> [Double] {
        let lo = mel(c.minimumFrequency, c.melScale), hi = mel(c.maximumFrequency, c.melScale)
        let m = c.melBandCount
        return (0...(m + 1)).map { hz(lo + (hi - lo) * Double($0) / Double(m + 1), c.melScale) }
    }

    /// Dense (bands × n_fft/2 + 1) weights.
    static func weights(_ c: MelConfiguration) -> [[Double]] {
        let e = edges(c)
        let bins = c.fftLength / 2 + 1
        return (0..<c.melBandCount).map { i in
            (0..<bins).map { k in
                let f = Double(k) * c.sampleRate / Double(c.fftLength)
                let rising = (f - e[i]) / (e[i + 1] - e[i])
                let falling = (e[i + 2] - f) / (e[i + 2] - e[i + 1])
                let w = max(0, min(rising, falling))
                return c.melNorm == .slaney ? w * 2 / (e[i + 2] - e[i]) : w
            }
        }
    }
}

/// Properties every mel filterbank and the analyzer must have, swept over the parameter space.
@Suite struct PropertySweepTests {
    /// Checks the structural properties of the bank `c` builds; returns it for further checks.
    @discardableResult
    static func checkBank(_ c: MelConfiguration, label: String) -> MelFilterbank {
        let bank = MelFilterbank(configuration: c)
        let dense = bank.denseMatrix()
        let binHz = c.sampleRate / Double(c.fftLength)
        #expect(dense.count == c.melBandCount, "\(label): band count")
        var allZero: [Int] = []
        var previousPeak = -1
        var failures = 0
        func fail(_ message: String) {
            failures += 1
            if failures <= 5 { Issue.record("\(label): \(message)") }
        }
        // Band edges for the area bound (float64, from the spec's formulas).
        let edges = c.filterbank == .kaldi ? [] : ReferenceMelBank.edges(c)
        for (band, row) in dense.enumerated() {
            #expect(row.count == c.fftLength / 2 + 1)
            if let bad = row.firstIndex(where: { !($0 >= 0) || !$0.isFinite }) {
                fail("band \(band) bin \(bad) has weight \(row[bad])")
            }
            guard let first = row.firstIndex(where: { $0 != 0 }), let last = row.lastIndex(where: { $0 != 0 }) else {
                allZero.append(band)
                continue
            }
            // Support inside [fmin, fmax], one bin of slack.
            if Double(first) * binHz < c.minimumFrequency - binHz || Double(last) * binHz > c.maximumFrequency + binHz {
                fail("band \(band) covers bins \(first)...\(last) = \(Double(first) * binHz)...\(Double(last) * binHz) Hz, outside [\(c.minimumFrequency), \(c.maximumFrequency)]")
            }
            // Peaks move up with the band index.
            let peak = row.indices.max { row[$0] < row[$1] }!
            if peak < previousPeak { fail("band \(band) peaks at bin \(peak), below the previous band's \(previousPeak)") }
            previousPeak = peak
            if c.melNorm == .none || c.filterbank == .kaldi {
                if row[peak] > 1 { fail("band \(band) peak weight \(row[peak]) > 1 without normalisation") }
            } else {
                // Slaney area norm: band i is a tent of area exactly 1 between edges e[i] and e[i+2].
                // Σ w·Δf over the bins is the trapezoid rule for that tent (the tent is 0 at bin 0 and
                // at Nyquist), exact on each linear piece; at each of the three kinks it errs by at
                // most |slope change|·Δf²/8. So |Σ w·Δf − 1| ≤ (h/L + h/R)·Δf²/4 with h = 2/(e[i+2] − e[i]),
                // L and R the rising and falling widths, plus 1e-5 for float32 weights (and float32
                // edges in the torchaudio style).
                let area = row.reduce(0.0) { $0 + Double($1) } * binHz
                let l = edges[band + 1] - edges[band], r = edges[band + 2] - edges[band + 1]
                let h = 2 / (edges[band + 2] - edges[band])
                let bound = (h / l + h / r) * binHz * binHz / 4 + 1e-5
                if last - first + 1 >= 3 && abs(area - 1) > bound {
                    fail("band \(band) (\(last - first + 1) bins) has area \(area), allowed 1 ± \(bound)")
                }
            }
        }
        // emptyBands is exactly the set of all-zero bands, and the warning names each one.
        #expect(bank.emptyBands == allZero, "\(label): emptyBands \(bank.emptyBands) but all-zero bands \(allZero)")
        #expect(c.emptyBands == allZero, "\(label): configuration.emptyBands")
        if allZero.isEmpty {
            #expect(c.emptyBandWarning == nil, "\(label): warning without empty bands")
        } else if let warning = c.emptyBandWarning {
            let numbers = Set(warning.split { !$0.isNumber }.compactMap { Int($0) })
            #expect(Set(allZero).isSubset(of: numbers), "\(label): warning \(warning) should name \(allZero)")
            #expect(warning.contains("--n-mels") || warning.contains("n_mels"), "\(label): warning should say what to do")
        } else {
            Issue.record("\(label): empty bands \(allZero) but no warning")
        }
        return bank
    }

    /// librosa-style banks over every 5th point of the product (the full product takes about a
    /// minute in a debug build): structural properties and the float64 reference.
    @Test(arguments: SweepPoint.sampleRates)
    func librosaFilterbanks(sampleRate: Int) throws {
        var worst = 0.0, worstLabel = ""
        for point in SweepPoint.sample(sampleRate: sampleRate, stride: 5, offset: sampleRate / 1000) {
            let c = try point.configuration(.librosa)
            let label = "librosa \(point)"
            let bank = Self.checkBank(c, label: label)
            // Against the float64 reference, relative to each band's peak.
            let observed = bank.denseMatrix()
            let reference = ReferenceMelBank.weights(c)
            var pointWorst = 0.0
            for band in 0..<c.melBandCount {
                let peak = max(reference[band].max()!, Double(observed[band].max()!))
                guard peak > 0 else { continue }
                for k in reference[band].indices {
                    pointWorst = max(pointWorst, abs(Double(observed[band][k]) - reference[band][k]) / peak)
                }
            }
            #expect(pointWorst <= 1e-6, "\(label): worst error \(pointWorst) relative to the band peak")
            if pointWorst > worst { (worst, worstLabel) = (pointWorst, label) }
        }
        print("SWEEP librosa bank vs float64 reference at \(sampleRate) Hz: worst \(worst) (\(worstLabel))")
    }

    /// torchaudio-style (float32) and Kaldi-style banks: the same structural properties, every
    /// 7th point of the product.
    @Test(arguments: SweepPoint.sampleRates)
    func torchaudioAndKaldiFilterbanks(sampleRate: Int) throws {
        for point in SweepPoint.sample(sampleRate: sampleRate, stride: 7, offset: sampleRate / 1000) {
            Self.checkBank(try point.configuration(.torchaudio), label: "torchaudio \(point)")
            if point.melNorm == .none {   // scale and norm do not apply to Kaldi: half the points suffice
                Self.checkBank(try point.configuration(.kaldi), label: "kaldi \(point)")
            }
        }
    }

    /// The analyzer on a pure sine at a bin-centred frequency: the loudest band covers it, power
    /// is finite and non-negative, and dB (deferred clamp) is power_to_db of that power with the
    /// clamp at max − top_db. Every 7th point of the product, so every axis value is visited.
    @Test(arguments: SweepPoint.sampleRates)
    func analyzerOnSines(sampleRate: Int) throws {
        var checked = 0
        for point in SweepPoint.sample(sampleRate: sampleRate, stride: 7, offset: sampleRate / 1000) {
            let c = try point.configuration(.librosa)
            let label = "librosa \(point)"
            let bank = MelFilterbank(configuration: c)
            // The widest band (≥ 3 bins) and its peak bin: the sine sits exactly on that bin.
            guard let band = (0..<c.melBandCount).filter({ bank.binSpan[$0] >= 3 })
                .max(by: { bank.binSpan[$0] < bank.binSpan[$1] }) else { continue }
            let row = bank.denseMatrix()[band]
            let bin = row.indices.max { row[$0] < row[$1] }!
            let frequency = Double(bin) * Double(sampleRate) / Double(c.fftLength)
            let samples = (0..<(4 * c.fftLength)).map { Float(0.5 * sin(2 * Double.pi * frequency * Double($0) / Double(sampleRate))) }
            let power = try MelAnalyzer.analyze(samples, configuration: c, clampRule: .deferred, blockLengths: [1000])
            let width = c.melBandCount
            let frames = power.count / width
            #expect(frames == c.frameCount(sampleCount: samples.count), "\(label): frame count")
            #expect(power.allSatisfy { $0.isFinite && $0 >= 0 }, "\(label): power must be finite and ≥ 0")
            // Interior frames only: their n_fft samples are all signal (no zero padding).
            for t in 2..<(frames - 2) {
                let frame = power[(t * width)..<((t + 1) * width)]
                let loudest = frame.indices.max { frame[$0] < frame[$1] }! - t * width
                let first = bank.firstBin[loudest], last = first + bank.binSpan[loudest] - 1
                #expect(first <= bin && bin <= last,
                        "\(label): sine at bin \(bin) (\(frequency) Hz), frame \(t): loudest band \(loudest) covers bins \(first)...\(last)")
            }
            // dB with the deferred (offline) clamp.
            var dbConfiguration = c
            dbConfiguration.output = .db
            dbConfiguration.topDB = 80
            let db = try MelAnalyzer.analyze(samples, configuration: dbConfiguration, clampRule: .deferred,
                                             blockLengths: [1000])
            #expect(db.count == power.count)
            let maximum = db.max()!
            var worst = 0.0
            for (i, value) in db.enumerated() {
                #expect(value <= maximum && value >= maximum - 80, "\(label): dB \(value) outside [max − 80, max]")
                let expected = max(10 * log10(max(1e-10, Double(power[i]))), Double(maximum) - 80)
                worst = max(worst, abs(Double(value) - expected))
            }
            // float32 log10 of values to ~1e9: about 1e-5 dB; 1e-4 leaves room.
            #expect(worst <= 1e-4, "\(label): dB differs from power_to_db(power) by \(worst) dB")
            checked += 1
        }
        #expect(checked >= 20, "only \(checked) sine checks ran")
    }
}
