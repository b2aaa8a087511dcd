import ArgumentParser
import Foundation
import Glibc
import MelDSP
import MelJack
import MelPipeline
import MelSystem
import MelServer
import MelTransport

/// `meltap run`: a live JACK client computing mel frames on every input port.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Compute mel spectrogram frames live from JACK input ports.",
        discussion: """
            meltap registers input ports in_1, in_2, … and computes one stream of frames per port \
            in the JACK realtime callback. It never starts a JACK server unless --start-server is \
            given. It runs until interrupted (Ctrl-C, SIGTERM) or for --duration seconds, then \
            prints frame counters and the distribution of process-callback durations.

            Several streams from one input: --stream NAME=PRESET[@RATE][,option=value…], repeated, \
            computes one feature stream per --stream from the same input ports and serves each on its \
            own socket, CLIENT.NAME.sock in the socket directory (--socket-dir). Options are meltap \
            file's feature options without the dashes. Streams at the same rate share one resampler \
            per channel. Without --stream, --preset and the feature options describe the one stream.

            A service reads its options from a TOML file: --config FILE (docs/config.md), with \
            command-line options overriding the file; --print-config prints the resolved \
            configuration as such a file. `meltap status` asks a running instance how it is doing, \
            and --metrics ADDRESS:PORT serves Prometheus metrics.

            Examples:
              meltap run --connect 'system:capture_.*'
              meltap run --inputs 2 --stream kws=whisper@16000 --stream viz=librosa
              meltap run --stream kws=kaldi@16000,n-mels=80 --stream viz=librosa
            """)

    @Option(help: ArgumentHelp(
        "Read the options from this TOML file (docs/config.md): the same settings as the command line, grouped in tables. Options given on the command line override the file's. An unknown key or a bad value stops meltap with the file, line and key.",
        valueName: "file"))
    var config: String?

    @Flag(help: "Print the resolved configuration (the --config file, the command line over it, and the defaults) as TOML and exit without starting. The output is a valid --config file.")
    var printConfig = false

    @Option(help: "The JACK client name (default meltap). JACK appends -01, -02 … when the name is taken.")
    var name: String?

    @Option(help: "The number of input ports (channels). Without it, meltap registers one port per source port matched by --connect, or one port.")
    var inputs: Int?

    @Option(help: ArgumentHelp(
        "Connect output ports whose names match this regular expression to meltap's inputs, now and whenever a matching port appears. Repeat the option for several patterns.",
        valueName: "regex"))
    var connect: [String] = []

    @Flag(inversion: .prefixedNo, help: "Start a private JACK server (dummy backend, 48000 Hz, 256-sample periods) for this run and stop it on exit (default: no).")
    var startServer: Bool?

    @Option(help: "Stop after this many seconds instead of waiting for Ctrl-C.")
    var duration: Double?

    @Option(help: ArgumentHelp(
        "Write every received frame to this file (meltap frame dump: see docs/realtime.md). With --stream, one file per stream, PATH.NAME. Meant for tests.",
        valueName: "path"))
    var dumpFrames: String?

    @Option(name: .customLong("stream"), help: ArgumentHelp(
        "A named feature stream from the same inputs, served on its own socket CLIENT.NAME.sock in the socket directory: NAME=PRESET[@RATE][,option=value…], e.g. kws=kaldi@16000,n-mels=80 or viz=librosa. The options are the feature options below without the dashes (n-fft, hop-length, win-length, window, framing, n-mels, fmin, fmax, mel-scale, mel-norm, power, output, n-mfcc, top-db, use-energy, fft-precision). Repeat for several streams; without it, one stream from --preset and the feature options.",
        valueName: "spec"))
    var streamSpecs: [String] = []

    @Option(help: "Frames the realtime ring holds before frames are dropped (rounded up to a power of two; default 4096).")
    var ringFrames: Int?

    @Option(help: ArgumentHelp(
        "Hold each frame this many milliseconds in the realtime thread before handing it out, so that an xrun JACK reports late can still flag every frame built from damaged samples. Adds this much latency. With 0 (the default), frames finished before the xrun was reported can carry damaged samples without the xrun flag (see docs/realtime.md).",
        valueName: "ms"))
    var xrunHold: Double?

    @Option(help: ArgumentHelp(
        "Let the frame consumer poll the realtime ring every this many milliseconds instead of being woken by the JACK callback. The callback then makes no system call at all, at the cost of up to this much extra latency. Without it, the callback wakes a sleeping consumer at most once per period.",
        valueName: "ms"))
    var consumerPoll: Double?

    @Option(help: ArgumentHelp(
        "Publish frames on this Unix socket. Without it, $XDG_RUNTIME_DIR/meltap/NAME.sock (or /tmp/meltap-UID/NAME.sock). The path is printed at start.",
        valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp(
        "The directory of the sockets: CLIENT.sock, or with --stream CLIENT.NAME.sock for each stream. Without it, $XDG_RUNTIME_DIR/meltap (or /tmp/meltap-UID).",
        valueName: "dir"))
    var socketDir: String?

    @Option(help: ArgumentHelp("Permission bits of the socket file, in octal (default 600). Connecting to a Unix socket needs write permission on it: 600 lets only you connect, 660 your group too (read-write for the group). The socket is created with these bits before anyone can reach it.",
                               valueName: "octal"))
    var socketMode: String?

    @Option(help: ArgumentHelp("Serve at most this many subscribers at once (default \(FramePublisher.defaultMaximumSubscribers)). The next one is told so (a refusal message its client prints) and disconnected.",
                               valueName: "count"))
    var maxSubscribers: Int?

    @Option(help: ArgumentHelp("What to do with a subscriber that falls 5 s behind: drop (the default: skip frames for it; its next frame carries the gap flag) or disconnect.",
                               valueName: "drop|disconnect"))
    var slowSubscriber: String?

    @Option(help: ArgumentHelp(
        "Serve Prometheus metrics (frames, drops, gaps, xruns, subscribers, the callback-duration histogram, with stream, preset, rate and resampler labels) on http://ADDRESS:PORT/metrics. Off unless given. ADDRESS is a host or IP, loopback when omitted (:9464); port 0 takes any free port. The URL is printed at start.",
        valueName: "address:port"))
    var metrics: String?

    @OptionGroup var dsp: DSPOptions

    @OptionGroup(title: "Sample rate") var resampling: ResampleOptions

    func validate() throws {
        if let inputs, inputs < 1 || inputs > 64 {
            throw ValidationError("Please give --inputs between 1 and 64.")
        }
        if let duration, duration <= 0 { throw ValidationError("Please give a positive --duration in seconds.") }
        if let ringFrames, ringFrames < 1 { throw ValidationError("Please give a positive --ring-frames.") }
        if let xrunHold, !(0...2000).contains(xrunHold) {
            throw ValidationError("Please give --xrun-hold in milliseconds from 0 to 2000; got \(xrunHold).")
        }
        if let consumerPoll, !(0.1...1000).contains(consumerPoll) {
            throw ValidationError("Please give --consumer-poll in milliseconds from 0.1 to 1000; got \(consumerPoll).")
        }
        if let socketMode {
            guard let mode = mode_t(socketMode, radix: 8), mode <= 0o777 else {
                throw ValidationError("Please give --socket-mode as octal permission bits, e.g. 600 or 660; got '\(socketMode)'.")
            }
            if mode & 0o200 == 0 {
                throw ValidationError("Please give a --socket-mode with owner write permission (e.g. 600 or 660): "
                                      + "connecting to a Unix socket needs write permission, so \(socketMode) would "
                                      + "lock out even you.")
            }
        }
        if let maxSubscribers, !(1...4096).contains(maxSubscribers) {
            throw ValidationError("Please give --max-subscribers from 1 to 4096; got \(maxSubscribers).")
        }
        if let slowSubscriber, !["drop", "disconnect"].contains(slowSubscriber) {
            throw ValidationError("Please give --slow-subscriber as drop or disconnect; got '\(slowSubscriber)'.")
        }
        if socket != nil && socketDir != nil {
            throw ValidationError("Please give either --socket or --socket-dir, not both.")
        }
        if let metrics, MetricsAddress.parse(metrics) == nil {
            throw ValidationError("Please give --metrics as ADDRESS:PORT, e.g. 127.0.0.1:9464 (or :9464 for loopback); got '\(metrics)'.")
        }
        let streams = try streamSpecs.map(StreamOption.parse)
        if !streams.isEmpty {
            if socket != nil {
                throw ValidationError("Please use --socket-dir with --stream: each stream gets its own socket, CLIENT.NAME.sock.")
            }
            if (try? dsp.overrides()) != MelOverrides() || resampling.sampleRate != nil {
                throw ValidationError("Please put feature options and rates inside each --stream (e.g. --stream kws=kaldi@16000,n-mels=80): "
                                      + "with --stream, the top-level feature options and --sample-rate are not used.")
            }
            var seen = Set<String>()
            for stream in streams where !seen.insert(stream.name).inserted {
                throw ValidationError("Please give each --stream its own name; '\(stream.name)' is used twice.")
            }
        }
    }

    /// What this command line gives, and nothing else (nil for every option left out), so that
    /// it can be laid over a `--config` file.
    func commandLineConfiguration() throws -> RunConfiguration {
        var c = RunConfiguration()
        c.clientName = name
        c.inputs = inputs
        c.connect = connect.isEmpty ? nil : connect
        c.startServer = startServer
        c.duration = duration
        c.ringFrames = ringFrames
        c.xrunHold = xrunHold
        c.consumerPoll = consumerPoll
        c.resampler = resampling.resamplerChoice
        c.dumpFrames = dumpFrames
        c.socket = socket
        c.socketDirectory = socketDir
        c.socketMode = socketMode
        c.maxSubscribers = maxSubscribers
        c.slowSubscriber = slowSubscriber
        c.metricsAddress = metrics
        c.streams = try streamSpecs.map(StreamOption.parse).map { stream in
            .init(name: stream.name, features: .init(preset: stream.dsp.preset, sampleRate: stream.sampleRate,
                                                     overrides: try stream.dsp.overrides()))
        }
        // With --stream, a top-level --preset is not used (as before config files).
        if c.streams.isEmpty {
            c.features = .init(preset: dsp.presetChoice, sampleRate: resampling.sampleRate, overrides: try dsp.overrides())
        }
        return c
    }

    /// The `--config` file (if any), this command line over it, and the defaults for the rest.
    /// - Throws: the file's `RunConfigurationError` (file, line, key), or a `PipelineError` when
    ///   the file and the command line together ask for something impossible.
    func resolvedConfiguration() throws -> RunConfiguration {
        let file = try config.map { path throws(RunConfigurationError) in try RunConfiguration.load(path: path) } ?? RunConfiguration()
        let resolved = file.overlaid(by: try commandLineConfiguration()).withDefaults()
        if let problem = resolved.problems().first {
            throw PipelineError("\(config.map { "\($0) with the command line" } ?? "the command line"): "
                                + "\(problem.key): \(problem.message)")
        }
        return resolved
    }

    func run() throws {
        let configuration = try resolvedConfiguration()
        if printConfig {
            print(configuration.toml(), terminator: "")
            return
        }
        // Before any JACK call: refuse an n_fft for which FFTW allocates per frame.
        for (name, features) in Self.streamFeatures(configuration) {
            do {
                try MelConfiguration.checkRealtimeSafe(fftLength: features.overrides.resolvedFFTLength(
                    preset: features.preset ?? .librosa, sampleRate: 48000))
            } catch {
                throw PipelineError(name.isEmpty ? "\(error)" : "stream \(name): \(error)")
            }
        }
        StopSignal.install()
        // SIGINT/SIGTERM end meltap within 2 s whatever libjack does: the orderly stop below
        // gives up on a wedged client after 1.2 s (JackClientOptions.stopDeadline); this catches
        // a libjack call on the main thread (opening or activating the client at start-up).
        StopSignal.exitIfStillRunning(secondsAfterSignal: 1.8) {
            "meltap: did not stop within 1.8 s of the stop signal: a libjack call on the main thread does not "
                + "return (the JACK server does not answer); exiting with status 1. Check jackd's messages."
        }
        var server: PrivateJackServer?
        if configuration.startServer == true {
            server = try PrivateJackServer.start()
            print("meltap: started a private JACK server \"\(server!.name)\" (pid \(server!.process.processIdentifier)); "
                  + "connect sources with JACK_DEFAULT_SERVER=\(server!.name)")
        }
        defer { server?.stop() }

        let socketMode = configuration.socketMode ?? "600"
        let mode = mode_t(socketMode, radix: 8) ?? 0o600
        if mode & 0o002 != 0 {
            printError("meltap: warning: socket mode \(socketMode) lets every user on this machine connect "
                       + "and read the features; 600 or 660 keep them to you or your group.")
        }
        let session = try LiveSession(options: sessionOptions(configuration))
        defer { session.stop() }
        for publishing in session.publishings {
            let name = publishing.stream.name
            print(name.isEmpty ? "meltap: publishing on \(publishing.socketPath)"
                  : "meltap: stream \(name) publishing on \(publishing.socketPath)")
        }
        fflush(nil)
        try session.start()
        var metricsServer: MetricsServer?
        defer { metricsServer?.stop() }
        if let address = configuration.metricsAddress, let (host, port) = MetricsAddress.parse(address) {
            metricsServer = try MetricsServer(host: host, port: port, session: session)
            let shown = host.contains(":") ? "[\(host)]" : host
            print("meltap: metrics on http://\(shown):\(metricsServer!.port)/metrics")
        }
        let client = session.client, streams = session.streams
        let inputs = "client \(client.clientName), \(client.channelCount) input(s) \(client.portNames.joined(separator: " "))"
        if configuration.streams.isEmpty {
            print("meltap: \(inputs), \(session.describe(streams[0]))")
        } else {
            print("meltap: \(inputs), \(streams.count) stream(s)")
            for stream in streams { print("meltap: stream \(stream.name): \(session.describe(stream))") }
        }
        if let counts = client.hooks.rtguardCounts { print("meltap: rtguard loaded (\(counts.allocations) allocations so far)") }
        fflush(nil)

        let usageAtStart = ProcessCPU.now()
        let stalled = Self.waitForStop(duration: configuration.duration, client: client)

        metricsServer?.stop()
        session.stop()
        let consumer = session.consumer
        let statistics = client.statistics()
        for stream in streams where !stream.name.isEmpty {
            let counters = stream.counters
            print("meltap: stream \(stream.name): frames \(counters.frames), dropped \(counters.drops)")
        }
        print("meltap: stopped. frames \(statistics.frames), written \(consumer.framesConsumed), dropped \(statistics.drops), "
              + "xruns \(statistics.xruns), restarts \(statistics.restarts), reconfigurations \(statistics.reconfigurations), "
              + "discontinuities \(statistics.discontinuities)")
        print("meltap: flagged frames: xrun \(statistics.xrunFrames), discontinuity \(statistics.discontinuityFrames); "
              + "hold overflows \(statistics.holdOverflows); consumer wake-ups from the callback "
              + "\(statistics.consumerWakeups) in \(statistics.blocks) callbacks")
        print("meltap: \(consumer.latencyReport)")
        print("meltap: periods: last \(statistics.blockLength), largest \(statistics.largestBlockLength) samples; "
              + "capture latency \(client.captureLatency.lowerBound)…\(client.captureLatency.upperBound) samples")
        print("meltap: \(statistics.callbackDurations)")
        print("meltap: \(ProcessCPU.now().share(since: usageAtStart))")
        if statistics.drops > 0 {
            print("meltap: frames were dropped because the consumer fell behind; raise --ring-frames.")
        }
        if let counts = client.hooks.rtguardCounts {
            print("rtguard: allocations \(counts.allocations), frees \(counts.frees), realtime regions \(counts.regions)")
        }
        if let counts = client.hooks.rtguardBlockingCounts {
            print("rtguard: in realtime regions: sem_post \(counts.posts) (at most \(counts.mostPostsInOneRegion) in one), "
                  + "mutex/condition calls \(counts.locks), other system-call wrappers \(counts.systemCalls)")
        }
        fflush(nil)
        if let stalled {
            throw PipelineError("libjack did not return from \(stalled.call) for \(Int(stalled.seconds)) s: the JACK server "
                                + "does not answer (wedged, or stuck starting). meltap exits so that its supervisor "
                                + "(systemd Restart=on-failure) starts it again; check jackd's messages.")
        }
        if let call = client.abandonedCall {
            throw PipelineError("stopped without closing the JACK client: libjack did not return from \(call) "
                                + "(the JACK server does not answer); check jackd's messages.")
        }
    }

    /// Sleeps until SIGINT/SIGTERM or `duration` seconds (nil: no limit), looking every 0.5 s
    /// whether a libjack call of the client's supervisor has run past its limit. Returns that
    /// stalled call, or nil when the wait ended normally.
    static func waitForStop(duration: Double?, client: JackClient) -> (call: String, seconds: Double)? {
        let deadline = duration.map { monotonicNow() + $0 }
        while true {
            let slice = deadline.map { min(0.5, $0 - monotonicNow()) } ?? 0.5
            if slice <= 0 || StopSignal.wait(seconds: slice) { return nil }
            if let stalled = client.stalledLibjackCall() {
                printError("meltap: libjack has not returned from \(stalled.call) for \(Int(stalled.seconds)) s; stopping")
                return stalled
            }
        }
    }

    /// Each stream's name ("" for the one stream without `[[stream]]`/`--stream`) and features.
    static func streamFeatures(_ c: RunConfiguration) -> [(name: String, features: RunConfiguration.FeatureSettings)] {
        c.streams.isEmpty ? [("", c.features)] : c.streams.map { ($0.name, $0.features) }
    }

    /// The live session a resolved configuration describes: client options, one stream spec per
    /// stream (or the one of `[features]`), sockets, dumps.
    func sessionOptions(_ c: RunConfiguration) -> LiveSessionOptions {
        var client = JackClientOptions()
        client.name = c.clientName ?? "meltap"
        client.inputCount = c.inputs
        client.connectPatterns = c.connect ?? []
        client.ringCapacity = c.ringFrames ?? 4096
        client.xrunHold = (c.xrunHold ?? 0) / 1000
        client.wakesConsumer = c.consumerPoll == nil
        client.analysisSampleRate = c.streams.isEmpty ? c.features.requestedRate : nil
        client.resamplerQuality = c.resampler ?? .standard
        let specs = Self.streamFeatures(c).map { name, features in
            let preset = features.preset ?? .librosa, overrides = features.overrides
            return JackStreamSpec(name: name, analysisSampleRate: features.requestedRate) { rate in
                let configuration = try overrides.resolve(preset: preset, sampleRate: rate)
                if let warning = configuration.emptyBandWarning { printError("warning: \(warning)") }
                return configuration
            }
        }
        var options = LiveSessionOptions(client: client, streams: specs)
        let socket = c.socket, socketDirectory = c.socketDirectory
        options.socketPath = { try Self.socketPath(for: $0, socket: socket, directory: socketDirectory) }
        options.socketMode = mode_t(c.socketMode ?? "600", radix: 8) ?? 0o600
        options.slowSubscriberPolicy = c.slowSubscriberPolicy
        options.maximumSubscribers = c.maxSubscribers ?? FramePublisher.defaultMaximumSubscribers
        let dumpFrames = c.dumpFrames
        options.dumpPath = { stream in dumpFrames.map { stream.name.isEmpty ? $0 : "\($0).\(stream.name)" } }
        if let consumerPoll = c.consumerPoll { options.consumerPollInterval = consumerPoll / 1000 }
        return options
    }
}

extension RunCommand {
    /// Where `stream` is served: `socket` (one stream only); else `directory` or the default
    /// directory, with `CLIENT.sock` for the single stream and `CLIENT.NAME.sock` for a named one.
    static func socketPath(for stream: JackStream, socket: String?, directory: String?) throws -> String? {
        if let socket { return socket }
        let file = stream.name.isEmpty ? stream.client.clientName : "\(stream.client.clientName).\(stream.name)"
        guard let directory else {
            return stream.name.isEmpty ? nil : try FramePublisher.defaultSocketPath(clientName: file)
        }
        return (directory.hasSuffix("/") ? directory : directory + "/") + file + ".sock"
    }
}
