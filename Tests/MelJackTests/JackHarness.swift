import Foundation
import Glibc
import JackTestSupport
import MelDSP
import MelTransport
import Testing

/// The package root (this file is Tests/MelJackTests/JackHarness.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Release binaries: $MELTAP_BIN (set by scripts/test), else <root>/.build/release.
func releaseBinary(_ name: String) throws -> String {
    let directory = ProcessInfo.processInfo.environment["MELTAP_BIN"] ?? packageRoot.appendingPathComponent(".build/release").path
    let path = directory + "/" + name
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw HarnessError("\(path) is missing: build with `swift build -c release` (scripts/test does) "
                           + "or set MELTAP_BIN to the directory holding meltap and meltap-testsource.")
    }
    return path
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A scratch directory per test, removed by `cleanUp()`.
func scratchDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("meltap-jack-\(getpid())-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func findOnPath(_ name: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}

/// A child process whose stdout and stderr go to files; stopped by PID.
final class Child {
    let process = Process()
    let outputPath: String
    let errorPath: String
    let label: String

    init(_ executable: String, _ arguments: [String], environment: [String: String], directory: URL, label: String) throws {
        self.label = label
        outputPath = directory.appendingPathComponent("\(label).out").path
        errorPath = directory.appendingPathComponent("\(label).err").path
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : (findOnPath(executable) ?? executable))
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits up to `timeout` s; then SIGKILL. Returns the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Double = 20) -> Int32 {
        if process.isRunning { kill(pid, signal) }
        if !waitForExit(timeout: timeout) {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    /// Waits up to `timeout` seconds for the process to exit by itself.
    func waitForExit(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { return false }
        process.waitUntilExit()
        return true
    }
}

/// Polls `condition` every 50 ms for up to `timeout` seconds.
func eventually(timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}

nonisolated(unsafe) private var serverCounter = 0

/// Whether this process may give threads realtime (SCHED_FIFO) priority, as jackd -R needs:
/// root, or an rtprio limit.
let realtimeSchedulingAllowed: Bool = {
    var parameters = sched_param(sched_priority: 1)
    let previous = sched_getscheduler(0)
    var old = sched_param()
    sched_getparam(0, &old)
    guard sched_setscheduler(0, SCHED_FIFO, &parameters) == 0 else { return false }
    sched_setscheduler(0, previous, &old)
    return true
}()

/// A private dummy jackd for one test.
final class JackServer {
    let name: String
    let directory: URL
    /// jackd runs its (and its clients') process threads with SCHED_FIFO, as on an audio box.
    let realtime: Bool
    private(set) var period: Int
    private var child: Child?
    private var generation = 0

    /// - Parameter realtime: run with `-R` (realtime scheduling) when this process may; otherwise,
    ///   and by default, `--no-realtime`, where other load on the machine delays the callbacks
    ///   and JACK reports xruns.
    init(period: Int, directory: URL, realtime: Bool = false) throws {
        serverCounter += 1
        name = "meltap-test-\(getpid())-\(serverCounter)"
        self.period = period
        self.directory = directory
        self.realtime = realtime && realtimeSchedulingAllowed
        try start()
    }

    /// Environment for clients of this server. XDG_RUNTIME_DIR points into the test's own
    /// directory, so a `meltap run` without `--socket` binds a private default socket instead of
    /// `/tmp/meltap-<uid>/meltap.sock`, which another test run on the machine may be serving.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["JACK_DEFAULT_SERVER"] = name
        environment["JACK_NO_START_SERVER"] = "1"
        environment["XDG_RUNTIME_DIR"] = directory.path
        return environment
    }

    func start() throws {
        try launch()
        let wait = try Child("jack_wait", ["-w", "-t", "10"], environment: environment, directory: directory,
                             label: "jack_wait-\(generation)")
        guard wait.waitForExit(timeout: 20), wait.process.terminationStatus == 0 else {
            wait.stop()
            throw HarnessError("jackd \(name) did not start: \(child?.errors ?? "")" + jackStartHint)
        }
    }

    /// Starts jackd without waiting until it accepts clients (to kill it while it starts).
    func launch() throws {
        generation += 1
        let scheduling = realtime ? ["-R", "-P", "70"] : ["--no-realtime"]
        child = try Child("jackd", scheduling + ["--port-max", "128", "-d", "dummy", "-r", "48000", "-p", "\(period)"],
                          environment: environment, directory: directory, label: "jackd-\(generation)")
    }

    /// jackd's process ID, while it runs.
    var pid: Int32? { child?.process.isRunning == true ? child?.pid : nil }

    /// Sends `signal` (SIGTERM: a clean shutdown; SIGKILL: a crash, which keeps its registry slot
    /// until a jackd of the same name starts) and waits for jackd to exit.
    func stop(signal: Int32) {
        child?.stop(signal: signal, timeout: 15)
        child = nil
    }

    /// Kills the server with SIGKILL, as a crash would: it cannot unregister from JACK's registry.
    func kill() {
        child?.stop(signal: SIGKILL, timeout: 15)
        child = nil
    }

    /// Stops the server by PID and waits for it to exit.
    func stop() {
        child?.stop(signal: SIGTERM, timeout: 15)
        child = nil
    }

    /// Runs a JACK command-line tool against this server and returns its stdout.
    @discardableResult
    func tool(_ name: String, _ arguments: [String]) throws -> String {
        generation += 1
        let child = try Child(name, arguments, environment: environment, directory: directory, label: "\(name)-\(generation)")
        guard child.waitForExit(timeout: 20) else {
            child.stop()
            throw HarnessError("\(name) \(arguments) hung")
        }
        return child.output
    }

    func ports() -> [String] {
        ((try? tool("jack_lsp", [])) ?? "").split(separator: "\n").map(String.init)
    }

    /// Changes the period with `jack_bufsize` and records it.
    func setPeriod(_ period: Int) throws {
        try tool("jack_bufsize", ["\(period)"])
        self.period = period
    }
}

// MARK: Files written by meltap and the test source

/// One frame from a `meltap run --dump-frames` file.
typealias DumpedFrame = FrameDump.Frame

/// A `meltap run --dump-frames` file, read with MelTransport's codec.
struct DumpFile {
    var width: Int
    var channels: Int
    var sampleRate: Double
    var frames: [DumpedFrame]

    init(path: String) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        do {
            let (header, frames) = try FrameDump.decode(bytes)
            (width, channels, sampleRate, self.frames) = (header.width, header.channelCount, header.sampleRate, frames)
        } catch {
            throw HarnessError("\(path): \(error)")
        }
    }

    func frames(channel: Int) -> [DumpedFrame] { frames.filter { $0.metadata.channel == UInt32(channel) } }
}

// MARK: Offline reference

/// The configuration `meltap run --preset librosa` uses.
func librosaConfiguration(sampleRate: Double = 48000) -> MelConfiguration {
    MelPreset.librosa.configuration(sampleRate: sampleRate)
}

/// Compares one channel's live frames with offline frames computed from the samples the source
/// recorded at the same JACK frame times. Every live frame without a flag whose n_fft samples are
/// all known is recomputed from exactly those samples (frame-local: valid for outputs without
/// state across frames, like the librosa preset's power) and must be identical in every bit.
/// Flagged frames are skipped, exactly those: `.xrun` and `.discontinuity` say the window's
/// samples are not (or not at those times) what the source sent; `.gap`, `.serverRestart` and
/// `.reconfigured` mark a stream boundary.
/// Also checks the flags' promises between neighbours: the sequence number advances by 1 unless
/// the frame carries `.gap`, and frame time advances by hop_length per sequence step unless it
/// carries `.discontinuity` (or `.serverRestart` / `.reconfigured`, which come with it).
/// Returns the number of frames compared; records an issue for each mismatch.
@discardableResult
func compareLiveWithOffline(live: [DumpedFrame], record: SourceRecord, recordChannel: Int,
                            silenceBefore: Bool, silenceAfter: Bool, configuration: MelConfiguration,
                            sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
    guard !live.isEmpty else {
        Issue.record("no live frames on this channel", sourceLocation: sourceLocation)
        return 0
    }
    let analyzer = try MelAnalyzer(configuration: configuration, clampRule: .running)
    let fftLength = configuration.fftLength
    let flagged: FrameFlags = [.gap, .serverRestart, .reconfigured, .xrun, .discontinuity]
    let timeline: FrameFlags = [.discontinuity, .serverRestart, .reconfigured]
    var skippedXrun = 0, skippedDiscontinuity = 0
    var compared = 0
    var mismatches = 0
    for (k, frame) in live.enumerated() {
        if k > 0 {
            let previous = live[k - 1].metadata
            let steps = frame.metadata.sequence &- previous.sequence
            #expect(steps == 1 || (frame.metadata.flags.contains(.gap) && steps > 1 && steps < 1 << 32),
                    "sequence \(previous.sequence) → \(frame.metadata.sequence) (flags \(frame.metadata.flags.rawValue))",
                    sourceLocation: sourceLocation)
            if frame.metadata.flags.isDisjoint(with: timeline) {
                #expect(frame.metadata.frameTime - previous.frameTime == Int64(configuration.hopLength) * Int64(steps),
                        Comment(rawValue: "frame time \(previous.frameTime) → \(frame.metadata.frameTime) over "
                                + "\(steps) frame(s) without .discontinuity"), sourceLocation: sourceLocation)
            }
        }
        if frame.metadata.flags.contains(.xrun) { skippedXrun += 1 }
        if frame.metadata.flags.contains(.discontinuity) { skippedDiscontinuity += 1 }
        guard frame.metadata.flags.isDisjoint(with: flagged) else { continue }
        guard let window = record.window(channel: recordChannel, from: frame.metadata.frameTime, count: fftLength,
                                         silenceBefore: silenceBefore, silenceAfter: silenceAfter),
              window.contains(where: { $0 != 0 }) else { continue }
        compared += 1
        let expected = try offlineFrame(window: window, analyzer: analyzer)
        if frame.values != expected {
            mismatches += 1
            if ProcessInfo.processInfo.environment["MELTAP_TEST_KEEP"] != nil {
                print("MISMATCH seq \(frame.metadata.sequence) time \(frame.metadata.frameTime) flags \(frame.metadata.flags.rawValue)")
            }
            if mismatches <= 3 {
                let worst = zip(frame.values, expected).map { abs($0 - $1) }.max() ?? 0
                let message = "frame \(frame.metadata.sequence) (time \(frame.metadata.frameTime)) differs: live "
                    + "\(frame.values.prefix(3)), offline \(expected.prefix(3)), max |Δ| \(worst)"
                Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
            }
        }
    }
    #expect(mismatches == 0, "\(mismatches) of \(compared) frames differ", sourceLocation: sourceLocation)
    print("FLAGS: skipped \(skippedXrun) .xrun and \(skippedDiscontinuity) .discontinuity frames of \(live.count); compared \(compared)")
    return compared
}
