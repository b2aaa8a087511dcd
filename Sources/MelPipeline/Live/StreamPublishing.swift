// A live stream's socket: the stream header built from the stream's configuration, and the
// FramePublisher the consumer thread feeds.
import Foundation
import Glibc
import MelDSP
import MelJack
import MelServer
import MelTransport

/// Owns one stream's `FramePublisher` (a plain `meltap run` has one stream; `--stream` one each),
/// and is that stream's socket sink.
///
/// Threads: `init`, `start` and `stop` on the main thread; `consume` on the consumer thread only
/// (never the JACK callback). The stats source runs on the publisher's event-loop thread and only
/// reads the client's atomic counters.
public final class StreamPublishing: FrameSink, @unchecked Sendable {
    /// Seconds of frames a subscriber may fall behind before the slow-subscriber policy applies.
    public static let queueSeconds = 5.0

    public let publisher: FramePublisher
    public let stream: JackStream
    public var client: JackClient { stream.client }
    /// Sample rate of the header last sent; consumer thread only after `start`.
    private var headerSampleRate: Double = 0
    private var headerLatency: UInt32 = 0
    /// Configuration JSON of the header last sent (it carries the input rate and resampler).
    private var headerJSON: [UInt8] = []

    /// - Parameters:
    ///   - socketPath: `--socket`, or nil for `FramePublisher.defaultSocketPath(clientName:)`.
    ///   - fileMode: permission bits of the socket file (`--socket-mode`).
    ///   - policy: what happens to a subscriber that falls `queueSeconds` behind.
    ///   - maximumSubscribers: `--max-subscribers`.
    public init(stream: JackStream, socketPath: String?, fileMode: mode_t, policy: FramePublisher.SlowSubscriberPolicy,
         maximumSubscribers: Int) throws {
        self.stream = stream
        let client = stream.client
        let path = try socketPath ?? FramePublisher.defaultSocketPath(clientName: client.clientName)
        let configuration = stream.configuration
        let frameRate = configuration.sampleRate / Double(configuration.hopLength)
        let bound = max(64, Int((frameRate * Double(client.channelCount) * Self.queueSeconds).rounded(.up)))
        publisher = FramePublisher(
            socketPath: path, fileMode: fileMode, queueBound: bound, policy: policy,
            maximumSubscribers: maximumSubscribers, statsInterval: .seconds(1),
            statsSource: { [stream] in
                // This stream's frames and drops; xruns are the client's (every stream shares them).
                let counters = stream.counters
                return StreamStats(frames: counters.frames, drops: counters.drops, xruns: stream.client.statistics().xruns)
            })
    }

    public var socketPath: String { publisher.socketPath }

    /// The header for the client's current configuration: configuration JSON with sorted keys
    /// (plus `inputSampleRate`, the server's rate frame times count in, and `resampler`, its name
    /// or "none"), channels `in_1`…, latency at the analysis rate = largest capture latency +
    /// the resampler's look-ahead + the algorithmic latency + the xrun hold, clamp rule
    /// "running" (meltap run's analyzers clamp causally).
    public static func header(for stream: JackStream) -> StreamHeader {
        let client = stream.client
        let configuration = stream.configuration
        let inputRate = client.inputSampleRate
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let described = StreamConfiguration(configuration: configuration, inputSampleRate: inputRate,
                                            resampler: stream.resampler?.rawValue ?? "none")
        let json = (try? encoder.encode(described)).map { [UInt8]($0) } ?? Array("{}".utf8)
        let capture = Int((Double(client.captureLatency.upperBound) * configuration.sampleRate / inputRate).rounded(.up))
        let latency = capture + stream.resamplerLatency + stream.algorithmicLatency + stream.holdLatency
            + stream.deferralLatency
        let channels = (1...client.channelCount).map { ChannelInfo(name: "in_\($0)", source: "") }
        return StreamHeader(
            sampleRate: configuration.sampleRate,
            frameRate: configuration.sampleRate / Double(configuration.hopLength),
            bandCount: UInt32(stream.frameWidth), latencySamples: UInt32(clamping: latency),
            hopLength: UInt32(configuration.hopLength), fftLength: UInt32(configuration.fftLength),
            clampRule: ClampRule.running.rawValue, configurationJSON: json, channels: channels)
    }

    /// Binds the socket. Throws (with what to do) when another meltap serves there or the path is
    /// unusable.
    public func start() throws {
        let header = Self.header(for: stream)
        try publisher.start(header: header)
        headerSampleRate = header.sampleRate
        headerLatency = header.latencySamples
        headerJSON = header.configurationJSON
    }

    /// Resends the header if the latency known after activation differs. Call once after
    /// `JackClient.start()` from the main thread, before frames flow matters little: the header
    /// is queued in order with frames.
    public func refreshHeaderAfterActivation() {
        let header = Self.header(for: stream)
        guard header.latencySamples != headerLatency else { return }
        headerLatency = header.latencySamples
        try? publisher.updateHeader(header)
    }

    /// Publishes one popped frame; on a `.reconfigured` frame with a new sample rate, sends the new
    /// header first. Consumer thread only.
    public func consume(metadata: FrameMetadata, values: UnsafeBufferPointer<Float>) {
        if metadata.flags.contains(.reconfigured) {
            let header = Self.header(for: stream)
            if header.sampleRate != headerSampleRate || header.latencySamples != headerLatency
                || header.configurationJSON != headerJSON {
                headerSampleRate = header.sampleRate
                headerLatency = header.latencySamples
                headerJSON = header.configurationJSON
                try? publisher.updateHeader(header)
            }
        }
        publisher.publish(metadata: metadata, values: values)
    }

    /// Closes every connection and removes the socket file.
    public func stop() { publisher.stop() }
}

/// The header's configuration JSON: the configuration's keys, plus `inputSampleRate` (the
/// server's rate, Hz, which frame times count in) and `resampler` (`sinc-best` …, or `none`)
/// at the same level. Decoders of `MelConfiguration` ignore the two extra keys.
public struct StreamConfiguration: Encodable {
    public var configuration: MelConfiguration
    public var inputSampleRate: Double
    public var resampler: String

    public init(configuration: MelConfiguration, inputSampleRate: Double, resampler: String) {
        self.configuration = configuration
        self.inputSampleRate = inputSampleRate
        self.resampler = resampler
    }

    private enum ExtraKeys: String, CodingKey { case inputSampleRate, resampler }

    public func encode(to encoder: any Encoder) throws {
        try configuration.encode(to: encoder)
        var container = encoder.container(keyedBy: ExtraKeys.self)
        try container.encode(inputSampleRate, forKey: .inputSampleRate)
        try container.encode(resampler, forKey: .resampler)
    }
}
