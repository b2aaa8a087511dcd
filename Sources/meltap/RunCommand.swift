import ArgumentParser
import Foundation
import Glibc
import MelDSP
import MelPipeline
import MelServer
import MelSystem

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
        "Connect output ports whose names match this regular expression (POSIX extended, as JACK reads them; matched anywhere in the full port name) to meltap's inputs, now and whenever a matching port appears. Each source takes the first free input and keeps it while its port exists; when the port goes (its client quit, or it was removed or renamed) the input is free for the next matching source, and a source that returns under its old name gets its old input back if it is still free. Every connection and disconnection is logged, and `meltap status` shows each input's source. Repeat the option for several patterns.",
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
        "A named feature stream from the same inputs, served on its own socket CLIENT.NAME.sock in the socket directory: NAME=PRESET[@RATE][,option=value…], e.g. kws=kaldi@16000,n-mels=80 or viz=librosa. The options are the feature options below without the dashes (\(FeatureOption.names.joined(separator: ", ")); output is the feature type, --features). Repeat for several streams; without it, one stream from --preset and the feature options.",
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
        "Publish frames on this Unix socket. Without it, NAME.sock in the default socket directory: \(SocketDirectory.rule). The path is printed at start.",
        valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp(
        "The directory of the sockets: CLIENT.sock, or with --stream CLIENT.NAME.sock for each stream. Without it, the default socket directory: \(SocketDirectory.rule). A missing directory is created with mode 0700 (as after a reboot, for a directory under /run/user); missing parents only inside your runtime or temporary directory.",
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

    @Option(help: ArgumentHelp(
        "Serve a live web view on http://ADDRESS:PORT/: a scrolling spectrogram of every stream and channel with its frequency axis, colour bar and xrun, gap and discontinuity marks, and the figures of meltap status, updated over a WebSocket. Every frame is sent (quantised to 8 bits per value), in batches 25 times a second. Off unless given. ADDRESS is loopback when omitted (:8080); anyone who can reach the port can read the page, every stream's features, the status (client and port names, socket paths, pid, CPU) and the Prometheus metrics at /metrics, with no password; nobody can change anything through it. A non-loopback ADDRESS also needs --http-allow-remote. Port 0 takes any free port. The URL is printed at start.",
        valueName: "address:port"))
    var http: String?

    @Flag(help: "Let --http listen on an address other machines can reach (0.0.0.0, ::, or a network interface's), exposing the features and status to everyone on that network. Without it, meltap refuses such an address.")
    var httpAllowRemote = false

    @Option(help: ArgumentHelp("Serve at most this many browsers at once on --http (default 8). They count apart from --max-subscribers. The next page is told why and closed. Each browser has its own queue: one that reads too slowly loses frames (shown as gaps on its page), never slowing the others.",
                               valueName: "count"))
    var httpMaxClients = 8

    @OptionGroup var dsp: DSPOptions

    /// The feature type's old spelling (before 0.2), now `--features`.
    @Option(name: .customLong("output"), help: .hidden)
    var legacyFeatures: OutputKind?

    @OptionGroup(title: "Sample rate") var resampling: ResampleOptions

    /// Checks the command line alone with `RunConfiguration.problems`, the one validator (a
    /// `--config` file, and the file with the command line over it, are checked in `run`).
    func validate() throws {
        if let http {
            guard let (host, _) = WebViewAddress.parse(http) else {
                throw ValidationError("Please give --http as ADDRESS:PORT (e.g. 127.0.0.1:8080, [::1]:8080 or :8080); got '\(http)'.")
            }
            if !WebViewAddress.isLoopback(host) && !httpAllowRemote {
                throw ValidationError("--http \(http) is reachable from other machines, and the page shows every stream's "
                                      + "features and the instance's status to anyone who opens it. Please add "
                                      + "--http-allow-remote to mean it, or give a loopback address such as 127.0.0.1:8080.")
            }
        }
        if !(1...1024).contains(httpMaxClients) {
            throw ValidationError("Please give --http-max-clients from 1 to 1024; got \(httpMaxClients).")
        }
        if let problem = try commandLineConfiguration().problems(spelling: .commandLine, resolving: false).first {
            throw ValidationError(problem.message)
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
        do {
            c.streams = try streamSpecs.map(RunConfiguration.StreamSettings.parse)
        } catch {
            throw ValidationError(error.description)
        }
        // With --stream, a top-level --preset is not used (as before config files); top-level
        // feature options and --sample-rate are refused (`problems`).
        c.features = .init(preset: c.streams.isEmpty ? dsp.presetChoice : nil, sampleRate: resampling.sampleRate,
                           overrides: try dsp.overrides(legacyFeatures: legacyFeatures))
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
        if let legacyFeatures {
            printDeprecation("--output \(legacyFeatures.rawValue)", instead: "--features \(legacyFeatures.rawValue)",
                             because: "--output names an output path in meltap file, record and invert.")
        }
        let configuration = try resolvedConfiguration()
        if printConfig {
            print(configuration.toml(), terminator: "")
            return
        }
        try configuration.checkRealtimeSafe()
        LiveSession.installStopSignals()
        var server: PrivateJackServer?
        if configuration.startServer == true {
            server = try PrivateJackServer.start()
            print("meltap: started a private JACK server \"\(server!.name)\" (pid \(server!.process.processIdentifier)); "
                  + "connect sources with JACK_DEFAULT_SERVER=\(server!.name)")
        }
        defer { server?.stop() }

        if let warning = configuration.socketModeWarning { printError("meltap: warning: \(warning)") }
        var options = LiveSessionOptions(configuration: configuration) { printError($0) }
        // The web view's sinks: every stream's frames, packed for browsers on the consumer thread.
        let webFeed = http.map { _ in WebViewFeed() }
        if let webFeed { options.extraSinks = { [webFeed.sink(for: $0)] } }
        let session = try LiveSession(options: options)
        defer { session.stop() }
        for line in session.socketReport { print(line) }
        fflush(nil)
        try session.start()
        var metricsServer: MetricsServer?
        defer { metricsServer?.stop() }
        if let address = configuration.metricsAddress, let (host, port) = MetricsAddress.parse(address) {
            metricsServer = try MetricsServer(host: host, port: port, session: session)
            let shown = host.contains(":") ? "[\(host)]" : host
            print("meltap: metrics on http://\(shown):\(metricsServer!.port)/metrics")
        }
        var webServer: WebViewServer?
        defer { webServer?.stop() }
        if let webFeed, let http, let (host, port) = WebViewAddress.parse(http) {
            webServer = try WebViewServer(host: host, port: port, session: session, feed: webFeed,
                                          maximumBrowsers: httpMaxClients)
            print("meltap: web view on \(webServer!.url)")
        }
        for line in session.startReport { print(line) }
        fflush(nil)

        let usageAtStart = ProcessCPU.now()
        let stalled = session.waitForStop(duration: configuration.duration) { printError($0) }

        metricsServer?.stop()
        if let webServer {
            let counts = webServer.counts
            webServer.stop()
            print("meltap: web view: \(counts.served) browser(s) served, \(counts.droppedFrames) frame(s) dropped for slow browsers")
        }
        session.stop()
        for line in session.stopReport(usageAtStart: usageAtStart) { print(line) }
        fflush(nil)
        if let failure = session.stopFailure(stalled: stalled) { throw failure }
    }
}
