@testable import MelDSP
import MelFiles
import Testing

/// The FFTW_ESTIMATE fallback: on a machine where the compiled-in wisdom does not apply (another
/// FFTW version, a CPU without the recorded codelets' SIMD), `RealFFT` plans every length with
/// `FFTW_ESTIMATE`. `RealFFT.$compiledWisdom.withValue(false)` forces that here, and each case
/// must stay within the same tolerance against the golden vectors as `PresetParityTests` (the
/// tolerances of docs/presets.md).
@Suite struct WisdomFallbackTests {
    /// One preset configuration, its golden vector and its tolerance (as in `PresetParityTests`).
    struct Case: CustomStringConvertible, Sendable {
        var preset: MelPreset
        var sampleRate: Int
        var melBandCount: Int? = nil
        var useEnergy = false
        var fixture: String
        var layout: Layout
        var metric: Metric
        var tolerance: Double

        var description: String { "\(preset) \(fixture) \(sampleRate)" }

        func configuration() throws -> MelConfiguration {
            var overrides = MelOverrides()
            overrides.melBandCount = melBandCount
            if useEnergy { overrides.useEnergy = true }
            return try overrides.resolve(preset: preset, sampleRate: Double(sampleRate))
        }
    }

    /// Every FFT length the presets plan from wisdom: 2048 (librosa, float64; Kaldi at 48 kHz,
    /// float32), 400 (torchaudio, Whisper) and 512 (Kaldi at 16 kHz).
    static let cases: [Case] = [
        Case(preset: .librosa, sampleRate: 16000, fixture: "librosa_melspec", layout: .bandsByFrames,
             metric: .relative, tolerance: 1e-5),
        Case(preset: .librosa, sampleRate: 48000, fixture: "librosa_melspec", layout: .bandsByFrames,
             metric: .relative, tolerance: 1e-5),
        Case(preset: .torchaudio, sampleRate: 16000, fixture: "torchaudio_melspec_emulated", layout: .bandsByFrames,
             metric: .relative, tolerance: 1e-3),
        Case(preset: .torchaudio, sampleRate: 48000, fixture: "torchaudio_melspec_emulated", layout: .bandsByFrames,
             metric: .relative, tolerance: 1e-3),
        Case(preset: .kaldi, sampleRate: 16000, fixture: "kaldi_fbank23", layout: .framesByBands,
             metric: .absolute, tolerance: 2e-3),
        Case(preset: .kaldi, sampleRate: 48000, melBandCount: 80, useEnergy: true, fixture: "kaldi_fbank80_energy",
             layout: .framesByBands, metric: .absolute, tolerance: 2e-3),
        Case(preset: .whisper, sampleRate: 16000, melBandCount: 80, fixture: "whisper_logmel80_emulated",
             layout: .bandsByFrames, metric: .absolute, tolerance: 1e-4),
    ]

    @Test(arguments: cases) func estimatePlansStayWithinTolerance(_ testCase: Case) throws {
        let c = try testCase.configuration()
        let signal = try Fixtures.signal(testCase.sampleRate)
        let precision = FloatFrameComputer.fftPrecision(c)
        #expect(RealFFT.wisdomLengths.contains(c.fftLength), "\(testCase): n_fft \(c.fftLength) has no wisdom to bypass")

        let (fallbackFrames, fallbackFromWisdom) = try RealFFT.$compiledWisdom.withValue(false) {
            (try MelAnalyzer.analyze(signal, configuration: c),
             RealFFT(length: c.fftLength, precision: precision).plannedFromWisdom)
        }
        #expect(!fallbackFromWisdom, "\(testCase): the plan still came from the wisdom")
        expectParity(fallbackFrames, try Fixtures.load(testCase.sampleRate, testCase.fixture), layout: testCase.layout,
                     metric: testCase.metric, tolerance: testCase.tolerance, label: "estimate plan, \(testCase)")

        // Where the wisdom applies on this machine, the fallback is a different algorithm, so its
        // float32 rounding differs somewhere: proof that the analyzer's FFT really was planned
        // without it. (librosa's float64 FFT is rounded to float32 afterwards, which hides the
        // difference: its frames are byte-identical either way, as docs/performance.md notes.)
        if RealFFT(length: c.fftLength, precision: precision).plannedFromWisdom {
            let wisdomFrames = try MelAnalyzer.analyze(signal, configuration: c)
            #expect(wisdomFrames.count == fallbackFrames.count)
            let differing = zip(wisdomFrames, fallbackFrames).filter { $0.bitPattern != $1.bitPattern }.count
            print("WISDOM \(testCase): \(differing) of \(wisdomFrames.count) values differ between the wisdom and "
                  + "the estimate plan")
            if precision == .single {
                #expect(differing > 0, "\(testCase): estimate and wisdom frames are bit-identical; the hook did not reach the analyzer")
            }
        } else {
            print("WISDOM \(testCase): the compiled-in wisdom does not apply on this machine; every run uses the estimate plan")
        }
    }

    /// The scope ends with the task-local: plans made afterwards use the wisdom again.
    @Test func theHookIsScoped() {
        let inside = RealFFT.$compiledWisdom.withValue(false) { RealFFT(length: 512, precision: .single).plannedFromWisdom }
        #expect(!inside)
        #expect(RealFFT.compiledWisdom)
        // Lengths without wisdom never claim it.
        #expect(!RealFFT(length: 480, precision: .single).plannedFromWisdom)
    }
}
