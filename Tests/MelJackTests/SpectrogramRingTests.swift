import Testing
@testable import MelJack

/// Spectrogram frames are up to n_fft/2 + 1 values wide: the ring keeps its requested capacity
/// for mel-width frames and caps wide ones at 64 MiB of values.
@Suite struct SpectrogramRingTests {
    @Test func melAndSmallSpectrogramFramesKeepTheRequestedCapacity() {
        #expect(JackClient.ringCapacity(requested: 4096, width: 128) == 4096)
        #expect(JackClient.ringCapacity(requested: 4096, width: 1025) == 4096)   // n_fft 2048: 16 MiB
    }

    @Test func wideFramesAreCappedAt64MiB() {
        let width = JackClient.maximumFrameWidth                                   // n_fft 65536
        let capacity = JackClient.ringCapacity(requested: 4096, width: width)
        #expect(capacity * width * 4 <= 64 << 20)
        #expect(capacity >= 64)
        #expect(JackClient.ringCapacity(requested: 16, width: width) == 16)       // a smaller request stands
    }
}
