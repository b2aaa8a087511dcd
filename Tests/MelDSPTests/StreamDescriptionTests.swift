// `StreamDescription.latency`: the one latency function the stream header carries
// (docs/wire-format.md, "Latency").
import MelDSP
import Testing

@Suite struct StreamDescriptionTests {
    /// n_fft/2 for centred framing, the window for `none`, the window less half a hop for
    /// `kaldi-no-snip` (the JACK client's rule, which the configuration now has too).
    @Test(arguments: [(Framing.centerZero, 200), (.centerReflect, 200), (Framing.none, 320), (.kaldiNoSnip, 320 - 80)])
    func algorithmicLatency(framing: Framing, expected: Int) {
        var c = MelPreset.librosa.configuration(sampleRate: 16000)
        c.fftLength = 400
        c.windowLength = 320
        c.hopLength = 160
        c.framing = framing
        #expect(c.algorithmicLatency == expected, "\(framing): \(c.algorithmicLatency)")
    }

    /// 48 → 16 kHz: capture and look-ahead are input samples, rounded up at the analysis rate.
    @Test func latencySumsItsParts() {
        var c = MelPreset.librosa.configuration(sampleRate: 16000)
        c.fftLength = 400
        c.framing = .centerReflect
        let stream = StreamDescription(configuration: c, inputSampleRate: 48000, resampler: "zita",
                                       resamplerLookahead: 192, channelCount: 2, frameWidth: 128,
                                       captureLatency: 256, holdLatency: 320, deferralLatency: 86,
                                       clampRule: .running)
        #expect(stream.resamplerLatency == 64)
        #expect(stream.latency == 86 + 64 + 200 + 320 + 86, "\(stream.latency)")  // ⌈256/3⌉ = 86
        var file = stream
        file.resampler = nil
        file.resamplerLookahead = 0
        file.captureLatency = 0
        file.holdLatency = 0
        file.deferralLatency = 0
        file.inputSampleRate = 16000
        #expect(file.latency == c.algorithmicLatency)
    }
}
