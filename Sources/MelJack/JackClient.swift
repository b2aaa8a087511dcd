import CJack
import Foundation
import Glibc
import MelDSP
import MelRealtime
import MelResample
import MelSystem
import MelTransport
import Synchronization

/// A JACK client that turns each input port into a stream of mel frames.
///
/// Life: `init` opens the client (never starting a server), builds one `MelAnalyzer` per
/// channel and registers the ports; `start()` activates and connects; `stop()` deactivates and
/// closes. Frames arrive in `ring` (one consumer thread pops them).
///
/// Threads: JACK's realtime thread runs the `RealtimeEngine` on preallocated state (`RealtimeState`);
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

    let state: UnsafeMutablePointer<RealtimeState>
    /// The engine's atomics (`state.pointee.engine.shared`).
    let shared: UnsafeMutablePointer<RealtimeShared>
    let stopping = Atomic<Bool>(false)
    let supervisorDone = DispatchSemaphore(value: 0)
    /// The server-bound libjack call in progress (watched by `stalledLibjackCall`): its start in
    /// CLOCK_MONOTONIC milliseconds << 8 | its `LibjackCall` raw value; 0 when none. One word, so
    /// a reader sees the call and its start together. Relaxed: a report, nothing is published.
    private let libjackCall = Atomic<UInt64>(0)
    /// Set when `stop()` gave up waiting for a libjack call (the call's name stays in `abandonedCall`).
    private let abandoned = Atomic<UInt64>(0)
    let mutable: Mutex<MutableState>

    /// State touched by the supervisor and read by others, under the mutex.
    struct MutableState: ~Copyable {
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
        /// Source port name → channel, for `--connect` sources whose port exists (released when
        /// it is gone).
        var assignment: [String: Int] = [:]
        /// Released `--connect` sources → the input they had, given back when the same name
        /// returns and the input is still free. At most one entry per input.
        var formerInputs: [String: Int] = [:]
        /// Per channel: source ports seen connected, restored after a restart.
        var remembered: [Set<String>]
        /// Matching sources told that no input is free (each told once while it waits).
        var reportedUnassigned: Set<String> = []
        /// Per channel: the output ports connected to it when the supervisor last looked, sorted.
        var connected: [[String]]
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
        for pattern in options.connectPatterns {
            if let problem = Self.connectPatternProblem(pattern) { throw JackClientError("--connect \(problem)") }
        }
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
                "Stream \(index + 1) has \(part.analyzers[0].frameWidth) values per frame (n_fft/2 + 1 with --features "
                + "spectrogram), more than a live stream carries (\(Self.maximumFrameWidth), n_fft 65536). Use a smaller "
                + "--n-fft, or analyse the recording offline with meltap file.")
        }
        rings = parts.map {
            FrameRing(width: $0.analyzers[0].frameWidth,
                      minimumCapacity: Self.ringCapacity(requested: options.ringCapacity, width: $0.analyzers[0].frameWidth))
        }

        let engine = RealtimeEngine(streams: parts, rings: rings, channelCount: channels, inputRate: rate,
                                    holdSeconds: options.xrunHold, wakesConsumer: options.wakesConsumer)
        shared = engine.shared
        let histogram = UnsafeMutablePointer<DurationHistogram>.allocate(capacity: 1)
        histogram.initialize(to: DurationHistogram())
        state = .allocate(capacity: 1)
        state.initialize(to: RealtimeState(
            client: client, ports: .prefaulted(count: channels, repeating: nil), channelCount: channels,
            buffers: .prefaulted(count: channels, repeating: nil), engine: engine, histogram: histogram, hooks: hooks))

        var assignment: [String: Int] = [:]
        for (index, name) in initialSources.prefix(channels).enumerated() { assignment[name] = index }
        mutable = Mutex(MutableState(
            configurations: configurations, inputSampleRate: rate,
            resamplerLookaheads: AnalyzerSet.lookaheads(parts),
            clientName: String(cString: jack_get_client_name(client)),
            assignment: assignment, remembered: Array(repeating: [], count: channels),
            connected: Array(repeating: [], count: channels)))
        try registerPortsAndCallbacks(client)
        ok = true
    }

    deinit {
        stop()
        if let client = state.pointee.client { jack_client_close(client) }
        state.pointee.engine.destroy()
        state.pointee.ports.deallocate()
        state.pointee.buffers.deallocate()
        state.pointee.histogram.deinitialize(count: 1)
        state.pointee.histogram.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
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
        warnAboutUnmatchedPatterns()
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
    func closeClient() {
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

    /// CLOCK_MONOTONIC in whole milliseconds (`monotonicNanoseconds()`).
    static func monotonicMilliseconds() -> UInt64 { monotonicNanoseconds() / 1_000_000 }

    /// Seconds since the start recorded in a `libjackCall` word (0 for none).
    static func secondsSince(_ word: UInt64) -> Double {
        word == 0 ? 0 : Double(monotonicMilliseconds() &- (word >> 8)) / 1000
    }

    func registerPortsAndCallbacks(_ client: OpaquePointer) throws {
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
}
