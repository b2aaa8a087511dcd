import Foundation
import Glibc
import MelDSP
import MelJack
import MelServer
import MelTransport
import MelSystem

/// Everything a live run needs beyond the JACK client's own options: where each stream is served
/// and how, and where frames are dumped.
public struct LiveSessionOptions {
    public var client: JackClientOptions
    /// One per stream, in order: name, analysis rate, and the configuration at a given rate.
    public var streams: [JackStreamSpec]
    /// The socket of a stream; nil places it by `socket` and `socketDirectory`.
    public var socketPath: (StreamDescription) throws -> String? = { _ in nil }
    /// The one stream's socket (`--socket`); nil: `socketDirectory`'s, or the default directory's.
    public var socket: String?
    /// The directory of the sockets (`--socket-dir`): `CLIENT.sock`, or `CLIENT.NAME.sock` for a
    /// named stream; nil: `FramePublisher.defaultSocketPath(clientName:)`'s directory.
    public var socketDirectory: String?
    /// Permission bits of every socket file.
    public var socketMode: mode_t = 0o600
    public var slowSubscriberPolicy: FramePublisher.SlowSubscriberPolicy = .dropFrames
    public var maximumSubscribers = FramePublisher.defaultMaximumSubscribers
    /// A frame dump file per stream (`FrameDump`), or nil for none.
    public var dumpPath: (StreamDescription) -> String? = { _ in nil }
    /// Seconds between the consumer's looks at the rings when the callback does not wake it.
    public var consumerPollInterval = 0.05
    /// More sinks per stream, after the publisher and the dump (an embedding program's own code).
    public var extraSinks: (StreamDescription) -> [any FrameSink] = { _ in [] }

    public init(client: JackClientOptions, streams: [JackStreamSpec]) {
        self.client = client
        self.streams = streams
    }
}

/// A running live pipeline: the JACK client (realtime callback and rings), one consumer thread,
/// and per stream a socket publisher plus optional dump and extra sinks.
///
/// Life: `init` registers the client and binds every socket (nothing flows yet); `start()`
/// activates; `stop()` deactivates, drains the rings into the sinks, and removes the sockets.
/// `meltap run` is this plus option parsing and printing; a test or another Swift program can
/// drive it the same way.
public final class LiveSession {
    public let client: JackClient
    public let streams: [JackStream]
    /// Per stream, in order.
    public let publishings: [StreamPublishing]
    public let consumer: FrameConsumer
    /// Per stream, in order: per-channel counts for `status()`.
    public let tallies: [ChannelTally]
    /// When `init` finished (monotonic seconds) and the process's CPU time then: `status()`'s
    /// uptime and CPU share count from here.
    public let startedAt: Double
    let cpuAtStart: ProcessCPU
    private var started = false
    private var stopped = false

    /// Registers the JACK client and binds one socket per stream.
    /// - Throws: `PipelineError` or the underlying error (JACK unreachable, a socket in use, a
    ///   dump path not writable), each saying what to do. Nothing is left bound on failure.
    public init(options: LiveSessionOptions) throws {
        do {
            client = try JackClient(options: options.client, streams: options.streams)
        } catch {
            throw PipelineError("\(error)")
        }
        streams = client.streams
        var publishings: [StreamPublishing] = []
        var sinks: [[any FrameSink]] = []
        let channelCount = client.channelCount
        let tallies = streams.map { _ in ChannelTally(channelCount: channelCount) }
        do {
            for stream in streams {
                let description = stream.description
                let path = try options.socketPath(description)
                    ?? Self.socketPath(client: client.clientName, stream: description.name,
                                       socket: options.socket, directory: options.socketDirectory)
                let publishing = StreamPublishing(
                    describe: { stream.description }, socketPath: path, fileMode: options.socketMode,
                    policy: options.slowSubscriberPolicy, maximumSubscribers: options.maximumSubscribers,
                    stats: {
                        // This stream's frames and drops; xruns are the client's (every stream shares them).
                        let counters = stream.counters
                        return StreamStats(frames: counters.frames, drops: counters.drops,
                                           xruns: stream.client.statistics().xruns)
                    })
                try publishing.start()
                publishings.append(publishing)
                var streamSinks: [any FrameSink] = [publishing, tallies[publishings.count - 1]]
                if let dump = options.dumpPath(description) {
                    streamSinks.append(try FrameDumpWriter(path: dump, stream: description))
                }
                streamSinks += options.extraSinks(description)
                sinks.append(streamSinks)
            }
        } catch {
            for publishing in publishings { publishing.stop() }
            throw error as? PipelineError ?? PipelineError("\(error)")
        }
        self.publishings = publishings
        self.tallies = tallies
        consumer = FrameConsumer(client: client, sinks: sinks,
                                 pollInterval: options.client.wakesConsumer ? 0.05 : options.consumerPollInterval)
        startedAt = monotonicNow()
        cpuAtStart = ProcessCPU.now()
        // Every stream's socket answers status requests. The closure holds the session until
        // `stop` clears it (a cycle through the publishers, broken there).
        let source = UncheckedSession(session: self)
        for publishing in publishings {
            publishing.publisher.setStatusSource { source.session.status().json() }
        }
    }

    deinit { stop() }

    /// Starts the consumer and activates the JACK client; then resends headers whose latency
    /// became known at activation.
    public func start() throws {
        guard !started else { return }
        started = true
        consumer.start()
        do {
            try client.start()
        } catch {
            throw PipelineError("\(error)")
        }
        for publishing in publishings { publishing.refreshHeaderAfterActivation() }
    }

    /// Deactivates the client, drains every ring into the sinks, closes every socket. Idempotent.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        if started {
            client.stop()
            consumer.stop()
        }
        for publishing in publishings {
            publishing.publisher.setStatusSource(nil)
            publishing.stop()
        }
    }

    /// Where a stream is served: `socket` (one stream only); else `directory`, or the default
    /// directory, with `CLIENT.sock` for the single stream and `CLIENT.NAME.sock` for a named one.
    /// Either directory is created when missing (mode 0700; `FramePublisher.createSocketDirectory`),
    /// as after a reboot when `--socket-dir` names a directory under /run/user.
    public static func socketPath(client: String, stream: String, socket: String?, directory: String?) throws -> String {
        if let socket { return socket }
        let file = stream.isEmpty ? client : "\(client).\(stream)"
        guard let directory else { return try FramePublisher.defaultSocketPath(clientName: file) }
        try FramePublisher.createSocketDirectory(directory)
        return (directory.hasSuffix("/") ? directory : directory + "/") + SocketDirectory.fileName(client: file)
    }

    /// One line per stream: "RATE Hz (resampled from … with …, latency N samples), preset P,
    /// W values per frame, algorithmic latency N samples".
    public static func describe(_ stream: StreamDescription) -> String {
        let configuration = stream.configuration
        let resampled = stream.resampler.map {
            " (resampled from \(Int(stream.inputSampleRate)) Hz with \($0), latency \(stream.resamplerLatency) samples)"
        } ?? ""
        return "\(Int(configuration.sampleRate)) Hz\(resampled), preset \(configuration.preset), \(stream.frameWidth) values per frame, "
            + "algorithmic latency \(configuration.algorithmicLatency) samples"
    }
}

/// Hands the session to the publishers' event-loop thread, which only reads it through `status()`
/// (client atomics, tally mutexes, publisher atomics).
private struct UncheckedSession: @unchecked Sendable {
    let session: LiveSession
}
