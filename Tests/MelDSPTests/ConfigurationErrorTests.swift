import Glibc
import MelDSP
import Testing

/// Bad configurations are rejected with a message that names the parameter (librosa's
/// spelling), the value given, and what is allowed or what to do. One test per error.
@Suite struct ConfigurationErrorTests {
    /// Resolves `preset` with `edit` applied and returns the rejection message (recording an
    /// issue if it was accepted).
    func rejection(_ preset: MelPreset = .librosa, sampleRate: Double = 16000, _ edit: (inout MelOverrides) -> Void,
                   sourceLocation: SourceLocation = #_sourceLocation) -> String {
        var o = MelOverrides()
        edit(&o)
        let error = #expect(throws: MelConfigurationError.self, sourceLocation: sourceLocation) {
            _ = try o.resolve(preset: preset, sampleRate: sampleRate)
        }
        return error?.description ?? ""
    }

    /// Validates `configuration` directly (and through `MelAnalyzer.init`) and returns the message.
    func rejection(of configuration: MelConfiguration, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let error = #expect(throws: MelConfigurationError.self, sourceLocation: sourceLocation) {
            try configuration.validate()
        }
        let analyzerError = #expect(throws: MelConfigurationError.self, sourceLocation: sourceLocation) {
            _ = try MelAnalyzer(configuration: configuration)
        }
        #expect(analyzerError == error, "MelAnalyzer.init must report the same problem", sourceLocation: sourceLocation)
        return error?.description ?? ""
    }

    /// Asserts `message` contains every one of `parts`, printing the message on failure.
    func expectMentions(_ message: String, _ parts: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        for part in parts {
            #expect(message.contains(part), "message should mention \"\(part)\": \(message)", sourceLocation: sourceLocation)
        }
    }

    static let librosa16k = MelPreset.librosa.configuration(sampleRate: 16000)

    @Test func fmaxAboveNyquist() {
        let message = rejection { $0.maximumFrequency = 9000 }
        expectMentions(message, "fmax", "9000", "sr/2", "8000", "--fmax")
        var c = Self.librosa16k
        c.maximumFrequency = 8000.5
        expectMentions(rejection(of: c), "fmax", "8000.5", "8000")
    }

    @Test(arguments: [0, -3]) func nMelsBelowOne(bands: Int) {
        let message = rejection { $0.melBandCount = bands }
        expectMentions(message, "n_mels", "\(bands)", "at least 1")
        var c = Self.librosa16k
        c.melBandCount = bands
        expectMentions(rejection(of: c), "n_mels", "\(bands)")
    }

    @Test func hopZero() {
        let message = rejection { $0.hopLength = 0 }
        expectMentions(message, "hop_length", "0", "at least 1")
        var c = Self.librosa16k
        c.hopLength = 0
        expectMentions(rejection(of: c), "hop_length", "got 0")
    }

    @Test func windowLongerThanFFT() {
        let message = rejection { $0.fftLength = 1024; $0.windowLength = 2048 }
        expectMentions(message, "win_length", "2048", "n_fft", "1024", "--n-fft", "--win-length")
        var c = MelPreset.kaldi.configuration(sampleRate: 16000)
        c.windowLength = 600    // n_fft stays 512
        expectMentions(rejection(of: c), "win_length", "600", "512")
    }

    @Test func oddFFTLength() {
        let message = rejection { $0.fftLength = 401 }
        expectMentions(message, "n_fft", "401", "even")
        var c = Self.librosa16k
        c.fftLength = 2047
        expectMentions(rejection(of: c), "n_fft", "2047", "even")
    }

    @Test(arguments: [8, 14, 0, -2]) func fftLengthBelowSixteen(length: Int) {
        let message = rejection { $0.fftLength = length }
        expectMentions(message, "n_fft", "\(length)", "16")
    }

    @Test(arguments: [(4000.0, 4000.0), (5000, 4000)]) func fminNotBelowFmax(fmin: Double, fmax: Double) {
        let message = rejection { $0.minimumFrequency = fmin; $0.maximumFrequency = fmax }
        expectMentions(message, "fmin", "\(Int(fmin))", "fmax", "\(Int(fmax))", "below")
    }

    @Test func fminNegative() {
        let message = rejection { $0.minimumFrequency = -10 }
        expectMentions(message, "fmin", "-10", "0 Hz or more")
    }

    @Test(arguments: [3.0, 0, 1.5]) func powerNotOneOrTwo(power: Double) {
        let message = rejection { $0.power = power }
        expectMentions(message, "power", "got \(power == power.rounded() ? String(Int(power)) : String(power))",
                       "1 (magnitude)", "2 (power)")
    }

    @Test func mfccCountAboveBandCount() {
        let message = rejection { $0.output = .mfcc; $0.melBandCount = 40; $0.mfccCount = 60 }
        expectMentions(message, "n_mfcc", "60", "n_mels", "40")
        // n_mfcc only matters for MFCC output.
        var o = MelOverrides()
        o.melBandCount = 40
        o.mfccCount = 60
        #expect(throws: Never.self) { _ = try o.resolve(preset: .librosa, sampleRate: 16000) }
    }

    @Test func topDBNegativeInConfiguration() {
        var c = Self.librosa16k
        c.output = .db
        c.topDB = -5
        expectMentions(rejection(of: c), "top_db", "-5", "0 or more", "negative value on the command line")
    }

    /// On the command line a negative top_db means "no clamp": the dB output keeps digital
    /// silence at 10·log10(amin) = −100 dB however loud the rest is.
    @Test func topDBNegativeOverrideDisablesTheClamp() throws {
        var o = MelOverrides()
        o.output = .db
        o.topDB = -1
        let c = try o.resolve(preset: .librosa, sampleRate: 16000)
        #expect(c.topDB == nil)
        #expect(!OfflineFinisher.isNeeded(c))
        // A loud sine, then digital silence long enough for whole frames of zeros.
        let samples: [Float] = (0..<16000).map { (i: Int) -> Float in i < 8000 ? Float(0.9 * sin(Double(i) * 0.3)) : 0 }
        let unclamped = try MelAnalyzer.analyze(samples, configuration: c)
        #expect(unclamped.min() == -100)
        #expect(unclamped.max()! > -20)
        // The default keeps the clamp at max − 80.
        o.topDB = nil
        let clamped = try MelAnalyzer.analyze(samples, configuration: try o.resolve(preset: .librosa, sampleRate: 16000))
        #expect(clamped.min()! == clamped.max()! - 80)
    }

    @Test(arguments: [44100.0, 48000, 8000]) func whisperAtOtherRates(sampleRate: Double) {
        let message = rejection(.whisper, sampleRate: sampleRate) { _ in }
        expectMentions(message, "whisper", "16 kHz", "\(Int(sampleRate)) Hz", "--sample-rate 16000", "sox", "-r 16000")
    }

    @Test func kaldiNoSnipHopLongerThanFrame() {
        let message = rejection(.kaldi) { $0.framing = .kaldiNoSnip; $0.hopLength = 500 }
        expectMentions(message, "snip_edges=false", "hop_length", "500", "frame length", "400")
        // Equal is fine.
        var o = MelOverrides()
        o.framing = .kaldiNoSnip
        o.hopLength = 400
        #expect(throws: Never.self) { _ = try o.resolve(preset: .kaldi, sampleRate: 16000) }
    }

    /// Not an error but a warning: n_mels 128 at n_fft 256, sr 16000 leaves bands with no FFT bin.
    @Test func emptyBandWarning() throws {
        var o = MelOverrides()
        o.fftLength = 256
        let c = try o.resolve(preset: .librosa, sampleRate: 16000)
        let empty = c.emptyBands
        #expect(!empty.isEmpty)
        // Every empty band really has no weight, and every other band has some.
        let dense = MelFilterbank(configuration: c).denseMatrix()
        #expect(empty == dense.indices.filter { dense[$0].allSatisfy { $0 == 0 } })
        let warning = try #require(c.emptyBandWarning)
        let named = warning.split { !$0.isNumber }.compactMap { Int($0) }
        #expect(Set(empty).isSubset(of: Set(named)), "\(warning) should name \(empty)")
        expectMentions(warning, "128", "--n-mels", "--n-fft")
        // The preset itself has none.
        #expect(MelPreset.librosa.configuration(sampleRate: 16000).emptyBandWarning == nil)
    }

    // MARK: - MelOverrides semantics

    @Test func fftLengthAloneSetsWindowAndHop() throws {
        var o = MelOverrides()
        o.fftLength = 1024
        let librosa = try o.resolve(preset: .librosa, sampleRate: 16000)
        #expect(librosa.fftLength == 1024)
        #expect(librosa.windowLength == 1024)
        #expect(librosa.hopLength == 256)       // librosa: win_length / 4
        let torchaudio = try o.resolve(preset: .torchaudio, sampleRate: 16000)
        #expect(torchaudio.windowLength == 1024)
        #expect(torchaudio.hopLength == 512)    // torchaudio: win_length / 2
        // An explicit hop wins.
        o.hopLength = 100
        #expect(try o.resolve(preset: .librosa, sampleRate: 16000).hopLength == 100)
    }

    @Test(arguments: [(300, 512), (400, 512), (512, 512), (513, 1024), (600, 1024), (200, 256)])
    func kaldiWindowLengthAlonePadsFFT(windowLength: Int, fftLength: Int) throws {
        var o = MelOverrides()
        o.windowLength = windowLength
        let c = try o.resolve(preset: .kaldi, sampleRate: 16000)
        #expect(c.windowLength == windowLength)
        #expect(c.fftLength == fftLength)
        #expect(c.hopLength == 160)            // Kaldi's 10 ms shift is unchanged
        #expect(c.frameLength == windowLength)
    }

    @Test(arguments: [(-400.0, 7600.0), (0, 8000), (-1000, 7000), (5000, 5000)])
    func fmaxZeroOrNegativeIsNyquistPlusValue(fmax: Double, expected: Double) throws {
        var o = MelOverrides()
        o.maximumFrequency = fmax
        #expect(try o.resolve(preset: .librosa, sampleRate: 16000).maximumFrequency == expected)
        #expect(try o.resolve(preset: .kaldi, sampleRate: 16000).maximumFrequency == expected)
    }
}
