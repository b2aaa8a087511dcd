import Foundation
import MelDSP
import MelResample
import MelTransport

/// What went wrong talking to JACK, and what to do about it.
extension JackClient {
    /// The widest frame a live stream carries: a spectrogram of n_fft 65536 (n_fft/2 + 1 bins),
    /// 128 KiB of float32, well inside a subscriber's 1 MiB frame limit.
    public static let maximumFrameWidth = 32769

    /// Frames a ring holds: the requested capacity, but at most 64 MiB of values, so wide
    /// spectrogram frames do not allocate (and prefault) gigabytes; never fewer than 64 frames.
    /// Mel-width frames (up to 4096 values) always get the full request.
    static func ringCapacity(requested: Int, width: Int) -> Int {
        min(requested, max(64, (64 << 20) / (4 * max(1, width))))
    }
}

public struct JackClientError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// How the JACK client is set up.
public struct JackClientOptions: Sendable {
    /// Requested client name; JACK appends `-01`… when it is taken.
    public var name: String = "meltap"
    /// Input ports (`in_1`…). Nil: one per source port matched by `connectPatterns` at start,
    /// at least 1.
    public var inputCount: Int?
    /// Regular expressions (JACK's `jack_get_ports` syntax) of output ports to connect to our
    /// inputs, now and whenever a matching port appears.
    public var connectPatterns: [String] = []
    /// Frames the ring holds before the realtime thread starts dropping.
    public var ringCapacity: Int = 4096
    /// Clamp rule for the analyzers (live: `.running`).
    public var clampRule: ClampRule = .running
    /// Seconds each computed frame is held in the realtime thread before it is pushed, so that
    /// an xrun JACK reports after the frame was computed can still flag it `.xrun`. 0: frames go
    /// out in the callback that computes them, and a frame completed before the notification
    /// arrived can carry damaged samples without the flag. Adds this much latency.
    public var xrunHold: Double = 0
    /// Whether the realtime thread wakes a sleeping consumer (at most one `sem_post` per
    /// callback). False: it never does, and the consumer must poll the ring.
    public var wakesConsumer = true
    /// The analysis rate in Hz (`--sample-rate`): when the server runs at another rate, every
    /// channel is resampled to it in the process callback. Nil: the server's rate.
    public var analysisSampleRate: Double?
    /// The resampler used when the analysis rate differs from the server's.
    public var resamplerQuality: ResamplerQuality = .standard
    /// Seconds a libjack call of the supervisor thread (`jack_client_open`, `jack_activate`,
    /// `jack_client_close`…) may go without returning before `stalledLibjackCall` reports it:
    /// libjack waits for the server's answer with no time limit, so a server that is wedged or
    /// half started holds the call forever. `meltap run` then exits with an error.
    public var libjackCallLimit: Double = 10
    /// Seconds `stop()` waits for the supervisor to deactivate and close the client before it
    /// gives up on a wedged libjack call and returns without touching the client.
    public var stopDeadline: Double = 1.2
    /// Where status messages go (the supervisor thread calls it).
    public var log: @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data(("meltap: " + message + "\n").utf8))
    }

    public init() {}
}

/// One feature stream of a `JackClient`: a name, an analysis rate and a configuration maker.
/// Every stream reads the same input ports; streams at the same analysis rate share one
/// resampler per channel.
public struct JackStreamSpec: Sendable {
    /// The stream's name (`--stream NAME=…`); empty for the single stream of a plain `meltap run`.
    public var name: String
    /// The analysis rate in Hz: when the server runs at another rate, every channel is resampled
    /// to it in the process callback. Nil: the server's rate.
    public var analysisSampleRate: Double?
    /// Builds the configuration for an analysis rate (called again after a sample-rate change).
    public var makeConfiguration: JackClient.ConfigurationMaker

    public init(name: String, analysisSampleRate: Double?, makeConfiguration: @escaping JackClient.ConfigurationMaker) {
        self.name = name
        self.analysisSampleRate = analysisSampleRate
        self.makeConfiguration = makeConfiguration
    }
}

/// A view of one stream of a `JackClient`: its ring (one consumer thread pops it), its frame
/// width and, through the client, its current configuration and latencies.
public struct JackStream: Sendable {
    public let client: JackClient
    /// Position in the client's stream list.
    public let index: Int
    public var name: String { client.streamSpecs[index].name }
    /// Frames out. Consumer: one thread.
    public var ring: FrameRing { client.rings[index] }
    /// Values per frame.
    public var frameWidth: Int { client.rings[index].width }
    public var configuration: MelConfiguration { client.configuration(ofStream: index) }
    public var resampler: ResamplerQuality? { client.resampler(ofStream: index) }
    public var resamplerLatency: Int { client.resamplerLatency(ofStream: index) }
    public var algorithmicLatency: Int { client.algorithmicLatency(ofStream: index) }
    public var holdLatency: Int { client.holdLatency(ofStream: index) }
    public var deferralLatency: Int { client.deferralLatency(ofStream: index) }
    /// Frames of this stream pushed into its ring, and frames its ring had no room for.
    public var counters: (frames: UInt64, drops: UInt64) { client.counters(ofStream: index) }
}

/// Counters and timings of a run.
public struct JackStatistics: Sendable {
    /// Frames pushed into the ring.
    public var frames: UInt64
    /// Frames dropped because the ring was full.
    public var drops: UInt64
    /// Xruns reported by JACK.
    public var xruns: UInt64
    /// Process callbacks run.
    public var blocks: UInt64
    /// Block starts that did not follow the previous block (missed cycles, buffer-size changes).
    public var discontinuities: UInt64
    /// Frames pushed with `.xrun` and with `.discontinuity`.
    public var xrunFrames: UInt64
    public var discontinuityFrames: UInt64
    /// Frames pushed before their hold ended because the hold was full.
    public var holdOverflows: UInt64
    /// Consumer wake-ups posted by the realtime thread (each a possible system call; at most one
    /// per callback).
    public var consumerWakeups: UInt64
    /// Server restarts survived.
    public var restarts: UInt64
    /// Analyzer rebuilds after sample-rate changes.
    public var reconfigurations: UInt64
    /// Current and largest period, in samples.
    public var blockLength: Int
    public var largestBlockLength: Int
    /// Process-callback durations.
    public var callbackDurations: DurationSummary
}
