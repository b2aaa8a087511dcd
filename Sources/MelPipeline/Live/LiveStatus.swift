// The health of a running live session: what `meltap status` prints (through the status message
// on every stream's socket, docs/wire-format.md) and what `--metrics` serves to Prometheus.
import Foundation
import Glibc
import MelJack
import MelTransport
import Synchronization
import MelSystem

/// A running instance's status, as the status message's JSON carries it. Field names are the
/// JSON keys; durations say their unit in the name. Readers ignore keys they do not know, so
/// later versions may add keys (and raise `version` only for changes of meaning).
public struct LiveStatus: Codable, Sendable, Equatable {
    /// The document's version: 1.
    public var version: Int
    public var meltapVersion: String
    public var pid: Int32
    /// The JACK client name.
    public var client: String
    /// Seconds since the session started.
    public var uptimeSeconds: Double
    /// The JACK server's rate, Hz, and its current period in samples.
    public var inputSampleRate: Double
    public var blockLength: Int
    /// Xruns JACK reported, server restarts survived, block starts that did not follow the
    /// previous block (all streams share them).
    public var xruns: UInt64
    public var restarts: UInt64
    public var discontinuities: UInt64
    public var callbacks: Callbacks
    public var cpu: CPU
    public var streams: [Stream]

    /// Process-callback durations since start.
    public struct Callbacks: Codable, Sendable, Equatable {
        public var count: UInt64
        /// Microseconds; percentiles are the upper bounds of their histogram bucket (±12 %), the
        /// maximum exact.
        public var p50Microseconds: Double
        public var p99Microseconds: Double
        public var p999Microseconds: Double
        public var maximumMicroseconds: Double
        public var meanMicroseconds: Double
        /// The period these are a share of: blockLength / inputSampleRate, in microseconds.
        public var periodMicroseconds: Double
        /// The same durations as a share of the period (1 = the whole period).
        public var p50Share: Double
        public var p99Share: Double
        public var p999Share: Double
        public var maximumShare: Double
        /// Cumulative histogram: callbacks that took at most `upperBoundSeconds`; the last bucket
        /// is +Inf (written as nil).
        public var buckets: [Bucket]
        /// Sum of all durations, seconds.
        public var sumSeconds: Double
    }

    public struct Bucket: Codable, Sendable, Equatable {
        public var upperBoundSeconds: Double?
        public var cumulativeCount: UInt64
    }

    /// The process's CPU time since the session started.
    public struct CPU: Codable, Sendable, Equatable {
        public var userSeconds: Double
        public var systemSeconds: Double
        /// (user + system) / wall time: 0.05 is 5 % of one core.
        public var shareOfOneCore: Double
    }

    public struct Stream: Codable, Sendable, Equatable {
        /// The `--stream` name; "" for the one stream of a plain `meltap run`.
        public var name: String
        public var socket: String
        public var preset: String
        /// The analysis rate, Hz, and the resampler ("none" without one).
        public var sampleRate: Double
        public var resampler: String
        public var hopLength: Int
        /// Values per frame.
        public var frameWidth: Int
        /// Frames pushed into the realtime ring and dropped because it was full (all channels).
        public var frames: UInt64
        public var drops: UInt64
        /// Subscribers connected now (status queries not counted), and frames not delivered to
        /// some subscriber since start.
        public var subscribers: Int
        public var subscriberDrops: UInt64
        public var channels: [Channel]
    }

    public struct Channel: Codable, Sendable, Equatable {
        /// 1-based, as the port `in_N`.
        public var channel: Int
        public var port: String
        /// Frames the consumer popped for this channel.
        public var frames: UInt64
        /// Frames per second over the last full second (0 before one has passed).
        public var frameRate: Double
        /// Gaps (jumps of the sequence number) and the frames lost in them: ring-full drops.
        public var gaps: UInt64
        public var lostFrames: UInt64
        /// Frames flagged xrun and discontinuity.
        public var xrunFrames: UInt64
        public var discontinuityFrames: UInt64
        /// The output ports connected to the input now, sorted (`JackClient.inputSources`); nil
        /// in the status of an instance older than this field.
        public var sources: [String]?
    }

    /// The JSON document, keys sorted.
    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { [UInt8]($0) } ?? Array("{}".utf8)
    }

    /// Decodes a status message's JSON.
    public static func decode(_ json: [UInt8]) throws -> LiveStatus {
        try JSONDecoder().decode(LiveStatus.self, from: Data(json))
    }
}

/// Counts one stream's frames per channel as the consumer pops them: frames, sequence gaps and
/// lost frames, xrun and discontinuity flags, and the frame rate over the last full second.
///
/// Threads: `consume` on the consumer thread; `snapshot` from any thread (a mutex, never taken
/// on the JACK callback).
public final class ChannelTally: FrameSink, @unchecked Sendable {
    struct Counts {
        var frames: UInt64 = 0
        var gaps: UInt64 = 0
        var lostFrames: UInt64 = 0
        var xrunFrames: UInt64 = 0
        var discontinuityFrames: UInt64 = 0
        var lastSequence: UInt64?
        /// Start (monotonic seconds) and frames of the current one-second window; the rate of
        /// the last complete one.
        var windowStart: Double = 0
        var windowFrames: UInt64 = 0
        var rate: Double = 0
    }

    private let counts: Mutex<[Counts]>

    public init(channelCount: Int) {
        counts = Mutex([Counts](repeating: Counts(), count: channelCount))
    }

    public func consume(metadata: FrameMetadata, values: UnsafeBufferPointer<Float>) {
        let now = monotonicNow()
        counts.withLock { counts in
            let index = Int(metadata.channel)
            guard counts.indices.contains(index) else { return }
            var c = counts[index]
            c.frames += 1
            if let last = c.lastSequence, metadata.sequence > last + 1 {
                c.gaps += 1
                c.lostFrames += metadata.sequence - last - 1
            } else if metadata.flags.contains(.gap) {
                c.gaps += 1
            }
            c.lastSequence = metadata.sequence
            if metadata.flags.contains(.xrun) { c.xrunFrames += 1 }
            if metadata.flags.contains(.discontinuity) { c.discontinuityFrames += 1 }
            if c.windowStart == 0 { c.windowStart = now }
            c.windowFrames += 1
            if now - c.windowStart >= 1 {
                c.rate = Double(c.windowFrames) / (now - c.windowStart)
                c.windowStart = now
                c.windowFrames = 0
            }
            counts[index] = c
        }
    }

    /// Per channel, in channel order.
    func snapshot() -> [Counts] { counts.withLock { $0 } }
}

extension LiveSession {
    /// The session's status now. Any thread; allocates (never call it from the JACK callback).
    public func status() -> LiveStatus {
        let statistics = client.statistics()
        let rate = client.inputSampleRate
        let block = statistics.blockLength
        let period = rate > 0 && block > 0 ? Double(block) / rate * 1e6 : 0
        let durations = statistics.callbackDurations
        func share(_ microseconds: Double) -> Double { period > 0 ? microseconds / period : 0 }
        let histogram = client.callbackDurationHistogram()
        var cumulative: UInt64 = 0
        let buckets = histogram.buckets.map { bucket -> LiveStatus.Bucket in
            cumulative += bucket.count
            return LiveStatus.Bucket(upperBoundSeconds: bucket.upperBoundNanoseconds.map { Double($0) / 1e9 },
                                     cumulativeCount: cumulative)
        }
        let cpuNow = ProcessCPU.now()
        let wall = cpuNow.wall - cpuAtStart.wall
        let user = cpuNow.user - cpuAtStart.user, system = cpuNow.system - cpuAtStart.system
        let ports = client.portNames, sources = client.inputSources
        let streamStatus = zip(zip(streams, publishings), tallies).map { pair, tally -> LiveStatus.Stream in
            let (stream, publishing) = pair
            let description = stream.description, configuration = description.configuration
            let counters = stream.counters
            let channels = tally.snapshot().enumerated().map { index, c in
                LiveStatus.Channel(channel: index + 1, port: index < ports.count ? ports[index] : "in_\(index + 1)",
                                   frames: c.frames, frameRate: c.rate, gaps: c.gaps, lostFrames: c.lostFrames,
                                   xrunFrames: c.xrunFrames, discontinuityFrames: c.discontinuityFrames,
                                   sources: index < sources.count ? sources[index] : [])
            }
            return LiveStatus.Stream(
                name: description.name, socket: publishing.socketPath, preset: configuration.preset,
                sampleRate: configuration.sampleRate, resampler: description.resampler ?? "none",
                hopLength: configuration.hopLength, frameWidth: description.frameWidth,
                frames: counters.frames, drops: counters.drops,
                subscribers: publishing.publisher.subscriberCount,
                subscriberDrops: publishing.publisher.subscriberDropCount, channels: channels)
        }
        return LiveStatus(
            version: 1, meltapVersion: meltapVersion, pid: getpid(), client: client.clientName,
            uptimeSeconds: monotonicNow() - startedAt, inputSampleRate: rate, blockLength: block,
            xruns: statistics.xruns, restarts: statistics.restarts, discontinuities: statistics.discontinuities,
            callbacks: .init(count: durations.count, p50Microseconds: durations.p50, p99Microseconds: durations.p99,
                             p999Microseconds: durations.p999, maximumMicroseconds: durations.maximum,
                             meanMicroseconds: durations.mean, periodMicroseconds: period,
                             p50Share: share(durations.p50), p99Share: share(durations.p99),
                             p999Share: share(durations.p999), maximumShare: share(durations.maximum),
                             buckets: buckets, sumSeconds: Double(histogram.sumNanoseconds) / 1e9),
            cpu: .init(userSeconds: user, systemSeconds: system, shareOfOneCore: wall > 0 ? (user + system) / wall : 0),
            streams: streamStatus)
    }
}
