// `meltap run` publishing on its socket, end to end: a private dummy jackd, the built meltap and
// meltap-testsource, the Swift client (MeltapClient) and the Python example client.
import CJack
import Foundation
import Glibc
import JackTestSupport
import MelDSP
import MelFiles
import MeltapClient
import Testing

// MARK: Harness (a small copy of Tests/MelJackTests/JackHarness.swift for this target)

/// The folder holding meltap and meltap-testsource: $MELTAP_BIN, else .build/release.
func liveBinary(_ name: String) throws -> String {
    let folder = ProcessInfo.processInfo.environment["MELTAP_BIN"]
        ?? FileCommandTests.packageRoot.appendingPathComponent(".build/release").path
    let path = folder + "/" + name
    try #require(FileManager.default.isExecutableFile(atPath: path),
                 "\(path) is missing: build with `swift build -c release` or set MELTAP_BIN to the build folder")
    return path
}

/// `.venv/bin/python` under the package root, else `python3` on PATH, if it imports numpy.
func livePython() throws -> String {
    var candidates = [FileCommandTests.packageRoot.appendingPathComponent(".venv/bin/python").path]
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        candidates.append(directory + "/python3")
    }
    for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: candidate)
        process.arguments = ["-c", "import numpy"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { continue }
        process.waitUntilExit()
        if process.terminationStatus == 0 { return candidate }
    }
    throw LiveError("no python with numpy: run scripts/install-deps (it creates .venv with numpy)")
}

struct LiveError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 50 ms for up to `timeout` seconds.
func liveEventually(timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}

/// A child process with stdout/stderr in files; stopped by PID.
final class LiveChild: @unchecked Sendable {
    let process = Process()
    let outputPath: String
    let errorPath: String

    init(_ executable: String, _ arguments: [String], environment: [String: String], directory: String, label: String) throws {
        outputPath = directory + "/\(label).out"
        errorPath = directory + "/\(label).err"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        var resolved = executable
        if !executable.hasPrefix("/") {
            for folder in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            where access("\(folder)/\(executable)", X_OK) == 0 {
                resolved = "\(folder)/\(executable)"
                break
            }
        }
        process.executableURL = URL(fileURLWithPath: resolved)
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

    /// Sends `signal`, waits up to `timeout` s, then SIGKILL. Returns the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Double = 20) -> Int32 {
        if process.isRunning { kill(pid, SIGCONT); kill(pid, signal) }
        if !waitForExit(timeout: timeout) {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    func waitForExit(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { return false }
        process.waitUntilExit()
        return true
    }
}

nonisolated(unsafe) private var liveServerCounter = 0

/// One test's private dummy jackd, its scratch directory and every process it starts.
final class LiveSession {
    let directory: String
    let serverName: String
    private var server: LiveChild?
    private var children: [LiveChild] = []

    init(period: Int = 256) throws {
        liveServerCounter += 1
        serverName = "meltap-pub-\(getpid())-\(liveServerCounter)"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("meltap-pub-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        server = try LiveChild("jackd", ["--no-realtime", "--port-max", "256", "-d", "dummy", "-r", "48000", "-p", "\(period)"],
                               environment: environment, directory: directory, label: "jackd")
        let wait = try LiveChild("jack_wait", ["-w", "-t", "10"], environment: environment, directory: directory, label: "jack_wait")
        guard wait.waitForExit(timeout: 20), wait.process.terminationStatus == 0 else {
            wait.stop()
            server?.stop()
            throw LiveError("jackd \(serverName) did not start: \(server?.errors ?? "")" + jackStartHint)
        }
    }

    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["JACK_DEFAULT_SERVER"] = serverName
        environment["JACK_NO_START_SERVER"] = "1"
        return environment
    }

    func path(_ name: String) -> String { directory + "/" + name }

    func launch(_ executable: String, _ arguments: [String], label: String) throws -> LiveChild {
        let child = try LiveChild(executable, arguments, environment: environment, directory: directory, label: label)
        children.append(child)
        return child
    }

    /// Starts `meltap run … --socket PATH` and waits until the socket answers.
    func startMeltap(_ arguments: [String], socket: String, label: String = "meltap") throws -> LiveChild {
        let meltap = try launch(try liveBinary("meltap"), ["run", "--socket", socket] + arguments, label: label)
        guard liveEventually(timeout: 30, { meltap.output.contains("meltap: client") || !meltap.process.isRunning }),
              meltap.process.isRunning else {
            meltap.stop()
            throw LiveError("meltap run did not start: \(meltap.errors)\(meltap.output)")
        }
        return meltap
    }

    func startSource(_ arguments: [String], label: String = "source") throws -> LiveChild {
        try launch(try liveBinary("meltap-testsource"), arguments, label: label)
    }

    /// Stops every child by PID (newest first), then the server, and removes the directory.
    func finish() {
        for child in children.reversed() { child.stop(signal: SIGTERM, timeout: 15) }
        server?.stop(signal: SIGTERM, timeout: 15)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

// MARK: Offline reference (SourceRecord and offlineFrame come from JackTestSupport)

/// Recomputes live frames offline from the samples the source sent at the same JACK frame times
/// (frame-local: the librosa preset's power output has no state across frames) and counts the
/// frames compared; records an issue for every frame that differs in any bit.
func compareWithOffline(_ frames: [ReceivedFrame], record: SourceRecord, channel: Int,
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
    let configuration = MelPreset.librosa.configuration(sampleRate: 48000)
    let analyzer = try MelAnalyzer(configuration: configuration, clampRule: .running)
    // Exactly the flagged frames are skipped: .xrun / .discontinuity say the window's samples
    // are not (or not at those times) what the source sent; the others mark stream boundaries.
    let suspicious: FrameFlags = [.gap, .serverRestart, .reconfigured, .xrun, .discontinuity]
    var compared = 0, mismatches = 0
    for frame in frames where frame.metadata.flags.isDisjoint(with: suspicious) {
        var window: [Float] = []
        for i in 0..<configuration.fftLength {
            guard let value = record.sample(channel: channel, at: frame.metadata.frameTime + Int64(i)) else { break }
            window.append(value)
        }
        guard window.count == configuration.fftLength, window.contains(where: { $0 != 0 }) else { continue }
        compared += 1
        let expected = try offlineFrame(window: window, analyzer: analyzer)
        if frame.values != expected {
            mismatches += 1
            if mismatches <= 3 {
                Issue.record("frame \(frame.metadata.sequence) differs: live \(frame.values.prefix(3)), offline \(expected.prefix(3))",
                             sourceLocation: sourceLocation)
            }
        }
    }
    #expect(mismatches == 0, "\(mismatches) of \(compared) frames differ", sourceLocation: sourceLocation)
    return compared
}

// MARK: Subscribers on threads

/// A Swift subscriber on its own thread, collecting frames (and, with a JACK client, latency
/// samples) until the server closes the stream.
final class ThreadSubscriber: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [ReceivedFrame] = []
    private var latencies: [Double] = []
    private var captureLatencies: [Double] = []
    private var measuring = false
    private let done = DispatchSemaphore(value: 0)
    private(set) var failure: String?

    /// - Parameter jack: a JACK client of the same server, to convert frame times to JACK's
    ///   microsecond clock (`jack_frames_to_time`) and read it at receipt (`jack_get_time`).
    init(socket: String, channels: [Int]? = nil, jack: OpaquePointer? = nil, fftLength: Int64 = 2048) throws {
        let owned = Unchecked((try MeltapSubscriber(socketPath: socket, channels: channels), jack))
        let period = jack.map { jack_get_buffer_size($0) } ?? 1
        let anchor = jack.map { jack_last_frame_time($0) } ?? 0
        let periodMicroseconds = jack_time_t(period) * 1_000_000 / jack_time_t(jack.map { jack_get_sample_rate($0) } ?? 48000)
        let thread = Thread { [self] in
            let (subscriber, jack) = owned.value
            do {
                while let frame = try subscriber.next() {
                    var latency: (delivery: Double, capture: Double)?
                    if let jack {
                        let now = jack_get_time()
                        // The frame's last sample L was handed to meltap in the cycle starting at
                        // frame time C (cycles start at anchor + k·period); JACK dates that cycle's
                        // wakeup as frames_to_time(C). The dummy driver "captures" a cycle's block
                        // during the period before it, so L itself was captured by
                        // frames_to_time(L + 1) − one period.
                        let last = jack_nframes_t(truncatingIfNeeded: frame.metadata.frameTime + fftLength - 1)
                        let cycle = last &- ((last &- anchor) % period)
                        let delivered = jack_frames_to_time(jack, cycle)
                        let captured = jack_frames_to_time(jack, last &+ 1) &- periodMicroseconds
                        latency = (Double(Int64(bitPattern: now &- delivered)) / 1000,
                                   Double(Int64(bitPattern: now &- captured)) / 1000)
                    }
                    lock.withLock {
                        collected.append(frame)
                        if measuring, let latency {
                            latencies.append(latency.delivery)
                            captureLatencies.append(latency.capture)
                        }
                    }
                }
            } catch {
                lock.withLock { failure = "\(error)" }
            }
            done.signal()
        }
        thread.start()
    }

    var frames: [ReceivedFrame] { lock.withLock { collected } }
    var count: Int { lock.withLock { collected.count } }
    /// Milliseconds from the wakeup of the JACK cycle that delivered a frame's last sample to its
    /// receipt, recorded while `measuring` was on.
    var latencyMilliseconds: [Double] { lock.withLock { latencies } }
    /// Milliseconds from the (simulated) capture of a frame's last sample to its receipt.
    var captureLatencyMilliseconds: [Double] { lock.withLock { captureLatencies } }
    func measure(_ on: Bool) { lock.withLock { measuring = on } }

    /// Waits up to `timeout` s for the stream to end.
    func join(timeout: Double) -> Bool { done.wait(timeout: .now() + timeout) == .success }
}

/// Hands a value to another thread that alone uses it from then on.
struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Opens a (never activated) JACK client on the session's server for its clock.
func openClockClient(_ session: LiveSession) throws -> OpaquePointer {
    setenv("JACK_DEFAULT_SERVER", session.serverName, 1)
    setenv("JACK_NO_START_SERVER", "1", 1)
    var status = jack_status_t(0)
    guard let client = meltap_jack_client_open("latency-probe", JackNoStartServer, &status) else {
        throw LiveError("cannot open a JACK client on \(session.serverName) (status \(status.rawValue))")
    }
    return client
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

/// Contiguous sequences per channel (every frame delivered).
func sequencesAreContiguous(_ frames: [ReceivedFrame]) -> Bool {
    var last: [UInt32: UInt64] = [:]
    for frame in frames {
        if let previous = last[frame.metadata.channel], frame.metadata.sequence != previous + 1 { return false }
        last[frame.metadata.channel] = frame.metadata.sequence
    }
    return true
}

// MARK: Tests

@Suite(.serialized) struct LivePublishTests {
    @Test("The Swift and Python clients receive frames equal to the offline analysis of the samples sent")
    func clientsReceiveOfflineFrames() throws {
        let session = try LiveSession()
        defer { session.finish() }
        let socket = session.path("m.sock")
        let meltap = try session.startMeltap(["--inputs", "2", "--preset", "librosa", "--xrun-hold", "100"], socket: socket)
        #expect(meltap.output.contains("meltap: publishing on \(socket)"))
        let swift = try ThreadSubscriber(socket: socket)
        let python = try session.launch(try livePython(), [FileCommandTests.packageRoot.appendingPathComponent("Examples/meltap_subscriber.py").path,
                                                           socket, "1", "2"], label: "python")
        usleep(500_000)
        let record = session.path("source.bin")
        let source = try session.startSource(["--outputs", "2", "--signal", "noise", "--seed", "11", "--connect", "meltap:in_.*",
                                              "--wait-connected", "--record", record, "--record-seconds", "3", "--exit-when-recorded"])
        #expect(source.waitForExit(timeout: 60), "the test source did not finish: \(source.errors)")
        usleep(500_000)
        #expect(meltap.stop(signal: SIGINT) == 0, "meltap: \(meltap.errors)")
        #expect(swift.join(timeout: 20), "the Swift subscriber did not see the stream end")
        #expect(python.waitForExit(timeout: 20), "the Python subscriber did not see the stream end")
        let recorded = try SourceRecord(path: record)

        // Python prints "channel sequence frame_time flags v0 v1 …", channels from 1 (float32 values
        // printed exactly as float64).
        var pythonFrames: [ReceivedFrame] = []
        for line in python.output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4, let channel = UInt32(fields[0]), channel >= 1, let sequence = UInt64(fields[1]),
                  let time = Int64(fields[2]), let flags = UInt32(fields[3]) else { continue }
            pythonFrames.append(ReceivedFrame(metadata: FrameMetadata(sequence: sequence, channel: channel - 1, frameTime: time,
                                                                      flags: FrameFlags(rawValue: flags)),
                                              values: fields[4...].map { Float(Double($0)!) }))
        }
        let swiftFrames = swift.frames
        let minimum = 3 * 48000 / 512 / 4
        for channel in 0..<2 {
            let mine = swiftFrames.filter { $0.metadata.channel == UInt32(channel) }
            let compared = try compareWithOffline(mine, record: recorded, channel: channel)
            #expect(compared >= minimum, "Swift client, channel \(channel + 1): only \(compared) frames compared")
            // Python connected after the Swift client: from its first frame on, both saw the same
            // frames with the same flags; its unflagged frames equal the offline analysis.
            let theirs = pythonFrames.filter { $0.metadata.channel == UInt32(channel) }
            let pythonFirst = theirs.first?.metadata.sequence ?? .max
            let mineFromThere = mine.filter { $0.metadata.sequence >= pythonFirst }
            #expect(theirs.map(\.metadata) == mineFromThere.map(\.metadata),
                    "channel \(channel + 1): the Python client's sequences, times or flags differ from the Swift client's")
            let comparedPython = try compareWithOffline(theirs, record: recorded, channel: channel)
            #expect(comparedPython >= minimum, "Python client, channel \(channel + 1): only \(comparedPython) frames compared")
        }
    }

    @Test("64 subscribers, one stopped for 10 s: the others get every frame, the stopped one a gap; latency p50/p99")
    func sixtyFourSubscribers() throws {
        let session = try LiveSession()
        defer { session.finish() }
        let socket = session.path("m.sock")
        let meltap = try session.startMeltap(["--inputs", "1", "--preset", "librosa"], socket: socket)
        let source = try session.startSource(["--outputs", "1", "--signal", "noise", "--connect", "meltap:in_.*", "--duration", "60"])
        _ = source
        let jack = try openClockClient(session)
        defer { jack_client_close(jack) }

        // One subscriber alone.
        let first = try ThreadSubscriber(socket: socket, jack: jack)
        usleep(1_000_000)
        first.measure(true)
        usleep(4_000_000)
        first.measure(false)
        let alone = first.latencyMilliseconds, aloneCapture = first.captureLatencyMilliseconds

        // 62 more Swift subscribers and one Python subscriber: 64.
        var others: [ThreadSubscriber] = []
        for _ in 0..<62 { others.append(try ThreadSubscriber(socket: socket, jack: jack)) }
        let python = try session.launch(try livePython(), [FileCommandTests.packageRoot.appendingPathComponent("Examples/meltap_subscriber.py").path,
                                                           socket], label: "python")
        usleep(1_000_000)
        let swift = [first] + others
        for subscriber in swift { subscriber.measure(true) }
        usleep(4_000_000)
        for subscriber in swift { subscriber.measure(false) }
        let crowded = swift.flatMap(\.latencyMilliseconds), crowdedCapture = swift.flatMap(\.captureLatencyMilliseconds)

        kill(python.pid, SIGSTOP)
        usleep(10_000_000)
        kill(python.pid, SIGCONT)
        usleep(3_000_000)
        #expect(meltap.stop(signal: SIGINT) == 0, "meltap: \(meltap.errors)")
        for subscriber in swift { #expect(subscriber.join(timeout: 20)) }
        #expect(python.waitForExit(timeout: 20), "the Python subscriber did not see the stream end")

        for (index, subscriber) in swift.enumerated() {
            let frames = subscriber.frames
            #expect(frames.count > 500, "subscriber \(index): only \(frames.count) frames")
            #expect(sequencesAreContiguous(frames), "subscriber \(index) missed frames")
            #expect(subscriber.failure == nil, "subscriber \(index): \(subscriber.failure ?? "")")
        }
        // "channel sequence time flags …": the frame after each jump carries the gap flag.
        let received = python.output.split(separator: "\n").compactMap { line -> (sequence: UInt64, flags: FrameFlags)? in
            let fields = line.split(separator: " ", maxSplits: 4)
            guard fields.count > 3, let sequence = UInt64(fields[1]), let flags = UInt32(fields[3]) else { return nil }
            return (sequence, FrameFlags(rawValue: flags))
        }
        let sequences = received.map(\.sequence)
        let jumps = zip(sequences, sequences.dropFirst()).filter { $1 != $0 + 1 }
        #expect(!jumps.isEmpty, "the stopped subscriber saw no sequence jump in \(sequences.count) frames")
        #expect(jumps.allSatisfy { $1 > $0 }, "sequences went backwards: \(jumps.prefix(3))")
        for (index, frame) in received.enumerated().dropFirst() where frame.sequence != received[index - 1].sequence + 1 {
            #expect(frame.flags.contains(.gap), "the frame after the jump to \(frame.sequence) does not carry the gap flag")
        }
        func summary(_ values: [Double]) -> String {
            String(format: "p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d frames)", percentile(values, 0.5), percentile(values, 0.99),
                   values.max() ?? .nan, values.count)
        }
        print("latency from the cycle delivering a frame's last sample to receipt: 1 subscriber \(summary(alone)); "
              + "64 subscribers \(summary(crowded))")
        print("latency from the capture of a frame's last sample to receipt: 1 subscriber \(summary(aloneCapture)); "
              + "64 subscribers \(summary(crowdedCapture))")
        print("python subscriber: \(sequences.count) frames, jumps \(jumps.prefix(5).map { "\($0)→\($1)" })")
        #expect(!alone.isEmpty && !crowded.isEmpty)
    }
}
