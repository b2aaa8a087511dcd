// A live stream's socket: the stream header built from the stream's configuration, and the
// FramePublisher the consumer thread feeds.
import Foundation
import Glibc
import MelDSP
import MelServer
import MelTransport

/// Owns one stream's `FramePublisher` (a plain `meltap run` has one stream; `--stream` one each),
/// and is that stream's socket sink. It sees the stream only through `StreamDescription`s, so it
/// serves any driver's frames, JACK's or another's.
///
/// Threads: `init`, `start` and `stop` on the main thread; `consume` on the consumer thread only
/// (never the JACK callback). The stats source runs on the publisher's event-loop thread and only
/// reads atomic counters.
public final class StreamPublishing: FrameSink, @unchecked Sendable {
    /// Seconds of frames a subscriber may fall behind before the slow-subscriber policy applies.
    public static let queueSeconds = 5.0

    public let publisher: FramePublisher
    /// The stream's name ("" for the one stream of a plain run).
    public let name: String
    /// The stream as it is now (after a sample-rate change, its new configuration and latency).
    private let describe: @Sendable () -> StreamDescription
    /// Sample rate of the header last sent; consumer thread only after `start`.
    private var headerSampleRate: Double = 0
    private var headerLatency: UInt32 = 0
    /// Configuration JSON of the header last sent (it carries the input rate and resampler).
    private var headerJSON: [UInt8] = []

    /// - Parameters:
    ///   - describe: the stream now; called at start, after activation and on reconfigured frames.
    ///   - socketPath: where to serve.
    ///   - fileMode: permission bits of the socket file (`--socket-mode`).
    ///   - policy: what happens to a subscriber that falls `queueSeconds` behind.
    ///   - maximumSubscribers: `--max-subscribers`.
    ///   - stats: the stream's counters for the publisher's once-a-second Stats messages.
    public init(describe: @escaping @Sendable () -> StreamDescription, socketPath: String, fileMode: mode_t,
                policy: FramePublisher.SlowSubscriberPolicy, maximumSubscribers: Int,
                stats: @escaping @Sendable () -> StreamStats) {
        self.describe = describe
        let description = describe()
        name = description.name
        let frameRate = description.configuration.frameRate
        let bound = max(64, Int((frameRate * Double(description.channelCount) * Self.queueSeconds).rounded(.up)))
        publisher = FramePublisher(
            socketPath: socketPath, fileMode: fileMode, queueBound: bound, policy: policy,
            maximumSubscribers: maximumSubscribers, statsInterval: .seconds(1), statsSource: stats)
    }

    public var socketPath: String { publisher.socketPath }

    /// The stream header for `description` (docs/wire-format.md): configuration JSON with sorted
    /// keys (plus `inputSampleRate`, the rate frame times count in, `resampler`, its name or
    /// "none", and `meltapVersion`, the serving program's version), channels `in_1`…, `StreamDescription.latency` in analysis samples, and the clamp
    /// rule's user name.
    public static func header(for description: StreamDescription) -> StreamHeader {
        let configuration = description.configuration
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let described = StreamConfiguration(configuration: configuration, inputSampleRate: description.inputSampleRate,
                                            resampler: description.resampler ?? "none")
        let json = (try? encoder.encode(described)).map { [UInt8]($0) } ?? Array("{}".utf8)
        let channels = (1...description.channelCount).map { ChannelInfo(name: "in_\($0)", source: "") }
        return StreamHeader(
            sampleRate: configuration.sampleRate, frameRate: configuration.frameRate,
            bandCount: UInt32(description.frameWidth), latencySamples: UInt32(clamping: description.latency),
            hopLength: UInt32(configuration.hopLength), fftLength: UInt32(configuration.fftLength),
            clampRule: description.clampRule.userName, configurationJSON: json, channels: channels)
    }

    /// Binds the socket. Throws (with what to do) when another meltap serves there or the path is
    /// unusable.
    public func start() throws {
        let header = Self.header(for: describe())
        try publisher.start(header: header)
        headerSampleRate = header.sampleRate
        headerLatency = header.latencySamples
        headerJSON = header.configurationJSON
    }

    /// Resends the header if the latency known after activation differs (JACK reports the
    /// capture latency at activation). Call once after the driver has started, from the main
    /// thread; whether frames flow already matters little: the header is queued in order with them.
    public func refreshHeaderAfterActivation() {
        let header = Self.header(for: describe())
        guard header.latencySamples != headerLatency else { return }
        headerLatency = header.latencySamples
        try? publisher.updateHeader(header)
    }

    /// Publishes one popped frame; on a `.reconfigured` frame with a new sample rate, sends the new
    /// header first. Consumer thread only.
    public func consume(metadata: FrameMetadata, values: UnsafeBufferPointer<Float>) {
        if metadata.flags.contains(.reconfigured) {
            let header = Self.header(for: describe())
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

    private enum ExtraKeys: String, CodingKey { case inputSampleRate, resampler, meltapVersion }

    public func encode(to encoder: any Encoder) throws {
        try configuration.encode(to: encoder)
        var container = encoder.container(keyedBy: ExtraKeys.self)
        try container.encode(inputSampleRate, forKey: .inputSampleRate)
        try container.encode(resampler, forKey: .resampler)
        try container.encode(meltapVersion, forKey: .meltapVersion)
    }
}
