// The web view's pieces without a browser: the frame batch as the page decodes it
// (docs/web-view.md), the frequency axis from a stream's description, and which addresses are
// loopback. The page itself is tested in a real browser (MeltapCLITests/WebViewTests).
import Foundation
import MelDSP
@testable import MelPipeline
import MelTransport
import NIOCore
import Testing

@Suite struct WebViewFeedTests {
    /// One decoded frame of a batch.
    struct Decoded {
        var sequence: UInt32, channel: UInt16, flags: UInt8, popped: Double, minimum: Float, maximum: Float
        var levels: [UInt8]
    }

    struct Truncated: Error {}

    static func decode(_ buffer: ByteBuffer) throws -> (stream: UInt8, frames: [Decoded]) {
        var b = buffer
        func integer<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
            guard let value = b.readInteger(endianness: .little, as: T.self) else { throw Truncated() }
            return value
        }
        #expect(try integer(UInt8.self) == 1)
        let stream = try integer(UInt8.self)
        let count = try integer(UInt16.self)
        var frames: [Decoded] = []
        for _ in 0..<count {
            let sequence = try integer(UInt32.self), channel = try integer(UInt16.self), flags = try integer(UInt8.self)
            _ = try integer(UInt8.self)
            let bands = try integer(UInt16.self)
            _ = try integer(UInt16.self)
            let popped = Double(bitPattern: try integer(UInt64.self))
            let minimum = Float(bitPattern: try integer(UInt32.self)), maximum = Float(bitPattern: try integer(UInt32.self))
            guard let levels = b.readBytes(length: Int(bands)) else { throw Truncated() }
            frames.append(Decoded(sequence: sequence, channel: channel, flags: flags, popped: popped, minimum: minimum,
                                  maximum: maximum, levels: levels))
        }
        #expect(b.readableBytes == 0, "bytes after the last frame")
        return (stream, frames)
    }

    static func description(_ preset: MelPreset, output: OutputKind? = nil) -> StreamDescription {
        var configuration = preset.configuration(sampleRate: preset == .micro ? 16000 : 48000)
        if let output { configuration.output = output }
        return StreamDescription(configuration: configuration, inputSampleRate: 48000, resampler: nil,
                                 resamplerLookahead: 0, channelCount: 2, frameWidth: configuration.melBandCount,
                                 clampRule: .running)
    }

    @Test("Frames are packed only while a browser is connected, and decode to their values within one level")
    func batchesDecodeToTheFramesValues() throws {
        let feed = WebViewFeed()
        _ = feed.sink(for: Self.description(.librosa, output: .db))
        let sink = try #require(feed.sinks.first)
        let values: [Float] = [-80, -40.5, 0, .nan, -.infinity, 12.25, .infinity, -3]
        values.withUnsafeBufferPointer { sink.consume(metadata: FrameMetadata(sequence: 1, channel: 0, frameTime: 0), values: $0) }
        #expect(sink.take().message == nil, "packed a frame with no browser connected")

        feed.browserCount.store(1, ordering: .relaxed)
        let before = wallClockMilliseconds()
        let flags: FrameFlags = [.xrun, .discontinuity]
        values.withUnsafeBufferPointer {
            sink.consume(metadata: FrameMetadata(sequence: (1 << 32) + 7, channel: 1, frameTime: 0, flags: flags), values: $0)
            sink.consume(metadata: FrameMetadata(sequence: 8, channel: 0, frameTime: 0, flags: .reconfigured), values: $0)
        }
        let taken = sink.take()
        #expect(taken.reconfigured && taken.frames == 2)
        let (stream, frames) = try Self.decode(try #require(taken.message))
        #expect(stream == 0 && frames.count == 2)
        let first = frames[0]
        #expect(first.sequence == 7 && first.channel == 1 && UInt32(first.flags) == flags.rawValue)
        #expect(first.popped >= before && first.popped <= wallClockMilliseconds())
        #expect(first.minimum == -80 && first.maximum == 12.25)
        for (value, level) in zip(values, first.levels) {
            guard value.isFinite else {
                #expect(level == (value == .infinity ? 255 : 0), "\(value) → \(level)")
                continue
            }
            let decoded = first.minimum + Float(level) / 255 * (first.maximum - first.minimum)
            #expect(abs(decoded - value) <= (first.maximum - first.minimum) / 510 + 1e-4, "\(value) → \(decoded)")
        }
        #expect(sink.take().message == nil, "a batch is taken once")
    }

    @Test("Linear power is quantised as log10; the axis is Hz for librosa's mel bands and the band index for Kaldi and micro")
    func axesAndScales() throws {
        let librosa = WebViewStreamInfo(index: 0, description: Self.description(.librosa))
        #expect(librosa.colourScale == "log" && librosa.axisKind == "hz" && librosa.axis.count == 128)
        #expect(librosa.axis == librosa.axis.sorted() && librosa.axis[0] > 0 && librosa.axis[127] < 24000)
        // librosa.mel_frequencies(130, fmax=24000)[1:3]: the first bands' peaks.
        #expect(abs(librosa.axis[0] - 31.64084882) < 1e-6 && abs(librosa.axis[1] - 63.28169763) < 1e-6, "\(librosa.axis[0...1])")
        let kaldi = WebViewStreamInfo(index: 1, description: Self.description(.kaldi))
        #expect(kaldi.axisKind == "band" && kaldi.axis.isEmpty && kaldi.colourScale == "linear" && kaldi.unit.contains("ln"))
        let micro = WebViewStreamInfo(index: 2, description: Self.description(.micro))
        #expect(micro.axisKind == "band" && micro.unit.contains("micro"))
        let spectrum = WebViewStreamInfo(index: 3, description: Self.description(.librosa, output: .spectrogramDB))
        #expect(spectrum.axisKind == "hz" && spectrum.unit == "dB")

        let feed = WebViewFeed()
        _ = feed.sink(for: Self.description(.librosa))
        feed.browserCount.store(1, ordering: .relaxed)
        let values: [Float] = [1e-3, 1, 100, 0]
        values.withUnsafeBufferPointer { feed.sinks[0].consume(metadata: FrameMetadata(sequence: 0, channel: 0, frameTime: 0), values: $0) }
        let frame = try Self.decode(try #require(feed.sinks[0].take().message)).frames[0]
        #expect(frame.minimum == -20 && frame.maximum == 2, "log10 range \(frame.minimum)…\(frame.maximum)")
    }

    @Test("Loopback addresses, and --http's ADDRESS:PORT")
    func addresses() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"] { #expect(WebViewAddress.isLoopback(host), "\(host)") }
        for host in ["0.0.0.0", "::", "192.168.1.2", "128.0.0.1", "127.0.0.1.example.com", "example.com", ""] {
            #expect(!WebViewAddress.isLoopback(host), "\(host)")
        }
        #expect(WebViewAddress.parse(":8080")! == ("127.0.0.1", 8080))
        #expect(WebViewAddress.parse("localhost:0")! == ("127.0.0.1", 0))
        #expect(WebViewAddress.parse("[::1]:9")! == ("::1", 9))
        #expect(WebViewAddress.parse("localhost") == nil && WebViewAddress.parse("1.2.3.4:70000") == nil)
    }
}
