// `meltap run`'s socket: the stream header built from the run's configuration, and the
// FramePublisher the consumer thread feeds.
import Foundation
import Glibc
import MelDSP
import MelJack
import MelServer
import MelTransport

/// Owns the run's `FramePublisher`.
///
/// Threads: `init`, `start` and `stop` on the main thread; `publish` on the consumer thread only
/// (never the JACK callback). The stats source runs on the publisher's event-loop thread and only
/// reads the client's atomic counters.
final class Publishing: @unchecked Sendable {
    /// Seconds of frames a subscriber may fall behind before the slow-subscriber policy applies.
    static let queueSeconds = 5.0

    let publisher: FramePublisher
    let client: JackClient
    /// Sample rate of the header last sent; consumer thread only after `start`.
    private var headerSampleRate: Double = 0
    private var headerLatency: UInt32 = 0

    /// - Parameters:
    ///   - socketPath: `--socket`, or nil for `FramePublisher.defaultSocketPath(clientName:)`.
    ///   - fileMode: permission bits of the socket file (`--socket-mode`).
    ///   - policy: what happens to a subscriber that falls `queueSeconds` behind.
    ///   - maximumSubscribers: `--max-subscribers`.
    init(client: JackClient, socketPath: String?, fileMode: mode_t, policy: FramePublisher.SlowSubscriberPolicy,
         maximumSubscribers: Int) throws {
        self.client = client
        let path = try socketPath ?? FramePublisher.defaultSocketPath(clientName: client.clientName)
        let configuration = client.configuration
        let frameRate = configuration.sampleRate / Double(configuration.hopLength)
        let bound = max(64, Int((frameRate * Double(client.channelCount) * Self.queueSeconds).rounded(.up)))
        publisher = FramePublisher(
            socketPath: path, fileMode: fileMode, queueBound: bound, policy: policy,
            maximumSubscribers: maximumSubscribers, statsInterval: .seconds(1),
            statsSource: { [client] in
                let statistics = client.statistics()
                return StreamStats(frames: statistics.frames, drops: statistics.drops, xruns: statistics.xruns)
            })
    }

    var socketPath: String { publisher.socketPath }

    /// The header for the client's current configuration: configuration JSON with sorted keys,
    /// channels `in_1`…, latency = largest capture latency + the algorithmic latency + the xrun
    /// hold, clamp rule
    /// "running" (meltap run's analyzers clamp causally).
    static func header(for client: JackClient) -> StreamHeader {
        let configuration = client.configuration
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(configuration)).map { [UInt8]($0) } ?? Array("{}".utf8)
        let latency = client.captureLatency.upperBound + client.algorithmicLatency + client.holdLatency
        let channels = (1...client.channelCount).map { ChannelInfo(name: "in_\($0)", source: "") }
        return StreamHeader(
            sampleRate: configuration.sampleRate,
            frameRate: configuration.sampleRate / Double(configuration.hopLength),
            bandCount: UInt32(client.frameWidth), latencySamples: UInt32(clamping: latency),
            hopLength: UInt32(configuration.hopLength), fftLength: UInt32(configuration.fftLength),
            clampRule: ClampRule.running.rawValue, configurationJSON: json, channels: channels)
    }

    /// Binds the socket and prints "meltap: publishing on PATH". Throws (with what to do) when
    /// another meltap serves there or the path is unusable.
    func start() throws {
        let header = Self.header(for: client)
        try publisher.start(header: header)
        headerSampleRate = header.sampleRate
        headerLatency = header.latencySamples
        print("meltap: publishing on \(publisher.socketPath)")
        fflush(nil)
    }

    /// Resends the header if the latency known after activation differs. Call once after
    /// `JackClient.start()` from the main thread, before frames flow matters little: the header
    /// is queued in order with frames.
    func refreshHeaderAfterActivation() {
        let header = Self.header(for: client)
        guard header.latencySamples != headerLatency else { return }
        headerLatency = header.latencySamples
        try? publisher.updateHeader(header)
    }

    /// Publishes one popped frame; on a `.reconfigured` frame with a new sample rate, sends the new
    /// header first. Consumer thread only.
    func publish(metadata: FrameMetadata, values: UnsafeBufferPointer<Float>) {
        if metadata.flags.contains(.reconfigured) {
            let header = Self.header(for: client)
            if header.sampleRate != headerSampleRate || header.latencySamples != headerLatency {
                headerSampleRate = header.sampleRate
                headerLatency = header.latencySamples
                try? publisher.updateHeader(header)
            }
        }
        publisher.publish(metadata: metadata, values: values)
    }

    /// Closes every connection and removes the socket file.
    func stop() { publisher.stop() }
}
