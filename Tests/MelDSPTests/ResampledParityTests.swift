import Foundation
import MelDSP
import MelFiles
import MelResample
import Testing

/// Parity of resampled features against the reference pipeline (issue 11):
/// 48 kHz / 44.1 kHz test signal → `librosa.resample(…, target_sr=16000, res_type='soxr_hq')` →
/// the preset's golden path (Whisper emulation, kaldi-native-fbank). Golden vectors:
/// `Fixtures/resampled` (generator `Fixtures/make_resampled_vectors.py`).
///
/// meltap's path is `meltap file --sample-rate 16000`'s: `Resampler` block by block (4096-sample
/// blocks) and its flush, then `MelAnalyzer` with the global (deferred) clamp, as in
/// `PresetParityTests`.
///
/// The two resamplers are different filters (soxr's HQ vs libsamplerate's sinc), so the error is
/// not float round-off and docs/presets.md's tolerances (made for the same samples) do not all apply.
/// Errors are reported per band (printed as `RESAMPLED` lines), split at 7 kHz: near Nyquist the
/// two anti-alias filters roll off differently, so the top bands see different attenuation of the
/// same content. The bounds and their reasons are at `cases`; figures in docs/parity.md,
/// "Resampled input".
@Suite struct ResampledParityTests {
    /// Where the bands are split: centres below this are "below 7 kHz", the rest "top bands".
    static let splitHz = 7000.0

    struct Case: Sendable, CustomTestStringConvertible {
        /// The fixture stem: whisper_logmel80, kaldi_fbank23 or kaldi_fbank80.
        var output: String
        var inputRate: Int
        /// Bound on the worst absolute error in bands whose centre is below 7 kHz.
        var belowBound: Double
        /// Bound on the worst absolute error below 7 kHz in the first `startFrames` frames.
        var startBound: Double
        /// Bound on the worst absolute error in the top bands (centre ≥ 7 kHz).
        var topBound: Double
        /// Bound on the 99th percentile of the absolute error over all bands and frames.
        var p99Bound: Double
        var testDescription: String { "\(output) from \(inputRate) Hz" }
    }

    /// The bounds asserted for sinc-best, about 1.5× the figures measured here
    /// (docs/parity.md, "Resampled input"; measured 48 kHz / 44.1 kHz in the comments).
    ///
    /// Why some are looser than docs/presets.md (Whisper log-mel atol 1e-4, Kaldi log fbank 2e-3 nats):
    /// docs/presets.md's tolerances are float32 round-off on *the same samples*. Here the samples differ:
    /// soxr HQ and libsamplerate BEST are different filters, and their 16 kHz outputs differ by
    /// 4e-5 rms on this signal (peak 0.7; no delay or gain offset: 1e-7 samples, < 3e-6 dB at the
    /// three sines). So:
    /// * Whisper below 7 kHz, frames ≥ 2: 3e-4 (measured 2.0e-4 / 1.7e-4; 99.9th percentile
    ///   6.6e-5 at 48 kHz). The worst entries are weak bands (band 14, 559 Hz, between the sines,
    ///   where the −60 dBFS noise dominates) and band 76 (6.86 kHz, the nearest to the roll-off),
    ///   where a 4e-5 sample difference moves log10 by more than round-off does.
    /// * The first 2 frames, below 7 kHz: the signal starts at a non-zero value; both resamplers
    ///   assume zeros before it and ring on that step with their own filters, over about their
    ///   half-length (9 ms), which frames 0 and 1 (reflect-padded from samples 1…200 and 0…360)
    ///   read. Whisper 1e-2 (measured 6.8e-4 / 5.4e-3); Kaldi within its 2e-3.
    /// * Top bands (centre ≥ 7 kHz) and p99: the anti-alias filters' roll-off differs
    ///   (libsamplerate BEST passes 96 % of 8 kHz), and the content there is filtered noise:
    ///   Whisper 0.15 (measured 0.126 / 0.115 in band 79; issue 11's scale is 0.06–0.13), p99 0.035
    ///   (0.028 / 0.025, "well under 0.05"). Kaldi 23 bins: 0.25 nats (0.166 / 0.119), p99 0.1
    ///   (0.068 / 0.053). Kaldi 80 bins: bands 78 and 79 (7.48, 7.74 kHz) are narrower and sit in
    ///   the roll-off: 1.8 nats (1.21 / 1.37), p99 0.8 (0.55 / 0.63, the 2 top bands are 2.5 % of
    ///   the entries).
    /// * Kaldi below 7 kHz keeps docs/presets.md's 2e-3 nats (measured 23 bins 2.2e-4 / 1.4e-3,
    ///   80 bins 4.7e-4 / 1.7e-3), after the 80 dB floor explained in `measure`.
    static let cases: [Case] = [
        Case(output: "whisper_logmel80", inputRate: 48000, belowBound: 3e-4, startBound: 1e-2, topBound: 0.15, p99Bound: 0.035),
        Case(output: "whisper_logmel80", inputRate: 44100, belowBound: 3e-4, startBound: 1e-2, topBound: 0.15, p99Bound: 0.035),
        Case(output: "kaldi_fbank23", inputRate: 48000, belowBound: 2e-3, startBound: 2e-3, topBound: 0.25, p99Bound: 0.1),
        Case(output: "kaldi_fbank23", inputRate: 44100, belowBound: 2e-3, startBound: 2e-3, topBound: 0.25, p99Bound: 0.1),
        Case(output: "kaldi_fbank80", inputRate: 48000, belowBound: 2e-3, startBound: 2e-3, topBound: 1.8, p99Bound: 0.8),
        Case(output: "kaldi_fbank80", inputRate: 44100, belowBound: 2e-3, startBound: 2e-3, topBound: 1.8, p99Bound: 0.8),
    ]

    /// The bounds asserted for zita (hlen 64, the default): sinc-best's below 7 kHz and in the
    /// first frames (zita measured the same there: 1.5e-4 / 1.6e-4 Whisper, within Kaldi's 2e-3),
    /// and tighter in the top bands and at p99, about 1.5× what zita measured (48 kHz / 44.1 kHz):
    /// its pass band reaches 1 − 2.6/64 = 96 % of 8 kHz like sinc-best's, but it rolls off closer
    /// to soxr HQ's. Whisper top 0.07 (0.0455 / 0.0415), p99 0.005 (0.0028 / 0.0032); Kaldi 23
    /// top 0.03 (0.017 / 0.019), p99 0.01 (0.0060 / 0.0046); Kaldi 80 top 1.0 (0.59 / 0.67 in
    /// band 79), p99 0.15 (0.063 / 0.094).
    static let zitaCases: [Case] = [
        Case(output: "whisper_logmel80", inputRate: 48000, belowBound: 3e-4, startBound: 1e-2, topBound: 0.07, p99Bound: 0.005),
        Case(output: "whisper_logmel80", inputRate: 44100, belowBound: 3e-4, startBound: 1e-2, topBound: 0.07, p99Bound: 0.005),
        Case(output: "kaldi_fbank23", inputRate: 48000, belowBound: 2e-3, startBound: 2e-3, topBound: 0.03, p99Bound: 0.01),
        Case(output: "kaldi_fbank23", inputRate: 44100, belowBound: 2e-3, startBound: 2e-3, topBound: 0.03, p99Bound: 0.01),
        Case(output: "kaldi_fbank80", inputRate: 48000, belowBound: 2e-3, startBound: 2e-3, topBound: 1.0, p99Bound: 0.15),
        Case(output: "kaldi_fbank80", inputRate: 44100, belowBound: 2e-3, startBound: 2e-3, topBound: 1.0, p99Bound: 0.15),
    ]

    @Test(arguments: cases) func sincBest(_ c: Case) throws {
        try Self.check(c, quality: .sincBest)
    }

    @Test(arguments: zitaCases) func zita(_ c: Case) throws {
        try Self.check(c, quality: .zita)
    }

    static func check(_ c: Case, quality: ResamplerQuality) throws {
        let m = try Self.measure(c, quality: quality)
        #expect(m.startBelow.worst <= c.startBound,
                "\(c.testDescription): first \(Self.startFrames) frames, band \(m.startBelow.band) (\(Self.hz(m.centres[m.startBelow.band]))) worst \(m.startBelow.worst) > \(c.startBound)")
        #expect(m.below.worst <= c.belowBound,
                "\(c.testDescription): band \(m.below.band) (\(Self.hz(m.centres[m.below.band]))) worst \(m.below.worst) > \(c.belowBound)")
        #expect(m.top.worst <= c.topBound,
                "\(c.testDescription): top band \(m.top.band) (\(Self.hz(m.centres[m.top.band]))) worst \(m.top.worst) > \(c.topBound)")
        #expect(m.p99 <= c.p99Bound, "\(c.testDescription): p99 \(m.p99) > \(c.p99Bound)")
    }

    /// sinc-medium and sinc-fastest: measured and printed for docs/parity.md, not bounded.
    @Test(arguments: cases) func otherQualitiesMeasured(_ c: Case) throws {
        for quality in [ResamplerQuality.sincMedium, .sincFastest] {
            let m = try Self.measure(c, quality: quality)
            #expect(m.p99.isFinite && m.below.worst.isFinite && m.top.worst.isFinite)
        }
    }

    // MARK: - Measurement

    struct Worst { var worst = 0.0; var band = 0 }

    struct Measurement {
        var centres: [Double]
        var perBand: [Double]
        /// Bands below 7 kHz, frames from `startFrames` on.
        var below: Worst
        /// Bands below 7 kHz, the first `startFrames` frames.
        var startBelow: Worst
        /// Bands at or above 7 kHz, every frame.
        var top: Worst
        var p99: Double
    }

    static func hz(_ f: Double) -> String { String(format: "%.0f Hz", f) }

    static func fixture(_ name: String) throws -> NpyArray {
        try NpyArray.load(path: Fixtures.directory.appendingPathComponent("resampled/\(name).npy").path)
    }

    /// The input the generator resampled, as float (int16 / 32768 exactly).
    static func input(_ rate: Int) throws -> [Float] {
        let array = rate == 48000 ? try Fixtures.load(48000, "signal_int16") : try fixture("signal_\(rate)_int16")
        return array.doubles.map { Float($0) / 32768 }
    }

    /// `Resampler` driven as `meltap file` drives it: 4096-sample blocks, then flush.
    static func resample(_ input: [Float], from rate: Int, quality: ResamplerQuality) throws -> [Float] {
        let resampler = try Resampler(inputRate: Double(rate), outputRate: 16000, quality: quality)
        let block = 4096
        let capacity = max(resampler.outputCapacity(forInputCount: block), resampler.flushCapacity)
        var buffer = [Float](repeating: 0, count: capacity)
        var output: [Float] = []
        var position = 0
        try input.withUnsafeBufferPointer { all in
            while position < all.count {
                let end = min(position + block, all.count)
                let n = buffer.withUnsafeMutableBufferPointer {
                    resampler.process(UnsafeBufferPointer(rebasing: all[position..<end]), into: $0.baseAddress!, capacity: capacity)
                }
                output.append(contentsOf: buffer[0..<n])
                position = end
            }
            var n = 0
            repeat {
                n = buffer.withUnsafeMutableBufferPointer { resampler.flush(into: $0.baseAddress!, capacity: capacity) }
                output.append(contentsOf: buffer[0..<n])
            } while n > 0
            if output.isEmpty { throw ResamplerError("no output") }
        }
        return output
    }

    static func configuration(_ output: String) throws -> (MelConfiguration, Layout, MelScale) {
        var overrides = MelOverrides()
        switch output {
        case "whisper_logmel80":
            overrides.melBandCount = 80
            return (try overrides.resolve(preset: .whisper, sampleRate: 16000), .bandsByFrames, .slaney)
        case "kaldi_fbank23":
            return (try overrides.resolve(preset: .kaldi, sampleRate: 16000), .framesByBands, .htk)
        default:
            overrides.melBandCount = 80
            return (try overrides.resolve(preset: .kaldi, sampleRate: 16000), .framesByBands, .htk)
        }
    }

    /// Band centres in Hz: the M + 2 edges are evenly spaced in mel from fmin to fmax (librosa's
    /// Slaney triangles and Kaldi's, whose 1127·ln(1 + f/700) is the HTK curve).
    static func centres(_ c: MelConfiguration, scale: MelScale) -> [Double] {
        let lo = MelFilterbank.hzToMel(c.minimumFrequency, scale: scale)
        let hi = MelFilterbank.hzToMel(c.maximumFrequency, scale: scale)
        let step = (hi - lo) / Double(c.melBandCount + 1)
        return (0..<c.melBandCount).map { MelFilterbank.melToHz(lo + Double($0 + 1) * step, scale: scale) }
    }

    /// Frames at the start of the signal whose window reaches into the resamplers' start-up
    /// transient (the signal starts at a non-zero value; both filters ring on that step, differently).
    static let startFrames = 2

    static func measure(_ c: Case, quality: ResamplerQuality) throws -> Measurement {
        let (configuration, layout, scale) = try configuration(c.output)
        let expected = try fixture("\(c.output)_from\(c.inputRate)")
        let samples = try resample(input(c.inputRate), from: c.inputRate, quality: quality)
        // librosa.resample gives ⌈N · 16000 / sr⌉ = 24000 samples, and so does Resampler's flush.
        #expect(samples.count == 24000, "\(c.testDescription) \(quality.rawValue): \(samples.count) samples")
        let observed = try MelAnalyzer.analyze(samples, configuration: configuration)
        let bands = configuration.melBandCount
        let frames = layout == .bandsByFrames ? expected.shape[1] : expected.shape[0]
        #expect(expected.shape == (layout == .bandsByFrames ? [bands, frames] : [frames, bands]))
        #expect(observed.count % bands == 0 && observed.count / bands == frames,
                "\(c.testDescription): \(observed.count / bands) frames, expected \(frames)")
        let usable = min(frames, observed.count / bands)
        func reference(_ t: Int, _ b: Int) -> Double {
            layout == .bandsByFrames ? expected.doubles[b * frames + t] : expected.doubles[t * bands + b]
        }
        // Kaldi's log has no dynamic-range floor but FLT_EPSILON, so in the digital silence
        // (0.60–0.70 s) it compares rounding noise: soxr leaves float noise of ~6e-8 there
        // (−144 dBFS), libsamplerate exact zeros (→ ln FLT_EPSILON = −15.9). Both sides are
        // clamped 80 dB (8 · ln 10 nats) under the reference's maximum before comparing, the
        // range Whisper's own max − 8 clamp keeps; entries above that are compared as they are.
        var floor = -Double.infinity
        if layout == .framesByBands {
            var peak = -Double.infinity
            for t in 0..<frames { for b in 0..<bands { peak = max(peak, reference(t, b)) } }
            floor = peak - 8 * log(10.0)
        }
        let centres = centres(configuration, scale: scale)
        var perBand = [Double](repeating: 0, count: bands)       // frames ≥ startFrames
        var perBandAll = [Double](repeating: 0, count: bands)    // every frame
        var startBelow = Worst()                                   // frames < startFrames, below 7 kHz
        var all: [Double] = []
        all.reserveCapacity(usable * bands)
        for t in 0..<usable {
            for b in 0..<bands {
                let e = max(reference(t, b), floor), o = max(Double(observed[t * bands + b]), floor)
                let error = (o - e).isNaN ? Double.infinity : abs(o - e)
                all.append(error)
                perBandAll[b] = max(perBandAll[b], error)
                if t >= startFrames {
                    perBand[b] = max(perBand[b], error)
                } else if centres[b] < splitHz, error >= startBelow.worst {
                    startBelow = Worst(worst: error, band: b)
                }
            }
        }
        all.sort()
        let p99 = all.isEmpty ? .infinity : all[min(all.count - 1, Int((Double(all.count - 1) * 0.99).rounded(.up)))]
        var below = Worst(), top = Worst()
        for b in 0..<bands {
            if centres[b] < splitHz {
                if perBand[b] >= below.worst { below = Worst(worst: perBand[b], band: b) }
            } else {
                if perBandAll[b] >= top.worst { top = Worst(worst: perBandAll[b], band: b) }
            }
        }
        func g(_ x: Double) -> String { String(format: "%.3g", x) }
        let topList = (0..<bands).filter { centres[$0] >= splitHz }
            .map { "\($0) (\(hz(centres[$0]))) \(g(perBandAll[$0]))" }.joined(separator: ", ")
        let label = "RESAMPLED \(c.output) from \(c.inputRate) \(quality.rawValue)"
        print("\(label): \(samples.count) samples, \(usable) of \(frames) frames; below 7 kHz worst \(g(below.worst)) "
              + "(band \(below.band), \(hz(centres[below.band]))), first \(startFrames) frames \(g(startBelow.worst)) "
              + "(band \(startBelow.band)); top bands \(topList); p99 \(g(p99)); max \(g(all.last ?? .infinity))")
        print("\(label) per band (frames ≥ \(startFrames)): " + perBand.map { String(format: "%.2g", $0) }.joined(separator: " "))
        return Measurement(centres: centres, perBand: perBand, below: below, startBelow: startBelow, top: top, p99: p99)
    }
}
