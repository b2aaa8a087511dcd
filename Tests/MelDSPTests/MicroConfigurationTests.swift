import MelDSP
import Testing

/// The micro preset refuses what it cannot honour, one test per error, each message saying what
/// to do instead.
@Suite struct MicroConfigurationTests {
    func rejection(_ preset: MelPreset = .micro, sampleRate: Double = 16000, _ edit: (inout MelOverrides) -> Void,
                   sourceLocation: SourceLocation = #_sourceLocation) -> String {
        var overrides = MelOverrides()
        edit(&overrides)
        let error = #expect(throws: MelConfigurationError.self, sourceLocation: sourceLocation) {
            try overrides.resolve(preset: preset, sampleRate: sampleRate)
        }
        return error?.description ?? ""
    }

    func expectMentions(_ message: String, _ parts: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        for part in parts {
            #expect(message.contains(part), "message should mention \"\(part)\": \(message)", sourceLocation: sourceLocation)
        }
    }

    @Test func presetResolvesAt16kHz() throws {
        let c = try MelOverrides().resolve(preset: .micro, sampleRate: 16000)
        #expect(c == MelPreset.micro.configuration(sampleRate: 16000))
        #expect(c.fftLength == 512 && c.hopLength == 160 && c.windowLength == 480 && c.melBandCount == 40)
        #expect(c.minimumFrequency == 125 && c.maximumFrequency == 7500 && c.framing == .none)
        #expect(c.outputScale == 0.0390625 && c.output == .micro && c.filterbank == .micro)
        #expect(c.leftPadding == 0 && c.frameLength == 480)
        #expect(throws: Never.self) { try c.checkRealtimeSafe() }
    }

    @Test(arguments: [8000.0, 22050, 44100, 48000])
    func otherSampleRates(sampleRate: Double) {
        let message = rejection(sampleRate: sampleRate) { _ in }
        expectMentions(message, ["micro preset expects 16 kHz", "\(Int(sampleRate)) Hz", "sox in.wav -r 16000",
                                 "--sample-rate 16000"])
        // MelAnalyzer refuses a hand-built configuration at another rate the same way.
        let error = #expect(throws: MelConfigurationError.self) {
            _ = try MelAnalyzer(configuration: MelPreset.micro.configuration(sampleRate: sampleRate))
        }
        #expect(error?.description == message)
    }

    @Test func overridesThatDoNotApply() {
        let one = rejection { $0.melBandCount = 80 }
        expectMentions(one, ["fixed", "--n-mels 80 does not apply", "Drop it", "another preset"])
        let several = rejection { $0.fftLength = 1024; $0.output = .db; $0.useEnergy = true }
        expectMentions(several, ["--n-fft 1024, --features db and --use-energy do not apply", "Drop them"])
        let more = rejection { $0.hopLength = 80; $0.maximumFrequency = -400; $0.topDB = 80; $0.mfccCount = 13 }
        expectMentions(more, ["--hop-length 80", "--fmax -400", "--top-db 80", "--n-mfcc 13"])
    }

    /// Overrides equal to the preset's own values change nothing and are accepted.
    @Test func overridesEqualToThePresetAreAccepted() throws {
        var o = MelOverrides()
        o.fftLength = 512
        o.hopLength = 160
        o.windowLength = 480
        o.melBandCount = 40
        o.minimumFrequency = 125
        o.maximumFrequency = 7500
        o.output = .micro
        o.topDB = -1
        #expect(try o.resolve(preset: .micro, sampleRate: 16000) == MelPreset.micro.configuration(sampleRate: 16000))
    }

    @Test func microOutputNeedsThePreset() {
        let message = rejection(.librosa) { $0.output = .micro }
        expectMentions(message, ["--features micro", "--preset micro"])
    }

    @Test func handEditedConfigurationIsRefused() {
        var c = MelPreset.micro.configuration(sampleRate: 16000)
        c.melBandCount = 64
        let error = #expect(throws: MelConfigurationError.self) { try c.validate() }
        expectMentions(error?.description ?? "", ["fixed", "n_mels"])
        var mixed = MelPreset.librosa.configuration(sampleRate: 16000)
        mixed.filterbank = .micro
        let mixedError = #expect(throws: MelConfigurationError.self) { try mixed.validate() }
        expectMentions(mixedError?.description ?? "", ["only go together", "--preset micro"])
    }
}
