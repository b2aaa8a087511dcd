import ArgumentParser
import Foundation
import Glibc
import MelDSP
import MelJack
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

            Examples:
              meltap run --connect 'system:capture_.*'
              meltap run --inputs 2 --stream kws=whisper@16000 --stream viz=librosa
              meltap run --stream kws=kaldi@16000,n-mels=80 --stream viz=librosa
            """)

    @Option(help: "The JACK client name. JACK appends -01, -02 … when the name is taken.")
    var name: String = "meltap"

    @Option(help: "The number of input ports (channels). Without it, meltap registers one port per source port matched by --connect, or one port.")
    var inputs: Int?

    @Option(help: ArgumentHelp(
        "Connect output ports whose names match this regular expression to meltap's inputs, now and whenever a matching port appears. Repeat the option for several patterns.",
        valueName: "regex"))
    var connect: [String] = []

    @Flag(help: "Start a private JACK server (dummy backend, 48000 Hz, 256-sample periods) for this run and stop it on exit.")
    var startServer = false

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

    @Option(help: "Frames the realtime ring holds before frames are dropped (rounded up to a power of two).")
    var ringFrames: Int = 4096

    @Option(help: ArgumentHelp(
        "Hold each frame this many milliseconds in the realtime thread before handing it out, so that an xrun JACK reports late can still flag every frame built from damaged samples. Adds this much latency. With 0, frames finished before the xrun was reported can carry damaged samples without the xrun flag (see docs/realtime.md).",
        valueName: "ms"))
    var xrunHold: Double = 0

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

    @Option(help: ArgumentHelp("Permission bits of the socket file, in octal. Connecting to a Unix socket needs write permission on it: 600 lets only you connect, 660 your group too (read-write for the group). The socket is created with these bits before anyone can reach it.",
                               valueName: "octal"))
    var socketMode: String = "600"

    @Option(help: ArgumentHelp("Serve at most this many subscribers at once. The next one is told so (a refusal message its client prints) and disconnected.",
                               valueName: "count"))
    var maxSubscribers: Int = FramePublisher.defaultMaximumSubscribers

    @Option(help: ArgumentHelp("What to do with a subscriber that falls 5 s behind: drop (skip frames for it; its next frame carries the gap flag) or disconnect.",
                               valueName: "drop|disconnect"))
    var slowSubscriber: String = "drop"

    @OptionGroup var dsp: DSPOptions

    @OptionGroup(title: "Sample rate") var resampling: ResampleOptions

    func validate() throws {
        if let inputs, inputs < 1 || inputs > 64 {
            throw ValidationError("Please give --inputs between 1 and 64.")
        }
        if let duration, duration <= 0 { throw ValidationError("Please give a positive --duration in seconds.") }
        if ringFrames < 1 { throw ValidationError("Please give a positive --ring-frames.") }
        if !(0...2000).contains(xrunHold) {
            throw ValidationError("Please give --xrun-hold in milliseconds from 0 to 2000; got \(xrunHold).")
        }
        if let consumerPoll, !(0.1...1000).contains(consumerPoll) {
            throw ValidationError("Please give --consumer-poll in milliseconds from 0.1 to 1000; got \(consumerPoll).")
        }
        guard let mode = mode_t(socketMode, radix: 8), mode <= 0o777 else {
            throw ValidationError("Please give --socket-mode as octal permission bits, e.g. 600 or 660; got '\(socketMode)'.")
        }
        if mode & 0o200 == 0 {
            throw ValidationError("Please give a --socket-mode with owner write permission (e.g. 600 or 660): "
                                  + "connecting to a Unix socket needs write permission, so \(socketMode) would "
                                  + "lock out even you.")
        }
        if !(1...4096).contains(maxSubscribers) {
            throw ValidationError("Please give --max-subscribers from 1 to 4096; got \(maxSubscribers).")
        }
        if !["drop", "disconnect"].contains(slowSubscriber) {
            throw ValidationError("Please give --slow-subscriber as drop or disconnect; got '\(slowSubscriber)'.")
        }
        if socket != nil && socketDir != nil {
            throw ValidationError("Please give either --socket or --socket-dir, not both.")
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

    func run() throws {
        let streamOptions = try streamSpecs.map(StreamOption.parse)
        // Before any JACK call: refuse an n_fft for which FFTW allocates per frame.
        if streamOptions.isEmpty { try dsp.checkRealtimeSafe() }
        for stream in streamOptions {
            do { try stream.dsp.checkRealtimeSafe() } catch {
                throw RunError(description: "stream \(stream.name): \(error)")
            }
        }
        installStopHandlers()
        var server: PrivateJackServer?
        if startServer {
            server = try PrivateJackServer.start()
            print("meltap: started a private JACK server \"\(server!.name)\" (pid \(server!.process.processIdentifier)); "
                  + "connect sources with JACK_DEFAULT_SERVER=\(server!.name)")
        }
        defer { server?.stop() }

        var options = JackClientOptions()
        options.name = name
        options.inputCount = inputs
        options.connectPatterns = connect
        options.ringCapacity = ringFrames
        options.xrunHold = xrunHold / 1000
        options.wakesConsumer = consumerPoll == nil
        options.analysisSampleRate = resampling.requestedRate(preset: dsp.preset)
        options.resamplerQuality = resampling.resampler
        let dsp = self.dsp
        let specs: [JackStreamSpec]
        if streamOptions.isEmpty {
            specs = [JackStreamSpec(name: "", analysisSampleRate: options.analysisSampleRate) { rate in
                try dsp.resolve(sampleRate: rate)
            }]
        } else {
            specs = streamOptions.map { stream in
                let streamDSP = stream.dsp
                return JackStreamSpec(name: stream.name, analysisSampleRate: stream.requestedRate) { rate in
                    try streamDSP.resolve(sampleRate: rate)
                }
            }
        }
        let client: JackClient
        do {
            client = try JackClient(options: options, streams: specs)
        } catch {
            throw RunError(description: "\(error)")
        }
        let streams = client.streams
        let consumer = try FrameConsumer(
            client: client,
            dumpPaths: streams.map { stream in dumpFrames.map { stream.name.isEmpty ? $0 : "\($0).\(stream.name)" } },
            pollInterval: consumerPoll.map { $0 / 1000 } ?? 0.05)
        var publishings: [Publishing] = []
        defer { for publishing in publishings { publishing.stop() } }
        do {
            let mode = mode_t(socketMode, radix: 8) ?? 0o600
            if mode & 0o002 != 0 {
                printError("meltap: warning: --socket-mode \(socketMode) lets every user on this machine connect "
                           + "and read the features; 600 or 660 keep them to you or your group.")
            }
            for stream in streams {
                let publishing = try Publishing(stream: stream, socketPath: try socketPath(for: stream), fileMode: mode,
                                                policy: slowSubscriber == "disconnect" ? .disconnect : .dropFrames,
                                                maximumSubscribers: maxSubscribers)
                try publishing.start()
                publishings.append(publishing)
            }
        } catch {
            throw RunError(description: "\(error)")
        }
        consumer.publishings = publishings
        consumer.start()
        try client.start()
        for publishing in publishings { publishing.refreshHeaderAfterActivation() }
        let inputs = "client \(client.clientName), \(client.channelCount) input(s) \(client.portNames.joined(separator: " "))"
        func describe(_ stream: JackStream) -> String {
            let configuration = stream.configuration
            let resampled = stream.resampler.map {
                " (resampled from \(Int(client.inputSampleRate)) Hz with \($0.rawValue), latency \(stream.resamplerLatency) samples)"
            } ?? ""
            return "\(Int(configuration.sampleRate)) Hz\(resampled), preset \(configuration.preset), \(stream.frameWidth) values per frame, "
                + "algorithmic latency \(stream.algorithmicLatency) samples"
        }
        if streamOptions.isEmpty {
            print("meltap: \(inputs), \(describe(streams[0]))")
        } else {
            print("meltap: \(inputs), \(streams.count) stream(s)")
            for stream in streams { print("meltap: stream \(stream.name): \(describe(stream))") }
        }
        if let counts = client.hooks.rtguardCounts { print("meltap: rtguard loaded (\(counts.allocations) allocations so far)") }
        fflush(nil)

        let usageAtStart = ProcessCPU.now()
        waitForStop(seconds: duration)

        client.stop()
        consumer.stop()
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
    }
}

extension RunCommand {
    /// Where `stream` is served: `--socket` (one stream only); else `--socket-dir` or the default
    /// directory, with `CLIENT.sock` for the single stream and `CLIENT.NAME.sock` for a named one.
    func socketPath(for stream: JackStream) throws -> String? {
        if let socket { return socket }
        let file = stream.name.isEmpty ? stream.client.clientName : "\(stream.client.clientName).\(stream.name)"
        guard let socketDir else {
            return stream.name.isEmpty ? nil : try FramePublisher.defaultSocketPath(clientName: file)
        }
        return (socketDir.hasSuffix("/") ? socketDir : socketDir + "/") + file + ".sock"
    }
}

struct RunError: Error, CustomStringConvertible {
    var description: String
}

// MARK: Stopping on SIGINT / SIGTERM

/// Posted by the signal handler (`sem_post` is async-signal-safe). Allocated before the handler
/// is installed, so the handler never runs a lazy global initialiser.
nonisolated(unsafe) private var stopSemaphore: UnsafeMutablePointer<sem_t>?

private func stopSignalHandler(_ signal: Int32) {
    if let stopSemaphore { sem_post(stopSemaphore) }
}

private func installStopHandlers() {
    let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    sem_init(semaphore, 0, 0)
    stopSemaphore = semaphore
    signal(SIGINT, stopSignalHandler)
    signal(SIGTERM, stopSignalHandler)
    // A parent may have spawned us with these blocked (test runners do); threads created from
    // here on inherit the unblocked mask.
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &signals, nil)
}

/// Sleeps until SIGINT/SIGTERM or `seconds` (nil: forever).
private func waitForStop(seconds: Double?) {
    guard let semaphore = stopSemaphore else { return }
    let deadline = seconds.map { Date().addingTimeInterval($0) }
    while true {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var step = 0.5
        if let deadline {
            step = min(step, deadline.timeIntervalSinceNow)
            if step <= 0 { return }
        }
        let nanoseconds = Int(now.tv_nsec) + Int(step * 1e9)
        var wake = timespec(tv_sec: now.tv_sec + nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        if sem_timedwait(semaphore, &wake) == 0 { return }
    }
}

// MARK: Consumer

/// Pops frames off every stream's ring on its own thread, hands them to the stream's publisher
/// and, with dump paths, writes them to one file per stream. Also measures each frame's latency:
/// from the capture of the frame's last sample (JACK's clock) to the moment it is popped here,
/// just before it is published.
///
/// One thread for all streams: the realtime thread wakes it through the first stream's ring (at
/// most one `sem_post` per callback), and it watches every ring before it sleeps.
///
/// Dump format (little-endian): header `MTFD`, u32 version 1, u32 width, u32 channels,
/// f64 sample rate; then per frame: u64 sequence, u32 channel, u32 flags, i64 frame time,
/// `width` float32 values.
final class FrameConsumer: @unchecked Sendable {
    private let client: JackClient
    private let streams: [JackStream]
    private let rings: [FrameRing]
    /// Per stream: the dump file, or nil.
    private let files: [UnsafeMutablePointer<FILE>?]
    /// Per stream: one frame's values.
    private let values: [UnsafeMutablePointer<Float>]
    private let done = DispatchSemaphore(value: 0)
    private let stopping = ManagedFlag()
    /// Seconds the consumer sleeps at most between looks at the rings.
    private let pollInterval: Double
    private(set) var framesConsumed = 0
    /// Frame latencies in 50 µs buckets up to 1 s (the last bucket holds the rest); consumer thread.
    private var latencyBuckets = [Int](repeating: 0, count: 20_001)
    private var latencyMaximum: UInt64 = 0
    /// Per stream, in stream order: publishes every popped frame on the stream's socket; set
    /// before `start()`.
    var publishings: [Publishing] = []

    /// - Parameters:
    ///   - dumpPaths: per stream, a frame dump file to write, or nil.
    init(client: JackClient, dumpPaths: [String?], pollInterval: Double) throws {
        self.client = client
        streams = client.streams
        rings = client.rings
        self.pollInterval = pollInterval
        values = rings.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, $0.width)) }
        var files: [UnsafeMutablePointer<FILE>?] = []
        for (stream, dumpPath) in zip(streams, dumpPaths) {
            guard let dumpPath else { files.append(nil); continue }
            guard let file = fopen(dumpPath, "wb") else {
                for case let opened? in files { fclose(opened) }
                throw RunError(description: "Cannot create \(dumpPath) (\(String(cString: strerror(errno)))). Check the directory exists and is writable.")
            }
            files.append(file)
            var header = [UInt8]("MTFD".utf8)
            func append<T>(_ value: T) { withUnsafeBytes(of: value) { header.append(contentsOf: $0) } }
            append(UInt32(1).littleEndian)
            append(UInt32(stream.frameWidth).littleEndian)
            append(UInt32(client.channelCount).littleEndian)
            append(stream.configuration.sampleRate.bitPattern.littleEndian)
            fwrite(header, 1, header.count, file)
        }
        self.files = files
    }

    deinit { for buffer in values { buffer.deallocate() } }

    func start() {
        let thread = Thread { [self] in
            let others = Array(rings.dropFirst())
            while true {
                let last = stopping.isSet
                for index in rings.indices { drain(index) }
                if last { break }
                rings[0].wait(timeout: pollInterval, alsoWatching: others)
            }
            for case let file? in files { fclose(file) }
            done.signal()
        }
        thread.name = "meltap-consumer"
        thread.start()
    }

    /// Stops after draining what the rings hold. Call after the JACK client stopped.
    func stop() {
        stopping.set()
        done.wait()
    }

    /// "frame latency (last sample captured → popped for publishing): p50 … ms, p99 …, max …, N frames".
    var latencyReport: String {
        let total = latencyBuckets.reduce(0, +)
        guard total > 0 else { return "frame latency: no frames measured" }
        func percentile(_ p: Double) -> Double {
            let target = Int((Double(total) * p).rounded(.up))
            var seen = 0
            for (index, count) in latencyBuckets.enumerated() {
                seen += count
                if seen >= max(1, target) { return Double(index + 1) * 0.05 }
            }
            return Double(latencyBuckets.count) * 0.05
        }
        return "frame latency (last sample captured → popped for publishing): "
            + String(format: "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms over %d frames",
                     percentile(0.5), percentile(0.99), percentile(0.999), Double(latencyMaximum) / 1000, total)
    }

    private func drain(_ index: Int) {
        let ring = rings[index]
        let values = self.values[index]
        let file = files[index]
        let publishing = index < publishings.count ? publishings[index] : nil
        guard ring.count > 0 else { return }
        let configuration = streams[index].configuration
        // Frame times are JACK frames: the window's span in them, at the server's rate.
        let inputRate = client.inputSampleRate
        let span = Int64((Double(configuration.frameLength) * inputRate / configuration.sampleRate).rounded(.up))
        let periodMicroseconds = Int64((Double(client.blockLength) / inputRate * 1e6).rounded())
        while let metadata = ring.pop(into: values) {
            framesConsumed += 1
            // JACK dates sample f of a cycle's block at frames_to_time(f), inside the period in
            // which the block is processed; the dummy driver (like a sound card) captured it one
            // period earlier. So the frame's last sample L was captured at frames_to_time(L + 1)
            // minus one period (as LivePublishTests measures at the subscriber).
            if let times = client.captureTime(ofFrameTime: metadata.frameTime + span) {
                let captured = Int64(bitPattern: times.sample) - periodMicroseconds
                let microseconds = UInt64(max(0, Int64(bitPattern: times.now) - captured))
                latencyMaximum = max(latencyMaximum, microseconds)
                latencyBuckets[min(latencyBuckets.count - 1, Int(microseconds / 50))] += 1
            }
            publishing?.publish(metadata: metadata, values: UnsafeBufferPointer(start: values, count: ring.width))
            guard let file else { continue }
            var record = [UInt8]()
            record.reserveCapacity(24 + 4 * ring.width)
            func append<T>(_ value: T) { withUnsafeBytes(of: value) { record.append(contentsOf: $0) } }
            append(metadata.sequence.littleEndian)
            append(metadata.channel.littleEndian)
            append(metadata.flags.rawValue.littleEndian)
            append(metadata.frameTime.littleEndian)
            fwrite(record, 1, record.count, file)
            fwrite(values, MemoryLayout<Float>.stride, ring.width, file)
        }
    }
}

/// A thread-safe one-way flag.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

// MARK: Private server

/// A private dummy `jackd` for `--start-server`, stopped by PID on exit.
struct PrivateJackServer {
    let name: String
    let process: Process

    static func start() throws -> PrivateJackServer {
        let name = ProcessInfo.processInfo.environment["JACK_DEFAULT_SERVER"] ?? "meltap-\(getpid())"
        setenv("JACK_DEFAULT_SERVER", name, 1)
        guard let jackd = findExecutable("jackd"), let jackWait = findExecutable("jack_wait") else {
            throw RunError(description: "jackd or jack_wait is not on PATH. Install jackd2 "
                           + "(apt-get install --no-install-recommends jackd2).")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: jackd)
        process.arguments = ["--no-realtime", "--port-max", "128", "-d", "dummy", "-r", "48000", "-p", "256"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice  // xrun chatter; on failure we say how to see it
        try process.run()
        let wait = Process()
        wait.executableURL = URL(fileURLWithPath: jackWait)
        wait.arguments = ["-w", "-t", "10"]
        wait.standardOutput = FileHandle.nullDevice
        try wait.run()
        wait.waitUntilExit()
        guard wait.terminationStatus == 0, process.isRunning else {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            throw RunError(description: "The private JACK server \"\(name)\" did not start within 10 s. "
                           + "Run `jackd --no-realtime -d dummy` by hand to see why (a full /dev/shm is common).")
        }
        return PrivateJackServer(name: name, process: process)
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

// MARK: CPU use

/// The process's CPU time (every thread) against wall time, for the exit report.
struct ProcessCPU {
    /// Seconds of user and system CPU time, and of CLOCK_MONOTONIC.
    var user: Double, system: Double, wall: Double

    static func now() -> ProcessCPU {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return ProcessCPU(user: seconds(usage.ru_utime), system: seconds(usage.ru_stime),
                          wall: Double(clock.tv_sec) + Double(clock.tv_nsec) * 1e-9)
    }

    /// "CPU 0.41 s user + 0.12 s system over 20.0 s running = 2.7 % of one core".
    func share(since start: ProcessCPU) -> String {
        let user = self.user - start.user, system = self.system - start.system, wall = self.wall - start.wall
        let percent = wall > 0 ? 100 * (user + system) / wall : 0
        return "CPU \(String(format: "%.2f", user)) s user + \(String(format: "%.2f", system)) s system over "
            + "\(String(format: "%.1f", wall)) s running = \(String(format: "%.1f", percent)) % of one core (all threads)"
    }
}
