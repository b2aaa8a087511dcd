import CJack
import Foundation
import Glibc
import MelDSP
import MelResample
import MelTransport
import Synchronization

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

/// A JACK client that turns each input port into a stream of mel frames.
///
/// Life: `init` opens the client (never starting a server), builds one `MelAnalyzer` per
/// channel and registers the ports; `start()` activates and connects; `stop()` deactivates and
/// closes. Frames arrive in `ring` (one consumer thread pops them).
///
/// Threads: JACK's realtime thread runs `realtimeProcess` on preallocated `RealtimeState`;
/// JACK's notification thread only sets atomics; a supervisor thread (ours) reconnects after a
/// server shutdown, rebuilds analyzers after a sample-rate change, and makes connections.
public final class JackClient: @unchecked Sendable {
    /// The largest period everything is sized for, in samples (JACK's own maximum).
    public static var maximumBlockLength: Int { realtimeMaximumBlockLength }
    /// Builds the configuration for an analysis rate (called again after a sample-rate change).
    public typealias ConfigurationMaker = @Sendable (Double) throws -> MelConfiguration

    public let options: JackClientOptions
    /// The streams, in the order given (one, named "", without `--stream`).
    public let streamSpecs: [JackStreamSpec]
    /// One ring per stream (each stream has its own frame width). Consumer: one thread.
    public let rings: [FrameRing]
    /// The first stream's ring (the only one without `--stream`); its semaphore wakes the consumer
    /// for every stream.
    public var ring: FrameRing { rings[0] }
    /// The first stream's values per frame.
    public var frameWidth: Int { rings[0].width }
    /// Input ports / channels.
    public let channelCount: Int
    /// rtguard / RealtimeSanitizer hooks found at setup.
    public let hooks: RealtimeHooks

    private let state: UnsafeMutablePointer<RealtimeState>
    private let shared: UnsafeMutablePointer<RealtimeShared>
    private let stopping = Atomic<Bool>(false)
    private let supervisorDone = DispatchSemaphore(value: 0)
    /// The server-bound libjack call in progress (watched by `stalledLibjackCall`): its start in
    /// CLOCK_MONOTONIC milliseconds << 8 | its `LibjackCall` raw value; 0 when none. One word, so
    /// a reader sees the call and its start together. Relaxed: a report, nothing is published.
    private let libjackCall = Atomic<UInt64>(0)
    /// Set when `stop()` gave up waiting for a libjack call (the call's name stays in `abandonedCall`).
    private let abandoned = Atomic<UInt64>(0)
    private let mutable: Mutex<MutableState>

    /// State touched by the supervisor and read by others, under the mutex.
    private struct MutableState: ~Copyable {
        /// Per stream.
        var configurations: [MelConfiguration]
        /// The server's rate the analyzer sets were built for, Hz.
        var inputSampleRate: Double
        /// Per stream: input samples its resamplers read ahead (0 without resampling).
        var resamplerLookaheads: [Int]
        var clientName: String
        var active = false
        var supervisorRunning = false
        var restarts: UInt64 = 0
        var reconfigurations: UInt64 = 0
        var lastRestart = ContinuousClock.now
        /// Source port name → channel, for `--connect` sources.
        var assignment: [String: Int] = [:]
        /// Per channel: source ports seen connected, restored after a restart.
        var remembered: [Set<String>]
        var reportedUnassigned: Set<String> = []
    }

    /// Opens the client with one stream (the configuration maker's, at `options.analysisSampleRate`).
    /// - Throws: see `init(options:streams:)`.
    public convenience init(options: JackClientOptions, configuration makeConfiguration: @escaping ConfigurationMaker) throws {
        try self.init(options: options, streams: [JackStreamSpec(name: "", analysisSampleRate: options.analysisSampleRate,
                                                                 makeConfiguration: makeConfiguration)])
    }

    /// Opens the client and prepares everything the callback needs, for every stream.
    /// - Throws: `JackClientError` when no server runs (with how to start one), when a
    ///   configuration is invalid for the server's rate, or when ports cannot be registered.
    public init(options: JackClientOptions, streams: [JackStreamSpec]) throws {
        precondition(!streams.isEmpty, "JackClient needs at least one stream")
        RawFlags.check()
        setenv("JACK_NO_START_SERVER", "1", 1)
        _ = jackMessagesQuiet.load(ordering: .relaxed)  // initialise the global before libjack may call the function
        jack_set_error_function(meltapJackMessage)
        jack_set_info_function(meltapJackInfo)
        self.options = options
        self.streamSpecs = streams
        hooks = RealtimeHooks.lookUp()

        let client = try Self.openClient(name: options.name)
        var ok = false
        defer { if !ok { jack_client_close(client) } }

        let rate = Double(jack_get_sample_rate(client))
        let configurations = try Self.makeConfigurations(streams, inputRate: rate)
        var initialSources: [String] = []
        for pattern in options.connectPatterns {
            for name in Self.outputPorts(client, matching: pattern) where !initialSources.contains(name) {
                initialSources.append(name)
            }
        }
        let channels = options.inputCount ?? max(1, initialSources.count)
        guard channels >= 1 else { throw JackClientError("Please ask for at least one input (--inputs 1 or more).") }
        channelCount = channels

        let parts = try Self.makeParts(configurations, inputRate: rate, options: options, count: channels)
        for (index, part) in parts.enumerated() where part.analyzers[0].frameWidth > Self.maximumFrameWidth {
            throw JackClientError(
                "Stream \(index + 1) has \(part.analyzers[0].frameWidth) values per frame (n_fft/2 + 1 with --output "
                + "spectrogram), more than a live stream carries (\(Self.maximumFrameWidth), n_fft 65536). Use a smaller "
                + "--n-fft, or analyse the recording offline with meltap file.")
        }
        rings = parts.map {
            FrameRing(width: $0.analyzers[0].frameWidth,
                      minimumCapacity: Self.ringCapacity(requested: options.ringCapacity, width: $0.analyzers[0].frameWidth))
        }

        shared = .allocate(capacity: 1)
        shared.initialize(to: RealtimeShared())
        shared.pointee.serverSampleRate.store(UInt32(rate), ordering: .relaxed)
        let ports = UnsafeMutablePointer<OpaquePointer?>.allocate(capacity: channels)
        ports.initialize(repeating: nil, count: channels)
        let lanes = UnsafeMutablePointer<StreamLane>.allocate(capacity: streams.count)
        for (index, configuration) in configurations.enumerated() {
            // Room for every frame completed within the hold, plus one largest period's frames (in
            // analysis samples: a resampler may emit more than it reads).
            let holdSamples = AnalyzerSet.holdSamples(seconds: options.xrunHold, sampleRate: configuration.sampleRate)
            let owner = parts[index].resamplerOwner
            let largestAnalysedBlock = (owner >= 0 ? parts[owner].resamplers.first : nil)?
                .outputCapacity(forInputCount: realtimeMaximumBlockLength) ?? realtimeMaximumBlockLength
            let holdCapacity = (holdSamples + largestAnalysedBlock) / configuration.hopLength + 2
            (lanes + index).initialize(to: StreamLane(ring: rings[index], channels: channels, holdCapacity: holdCapacity))
        }
        let streamStart = UnsafeMutablePointer<Int64>.allocate(capacity: channels)
        streamStart.initialize(repeating: 0, count: channels)
        state = .allocate(capacity: 1)
        state.initialize(to: RealtimeState(
            client: client, ports: ports, channelCount: channels,
            set: AnalyzerSet.makeAll(parts, inputRate: rate, holdSeconds: options.xrunHold),
            lanes: lanes, laneCount: streams.count, wakeRing: .passUnretained(rings[0]),
            streamStart: streamStart, wakesConsumer: options.wakesConsumer,
            shared: shared, hooks: hooks))

        var assignment: [String: Int] = [:]
        for (index, name) in initialSources.prefix(channels).enumerated() { assignment[name] = index }
        mutable = Mutex(MutableState(
            configurations: configurations, inputSampleRate: rate,
            resamplerLookaheads: Self.lookaheads(parts),
            clientName: String(cString: jack_get_client_name(client)),
            assignment: assignment, remembered: Array(repeating: [], count: channels)))
        try registerPortsAndCallbacks(client)
        ok = true
    }

    deinit {
        stop()
        if let client = state.pointee.client { jack_client_close(client) }
        let laneCount = state.pointee.laneCount
        AnalyzerSet.destroyAll(state.pointee.set, count: laneCount)
        for handshake in [shared.pointee.pendingSet.exchange(0, ordering: .acquiring),
                          shared.pointee.retiredSet.exchange(0, ordering: .acquiring)] where handshake != 0 {
            AnalyzerSet.destroyAll(UnsafeMutablePointer<AnalyzerSet>(bitPattern: handshake)!, count: laneCount)
        }
        state.pointee.ports.deallocate()
        state.pointee.streamStart.deallocate()
        for lane in 0..<laneCount { state.pointee.lanes[lane].deallocate() }
        state.pointee.lanes.deinitialize(count: laneCount)
        state.pointee.lanes.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
        shared.deinitialize(count: 1)
        shared.deallocate()
    }

    // MARK: Public accessors

    /// The configuration frames are currently computed with (changes after a sample-rate change;
    /// frames computed with a new one carry `.reconfigured`).
    public var configuration: MelConfiguration { configuration(ofStream: 0) }

    /// The streams, in the order given.
    public var streams: [JackStream] { streamSpecs.indices.map { JackStream(client: self, index: $0) } }

    /// Stream `index`'s current configuration.
    public func configuration(ofStream index: Int) -> MelConfiguration { mutable.withLock { $0.configurations[index] } }

    /// The name JACK gave the client.
    public var clientName: String { mutable.withLock { $0.clientName } }

    /// Full names of our input ports, channel order (`meltap:in_1`…).
    public var portNames: [String] {
        let name = clientName
        return (1...channelCount).map { "\(name):in_\($0)" }
    }

    /// The server's sample rate the frames' input arrives at, Hz (the configuration's
    /// `sampleRate` is the analysis rate; they differ when resampling).
    public var inputSampleRate: Double { mutable.withLock { $0.inputSampleRate } }

    /// The resampler converting the input to the analysis rate, or nil when they are equal.
    public var resampler: ResamplerQuality? { resampler(ofStream: 0) }

    /// Stream `index`'s resampler, or nil when its analysis rate is the server's.
    public func resampler(ofStream index: Int) -> ResamplerQuality? {
        mutable.withLock { $0.inputSampleRate != $0.configurations[index].sampleRate } ? options.resamplerQuality : nil
    }

    /// The resampler's latency in analysis samples (its look-ahead, rounded up); 0 without one.
    public var resamplerLatency: Int { resamplerLatency(ofStream: 0) }

    /// Stream `index`'s resampler latency in its analysis samples; 0 without one.
    public func resamplerLatency(ofStream index: Int) -> Int {
        mutable.withLock {
            Int((Double($0.resamplerLookaheads[index]) * $0.configurations[index].sampleRate / $0.inputSampleRate).rounded(.up))
        }
    }

    /// Analysis samples between a frame's reference instant and its last input sample: n_fft/2 for
    /// centred framing (the frame is centred on its reference), the window length otherwise.
    public var algorithmicLatency: Int { algorithmicLatency(ofStream: 0) }

    /// Stream `index`'s algorithmic latency, in its analysis samples.
    public func algorithmicLatency(ofStream index: Int) -> Int {
        let configuration = configuration(ofStream: index)
        switch configuration.framing {
        case .centerZero, .centerReflect: return configuration.fftLength / 2
        case .none: return configuration.windowLength
        case .kaldiNoSnip: return configuration.windowLength - configuration.hopLength / 2
        }
    }

    /// Analysis samples each frame is held in the realtime thread before it is pushed (`xrunHold`).
    public var holdLatency: Int { holdLatency(ofStream: 0) }

    /// Stream `index`'s hold latency, in its analysis samples.
    public func holdLatency(ofStream index: Int) -> Int {
        AnalyzerSet.holdSamples(seconds: options.xrunHold, sampleRate: configuration(ofStream: index).sampleRate)
    }

    /// Stream `index`'s frames pushed and dropped (relaxed loads: a report).
    public func counters(ofStream index: Int) -> (frames: UInt64, drops: UInt64) {
        let counters = state.pointee.lanes[index].counters
        return (counters.pointee.frames.load(ordering: .relaxed), counters.pointee.drops.load(ordering: .relaxed))
    }

    /// The current JACK period in samples, from the buffer-size callback (0 before activation).
    /// One atomic load: cheap enough for a per-wake-up caller, unlike `statistics()`.
    public var blockLength: Int { Int(shared.pointee.blockLength.load(ordering: .relaxed)) }

    /// Capture latency of our inputs as last reported by the latency callback, in samples.
    public var captureLatency: ClosedRange<Int> {
        let low = Int(shared.pointee.captureLatencyMinimum.load(ordering: .relaxed))
        let high = Int(shared.pointee.captureLatencyMaximum.load(ordering: .relaxed))
        return low...max(low, high)
    }

    /// JACK's estimate of when the sample at `frameTime` was (or will be) captured, and JACK's
    /// clock now, both in microseconds of `jack_get_time` (CLOCK_MONOTONIC on Linux). Nil while
    /// no client is open. For latency reports off the realtime thread.
    public func captureTime(ofFrameTime frameTime: Int64) -> (sample: UInt64, now: UInt64)? {
        guard let client = state.pointee.client else { return nil }
        // jack_nframes_t is 32-bit and wraps; JACK resolves the wrap against its current cycle.
        return (jack_frames_to_time(client, jack_nframes_t(truncatingIfNeeded: frameTime)), jack_get_time())
    }

    /// The callback-duration histogram's buckets now (for Prometheus and `meltap status`). Any
    /// thread but the callback's (allocates).
    public func callbackDurationHistogram() -> DurationBuckets {
        shared.pointee.histogram.buckets()
    }

    /// A snapshot of the counters and the callback-duration histogram.
    public func statistics() -> JackStatistics {
        let (restarts, reconfigurations) = mutable.withLock { ($0.restarts, $0.reconfigurations) }
        let s = shared
        return JackStatistics(
            frames: s.pointee.frames.load(ordering: .relaxed), drops: s.pointee.drops.load(ordering: .relaxed),
            xruns: s.pointee.xruns.load(ordering: .relaxed), blocks: s.pointee.blocks.load(ordering: .relaxed),
            discontinuities: s.pointee.discontinuities.load(ordering: .relaxed),
            xrunFrames: s.pointee.xrunFrames.load(ordering: .relaxed),
            discontinuityFrames: s.pointee.discontinuityFrames.load(ordering: .relaxed),
            holdOverflows: s.pointee.holdOverflows.load(ordering: .relaxed),
            consumerWakeups: ring.wakeups,
            restarts: restarts, reconfigurations: reconfigurations,
            blockLength: blockLength,
            largestBlockLength: Int(s.pointee.largestBlockLength.load(ordering: .relaxed)),
            callbackDurations: s.pointee.histogram.summary())
    }

    // MARK: Life

    /// Activates the client, makes the `--connect` connections and starts the supervisor.
    public func start() throws {
        guard let client = state.pointee.client else { throw JackClientError("The JACK client is closed.") }
        let rc = libjack(.activate) { jack_activate(client) }
        guard rc == 0 else {
            throw JackClientError("jack_activate failed (\(rc)). Check the server's messages (jackd output).")
        }
        mutable.withLock { $0.active = true; $0.supervisorRunning = true }
        connectMatching()
        let thread = Thread { [self] in
            supervise()
            supervisorDone.signal()
        }
        thread.name = "meltap-supervisor"
        thread.start()
    }

    /// Stops the supervisor, which deactivates and closes the client as its last act. Idempotent.
    ///
    /// Bounded: returns within `options.stopDeadline` seconds whatever libjack does. When the
    /// supervisor is still inside a libjack call then (a wedged or half-started server never
    /// answers), the client is left as it is, untouched, and `abandonedCall` names the call; the
    /// supervisor thread keeps this object alive, so nothing it uses is freed under it.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shared.pointee.wakeSupervisor()
        if mutable.withLock({ $0.supervisorRunning }) {
            guard supervisorDone.wait(timeout: .now() + options.stopDeadline) == .success else {
                let stuck = libjackCall.load(ordering: .relaxed)
                abandoned.store(stuck == 0 ? UInt64(LibjackCall.unknown.rawValue) : stuck & 0xff, ordering: .relaxed)
                options.log("stopping without closing the JACK client: libjack has not returned from "
                            + "\(abandonedCall ?? "a call") for \(String(format: "%.1f", Self.secondsSince(stuck))) s "
                            + "(the server does not answer)")
                return
            }
        } else {
            closeClient()
        }
    }

    /// The libjack call `stop()` gave up waiting for, or nil when the client was closed.
    public var abandonedCall: String? {
        let raw = abandoned.load(ordering: .relaxed)
        return raw == 0 ? nil : LibjackCall(rawValue: UInt8(raw))?.name
    }

    /// The libjack call that has been running for more than `options.libjackCallLimit` seconds,
    /// and for how long; nil when none. Any thread (one atomic load).
    public func stalledLibjackCall() -> (call: String, seconds: Double)? {
        let current = libjackCall.load(ordering: .relaxed)
        guard current != 0, let call = LibjackCall(rawValue: UInt8(current & 0xff)) else { return nil }
        let seconds = Self.secondsSince(current)
        return seconds > options.libjackCallLimit ? (call.name, seconds) : nil
    }

    /// Deactivates (when active) and closes the client. Only the supervisor, or the caller of
    /// `stop()` when no supervisor runs.
    private func closeClient() {
        if let client = state.pointee.client {
            if mutable.withLock({ $0.active }) { _ = libjack(.deactivate) { jack_deactivate(client) } }
            libjack(.clientClose) { _ = jack_client_close(client) }
            state.pointee.client = nil
        }
        mutable.withLock { $0.active = false }
    }

    /// The server-bound libjack calls the watchdog names.
    enum LibjackCall: UInt8 {
        case unknown = 1, clientOpen, activate, deactivate, clientClose, portRegister, connect, getPorts
        var name: String {
            switch self {
            case .unknown: "libjack"
            case .clientOpen: "jack_client_open"
            case .activate: "jack_activate"
            case .deactivate: "jack_deactivate"
            case .clientClose: "jack_client_close"
            case .portRegister: "jack_port_register"
            case .connect: "jack_connect"
            case .getPorts: "jack_get_ports"
            }
        }
    }

    /// Runs `body`, a libjack call that waits for the server, with its name and start time in
    /// `libjackCall` for the watchdog. Not nested.
    @discardableResult
    func libjack<T>(_ call: LibjackCall, _ body: () throws -> T) rethrows -> T {
        libjackCall.store(Self.monotonicMilliseconds() << 8 | UInt64(call.rawValue), ordering: .relaxed)
        defer { libjackCall.store(0, ordering: .relaxed) }
        return try body()
    }

    static func monotonicMilliseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
    }

    /// Seconds since the start recorded in a `libjackCall` word (0 for none).
    static func secondsSince(_ word: UInt64) -> Double {
        word == 0 ? 0 : Double(monotonicMilliseconds() &- (word >> 8)) / 1000
    }

    // MARK: Supervisor

    private func supervise() {
        while !stopping.load(ordering: .acquiring) {
            waitForWork(seconds: 0.1)
            if stopping.load(ordering: .acquiring) { break }
            // Acquiring: pairs with the shutdown callback's releasing store.
            if shared.pointee.serverGone.exchange(false, ordering: .acquiring) {
                reconnectAfterShutdown()
                continue
            }
            collectRetired()
            if shared.pointee.connectionsChanged.exchange(false, ordering: .relaxed) { snapshotConnections() }
            if shared.pointee.portsChanged.exchange(false, ordering: .relaxed) { connectMatching() }
            let rate = Double(shared.pointee.serverSampleRate.load(ordering: .relaxed))
            if rate > 0, rate != mutable.withLock({ $0.inputSampleRate }) { reconfigure(rate: rate) }
        }
        // Here, not in stop(): a close that blocks on the server blocks this thread, which
        // stop() waits for with a deadline, never the thread that asked to stop.
        closeClient()
        mutable.withLock { $0.supervisorRunning = false }
    }

    private func waitForWork(seconds: Double) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nanoseconds = Int(now.tv_nsec) + Int(seconds * 1e9)
        var deadline = timespec(tv_sec: now.tv_sec + nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        _ = sem_timedwait(shared.pointee.supervisorWake, &deadline)
    }

    /// Frees an analyzer set the realtime thread has let go of.
    private func collectRetired() {
        // Acquiring: pairs with the realtime thread's releasing store; its last use is done.
        let retired = shared.pointee.retiredSet.exchange(0, ordering: .acquiring)
        if retired != 0 {
            AnalyzerSet.destroyAll(UnsafeMutablePointer<AnalyzerSet>(bitPattern: retired)!, count: state.pointee.laneCount)
        }
    }

    /// Builds analyzers for a new sample rate and hands them to the realtime thread, which picks
    /// them up at its next block start without waiting.
    private func reconfigure(rate: Double) {
        guard shared.pointee.pendingSet.load(ordering: .acquiring) == 0,
              shared.pointee.retiredSet.load(ordering: .acquiring) == 0 else { return }  // next round
        let configurations: [MelConfiguration]
        let parts: [AnalyzerSet.Parts]
        do {
            configurations = try Self.makeConfigurations(streamSpecs, inputRate: rate)
            parts = try Self.makeParts(configurations, inputRate: rate, options: options, count: channelCount)
        } catch {
            options.log("sample rate changed to \(Int(rate)) Hz but the analyzer cannot be rebuilt: \(error)")
            mutable.withLock { $0.inputSampleRate = rate }  // do not retry every round
            return
        }
        for (index, part) in parts.enumerated() where part.analyzers[0].frameWidth != rings[index].width {
            options.log("sample rate changed to \(Int(rate)) Hz and the frame width would change "
                        + "(\(rings[index].width) → \(part.analyzers[0].frameWidth)); restart meltap to apply it.")
            mutable.withLock { $0.inputSampleRate = rate }
            return
        }
        let set = AnalyzerSet.makeAll(parts, inputRate: rate, holdSeconds: options.xrunHold)
        mutable.withLock {
            $0.configurations = configurations
            $0.inputSampleRate = rate
            $0.resamplerLookaheads = Self.lookaheads(parts)
            $0.reconfigurations += 1
        }
        if state.pointee.client != nil && mutable.withLock({ $0.active }) {
            // Releasing: the sets are fully built before the realtime thread can see them.
            shared.pointee.pendingSet.store(Int(bitPattern: set), ordering: .releasing)
        } else {
            AnalyzerSet.destroyAll(state.pointee.set, count: state.pointee.laneCount)
            state.pointee.set = set
            state.pointee.needsStreamStart = true
            state.pointee.streamStartFlags |= RawFlags.reconfigured | RawFlags.discontinuity
        }
        options.log("sample rate is now \(Int(rate)) Hz; analyzers rebuilt")
    }

    /// The server went away: close, then poll `jack_client_open` with backoff (0.1 s doubling to
    /// 1 s) until a server is back; re-register, reactivate and reconnect. The next frames carry
    /// `.serverRestart|.discontinuity` (a new frame-time epoch; sequence numbers continue).
    private func reconnectAfterShutdown() {
        options.log("the JACK server went away; waiting for it to come back")
        mutable.withLock { $0.active = false }
        if let old = state.pointee.client {
            waitForShutdownThread()
            libjack(.clientClose) { _ = jack_client_close(old) }
            state.pointee.client = nil
        }
        var delay = 0.1
        jackMessagesQuiet.store(true, ordering: .relaxed)
        defer { jackMessagesQuiet.store(false, ordering: .relaxed) }
        while !stopping.load(ordering: .acquiring) {
            if let client = try? libjack(.clientOpen, { try Self.openClient(name: options.name) }) {
                if stopping.load(ordering: .acquiring) {  // stop() came while the open waited
                    libjack(.clientClose) { _ = jack_client_close(client) }
                    return
                }
                // No client is active: the realtime state is ours to change.
                collectRetired()
                let pending = shared.pointee.pendingSet.exchange(0, ordering: .acquiring)
                if pending != 0 {
                    AnalyzerSet.destroyAll(state.pointee.set, count: state.pointee.laneCount)
                    state.pointee.set = UnsafeMutablePointer<AnalyzerSet>(bitPattern: pending)!
                }
                for lane in 0..<state.pointee.laneCount { state.pointee.set[lane].resetAll() }
                state.pointee.client = client
                state.pointee.needsStreamStart = true
                state.pointee.streamStartFlags |= RawFlags.serverRestart | RawFlags.discontinuity
                state.pointee.expectedBlockStart = -1
                shared.pointee.serverSampleRate.store(jack_get_sample_rate(client), ordering: .relaxed)
                do { try registerPortsAndCallbacks(client) } catch {
                    options.log("\(error)")
                    libjack(.clientClose) { _ = jack_client_close(client) }
                    state.pointee.client = nil
                    continue
                }
                guard libjack(.activate, { jack_activate(client) }) == 0 else {
                    options.log("jack_activate failed after the restart; retrying")
                    libjack(.clientClose) { _ = jack_client_close(client) }
                    state.pointee.client = nil
                    continue
                }
                let name = String(cString: jack_get_client_name(client))
                mutable.withLock {
                    $0.active = true; $0.restarts += 1; $0.clientName = name; $0.lastRestart = .now
                }
                options.log("reconnected to the JACK server as \(name)")
                connectMatching()
                return
            }
            waitForWork(seconds: delay)  // stop() wakes it
            delay = min(delay * 2, 1)
        }
    }

    /// Waits (at most 5 s, or until `stop()`) for the libjack thread that delivered the shutdown
    /// to end by itself.
    ///
    /// jackd stopped by SIGTERM sends the shutdown notification first and then its last ones
    /// (clients and ports going away) before it closes the socket. libjack's notification thread
    /// handles each while holding its global synchro mutex (JackLibClient::ClientNotifyImp), and
    /// `jack_client_close` ends that thread with an asynchronous `pthread_cancel`: cancelled in
    /// there, the mutex stays locked, and the same `jack_client_close` blocks on it for good
    /// (JackClient::Close) — the hung restart of issue 21. Once the server closes the socket,
    /// the thread's read fails and it returns by itself; closing after that cancels nothing.
    private func waitForShutdownThread() {
        // Acquiring: pairs with the callback's releasing store (made before the flag was set).
        let thread = shutdownThread.load(ordering: .acquiring)
        guard thread != 0 else { return }
        let task = "/proc/self/task/\(thread)"  // gone as soon as the thread has exited
        let deadline = ContinuousClock.now + .seconds(5)
        while access(task, F_OK) == 0 && ContinuousClock.now < deadline && !stopping.load(ordering: .acquiring) {
            waitForWork(seconds: 0.01)
        }
        if access(task, F_OK) == 0 && !stopping.load(ordering: .acquiring) {
            options.log("libjack's notification thread is still running 5 s after the server went away; closing anyway")
        }
    }

    /// Registers `in_1`… and every callback. The client must be inactive.
    private func registerPortsAndCallbacks(_ client: OpaquePointer) throws {
        let audioType = meltap_jack_default_audio_type()
        for channel in 0..<channelCount {
            let port = libjack(.portRegister) {
                jack_port_register(client, "in_\(channel + 1)", audioType, UInt(JackPortIsInput.rawValue), 0)
            }
            guard let port else {
                throw JackClientError("Cannot register port in_\(channel + 1) (the server allows --port-max ports; "
                                      + "start jackd with a larger --port-max).")
            }
            state.pointee.ports[channel] = port
        }
        let context = UnsafeMutableRawPointer(state)
        jack_set_process_callback(client, meltapProcess, context)
        jack_set_buffer_size_callback(client, meltapBufferSize, context)
        jack_set_xrun_callback(client, meltapXrun, context)
        jack_set_sample_rate_callback(client, meltapSampleRate, context)
        jack_set_port_registration_callback(client, meltapPortRegistration, context)
        jack_set_port_connect_callback(client, meltapPortConnect, context)
        jack_set_latency_callback(client, meltapLatency, context)
        jack_on_info_shutdown(client, meltapShutdown, context)
    }

    /// Records which sources are connected to each input, so they can be restored after a
    /// server restart. A source that still exists but is no longer connected was disconnected
    /// on purpose and is forgotten (not within 2 s of a restart, while clients come back).
    private func snapshotConnections() {
        guard let client = state.pointee.client else { return }
        var current: [Set<String>] = []
        for channel in 0..<channelCount {
            current.append(Set(Self.strings(jack_port_get_connections(state.pointee.ports[channel]))))
        }
        mutable.withLock { locked in
            let settled = ContinuousClock.now - locked.lastRestart > .seconds(2)
            for channel in 0..<channelCount {
                if settled {
                    for name in locked.remembered[channel] where !current[channel].contains(name) {
                        if jack_port_by_name(client, name) != nil { locked.remembered[channel].remove(name) }
                    }
                }
                locked.remembered[channel].formUnion(current[channel])
            }
        }
    }

    /// Connects every output port matching a `--connect` pattern (one source per input, sticky),
    /// and restores remembered connections whose source exists.
    private func connectMatching() {
        guard let client = state.pointee.client else { return }
        let ours = portNames
        var sources: [String] = []
        for pattern in options.connectPatterns {
            for name in libjack(.getPorts, { Self.outputPorts(client, matching: pattern) }) where !sources.contains(name) {
                sources.append(name)
            }
        }
        var wanted: [(String, Int)] = []
        mutable.withLock { locked in
            for source in sources {
                if let channel = locked.assignment[source] { wanted.append((source, channel)); continue }
                let used = Set(locked.assignment.values)
                if let free = (0..<channelCount).first(where: { !used.contains($0) }) {
                    locked.assignment[source] = free
                    wanted.append((source, free))
                } else if locked.reportedUnassigned.insert(source).inserted {
                    options.log("no free input for \(source); start with more --inputs to take it")
                }
            }
            for (channel, names) in locked.remembered.enumerated() {
                for name in names where jack_port_by_name(client, name) != nil { wanted.append((name, channel)) }
            }
        }
        for (source, channel) in wanted {
            let rc = libjack(.connect) { jack_connect(client, source, ours[channel]) }
            if rc != 0 && rc != EEXIST {
                options.log("cannot connect \(source) to \(ours[channel]) (error \(rc))")
            }
        }
    }

    // MARK: Helpers

    /// Opens a client without starting a server.
    static func openClient(name: String) throws -> OpaquePointer {
        var status = jack_status_t(0)
        if let client = meltap_jack_client_open(name, JackNoStartServer, &status) { return client }
        let server = ProcessInfo.processInfo.environment["JACK_DEFAULT_SERVER"] ?? "default"
        if status.rawValue & JackServerFailed.rawValue != 0 || status.rawValue & JackServerError.rawValue != 0 {
            throw JackClientError(
                "No JACK server is running (server name \"\(server)\"). Start one, for example "
                + "`jackd -d dummy -r 48000 -p 256 &` (or `jackd -d alsa` for a sound card), "
                + "or use `meltap run --start-server`.")
        }
        throw JackClientError("Cannot open a JACK client named \"\(name)\" on server \"\(server)\" "
                              + "(status 0x\(String(status.rawValue, radix: 16))). Check the server's messages.")
    }

    static func makeAnalyzers(_ configuration: MelConfiguration, count: Int,
                              clampRule: ClampRule) throws -> [MelAnalyzer] {
        do {
            return try (0..<count).map { _ in try MelAnalyzer(configuration: configuration, clampRule: clampRule) }
        } catch {
            throw JackClientError("Invalid analyzer configuration: \(error)")
        }
    }

    /// Every stream's configuration at its analysis rate (its own, or `inputRate`).
    static func makeConfigurations(_ streams: [JackStreamSpec], inputRate: Double) throws -> [MelConfiguration] {
        try streams.map { stream in
            let analysisRate = stream.analysisSampleRate ?? inputRate
            let named = stream.name.isEmpty ? "" : "stream \(stream.name): "
            do { return try stream.makeConfiguration(analysisRate) } catch {
                throw JackClientError(analysisRate == inputRate
                    ? "\(named)Cannot configure the analyzer for the server's sample rate \(Int(inputRate)) Hz: \(error)"
                    : "\(named)Cannot configure the analyzer for the analysis rate \(Int(analysisRate)) Hz: \(error)")
            }
        }
    }

    /// Every stream's analyzers, and one prefaulted resampler per channel per distinct analysis
    /// rate other than `inputRate`, owned by the first stream at that rate.
    static func makeParts(_ configurations: [MelConfiguration], inputRate: Double, options: JackClientOptions,
                          count: Int) throws -> [AnalyzerSet.Parts] {
        var parts: [AnalyzerSet.Parts] = []
        for (index, configuration) in configurations.enumerated() {
            let analyzers = try makeAnalyzers(configuration, count: count, clampRule: options.clampRule)
            let rate = configuration.sampleRate
            guard rate != inputRate else {
                parts.append(AnalyzerSet.Parts(analyzers: analyzers, resamplers: [], resamplerOwner: -1))
                continue
            }
            if let owner = configurations.prefix(index).firstIndex(where: { $0.sampleRate == rate }) {
                parts.append(AnalyzerSet.Parts(analyzers: analyzers, resamplers: [], resamplerOwner: owner))
            } else {
                let resamplers = try makeResamplers(inputRate: inputRate, outputRate: rate,
                                                    quality: options.resamplerQuality, count: count)
                parts.append(AnalyzerSet.Parts(analyzers: analyzers, resamplers: resamplers, resamplerOwner: index))
            }
        }
        return parts
    }

    /// Per stream: the look-ahead of the resamplers it reads, in input samples (0 without).
    static func lookaheads(_ parts: [AnalyzerSet.Parts]) -> [Int] {
        parts.map { $0.resamplerOwner >= 0 ? parts[$0.resamplerOwner].resamplers.first?.lookahead ?? 0 : 0 }
    }

    /// One prefaulted resampler per channel from `inputRate` to `outputRate`.
    static func makeResamplers(inputRate: Double, outputRate: Double, quality: ResamplerQuality,
                               count: Int) throws -> [Resampler] {
        do {
            return try (0..<count).map { _ in
                try Resampler(inputRate: inputRate, outputRate: outputRate, quality: quality)
            }
        } catch {
            throw JackClientError("\(error)")
        }
    }

    /// Output audio ports matching `pattern`, sorted as JACK returns them.
    static func outputPorts(_ client: OpaquePointer, matching pattern: String) -> [String] {
        strings(jack_get_ports(client, pattern, meltap_jack_default_audio_type(), UInt(JackPortIsOutput.rawValue)))
    }

    /// Copies and frees a NULL-terminated `const char **` returned by JACK.
    static func strings(_ list: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> [String] {
        guard let list else { return [] }
        defer { jack_free(list) }
        var result: [String] = []
        var index = 0
        while let name = list[index] { result.append(String(cString: name)); index += 1 }
        return result
    }
}
