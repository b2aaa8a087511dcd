import Foundation
import Glibc
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
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        FileManager.default.createFile(atPath: errorPath, contents: nil)
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

/// A private dummy jackd for one test.
final class JackServer {
    let name: String
    let directory: URL
    private(set) var period: Int
    private var child: Child?
    private var generation = 0

    init(period: Int, directory: URL) throws {
        serverCounter += 1
        name = "meltap-test-\(getpid())-\(serverCounter)"
        self.period = period
        self.directory = directory
        try start()
    }

    /// Environment for clients of this server.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["JACK_DEFAULT_SERVER"] = name
        environment["JACK_NO_START_SERVER"] = "1"
        return environment
    }

    func start() throws {
        generation += 1
        child = try Child("jackd", ["--no-realtime", "--port-max", "128", "-d", "dummy", "-r", "48000", "-p", "\(period)"],
                          environment: environment, directory: directory, label: "jackd-\(generation)")
        let wait = try Child("jack_wait", ["-w", "-t", "10"], environment: environment, directory: directory,
                             label: "jack_wait-\(generation)")
        guard wait.waitForExit(timeout: 20), wait.process.terminationStatus == 0 else {
            wait.stop()
            throw HarnessError("jackd \(name) did not start: \(child?.errors ?? "")")
        }
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
struct DumpedFrame {
    var metadata: FrameMetadata
    var values: [Float]
}

struct FrameDump {
    var width: Int
    var channels: Int
    var sampleRate: Double
    var frames: [DumpedFrame]

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var reader = ByteReader(data: data)
        guard reader.bytes(4) == Array("MTFD".utf8), reader.u32() == 1 else { throw HarnessError("\(path) is not a frame dump") }
        width = Int(reader.u32())
        channels = Int(reader.u32())
        sampleRate = Double(bitPattern: reader.u64())
        frames = []
        while reader.remaining >= 24 + 4 * width {
            let sequence = reader.u64()
            let channel = reader.u32()
            let flags = reader.u32()
            let time = Int64(bitPattern: reader.u64())
            let values = (0..<width).map { _ in Float(bitPattern: reader.u32()) }
            frames.append(DumpedFrame(metadata: FrameMetadata(sequence: sequence, channel: channel, frameTime: time,
                                                              flags: FrameFlags(rawValue: flags)), values: values))
        }
    }

    func frames(channel: Int) -> [DumpedFrame] { frames.filter { $0.metadata.channel == UInt32(channel) } }
}

/// A `meltap-testsource --record` file: samples by JACK frame time.
struct SourceRecord {
    var channels: Int
    var sampleRate: Int
    var blocks: [(frameTime: Int64, first: Int, count: Int)]
    var samples: [[Float]]

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var reader = ByteReader(data: data)
        guard reader.bytes(4) == Array("MTSR".utf8), reader.u32() == 1 else { throw HarnessError("\(path) is not a source record") }
        channels = Int(reader.u32())
        sampleRate = Int(reader.u32())
        let blockCount = Int(reader.u64())
        let count = Int(reader.u64())
        blocks = (0..<blockCount).map { _ in
            let time = Int64(bitPattern: reader.u64())
            let first = Int(reader.u64())
            let n = Int(reader.u32())
            _ = reader.u32()
            return (time, first, n)
        }
        samples = (0..<channels).map { _ in (0..<count).map { _ in Float(bitPattern: reader.u32()) } }
    }

    /// The frame-time range covered without holes, from the first block up to the first
    /// discontinuity.
    var contiguousRange: Range<Int64> {
        guard let first = blocks.first else { return 0..<0 }
        var end = first.frameTime + Int64(first.count)
        for block in blocks.dropFirst() {
            if block.frameTime != end { break }
            end += Int64(block.count)
        }
        return first.frameTime..<end
    }

    /// Sample of `channel` at JACK frame time `time`, or nil outside the contiguous range.
    func sample(channel: Int, at time: Int64) -> Float? {
        let range = contiguousRange
        guard range.contains(time) else { return nil }
        return samples[channel][Int(time - range.lowerBound) + blocks[0].first]
    }
}

struct ByteReader {
    let data: Data
    var offset = 0
    var remaining: Int { data.count - offset }
    mutating func bytes(_ n: Int) -> [UInt8] {
        defer { offset += n }
        return Array(data[data.startIndex + offset ..< data.startIndex + offset + n])
    }
    mutating func u32() -> UInt32 {
        let b = bytes(4)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
    mutating func u64() -> UInt64 { UInt64(u32()) | UInt64(u32()) << 32 }
}

// MARK: Offline reference

/// The configuration `meltap run --preset librosa` uses.
func librosaConfiguration(sampleRate: Double = 48000) -> MelConfiguration {
    MelPreset.librosa.configuration(sampleRate: sampleRate)
}

/// All frames an analyzer produces from `samples` (no flush: the live stream never ends).
func offlineFrames(_ samples: [Float], configuration: MelConfiguration) throws -> [[Float]] {
    let analyzer = try MelAnalyzer(configuration: configuration, clampRule: .running)
    let width = analyzer.frameWidth
    var frame = [Float](repeating: 0, count: max(1, width))
    var frames: [[Float]] = []
    try samples.withUnsafeBufferPointer { input in
        var offset = 0
        while offset < input.count {
            let step = frame.withUnsafeMutableBufferPointer {
                analyzer.process(UnsafeBufferPointer(rebasing: input[offset...]), into: $0.baseAddress!)
            }
            if step.consumed == 0 && step.frameIndex < 0 { throw HarnessError("analyzer made no progress") }
            offset += step.consumed
            if step.frameIndex >= 0 {
                if step.frameIndex != frames.count { throw HarnessError("frame index \(step.frameIndex) ≠ \(frames.count)") }
                frames.append(Array(frame.prefix(width)))
            }
        }
    }
    return frames
}

/// Compares one channel's live frames with an offline analysis of the samples the source
/// recorded, aligned by JACK frame time. Live frames are compared from the first up to the first
/// gap/restart/reconfiguration, and only those whose samples are all known (inside the record, or
/// — with `silenceOutsideRecord` — before/after it, where the source played silence).
/// Returns the number of frames compared (bit-identical); records an issue for each mismatch.
@discardableResult
func compareLiveWithOffline(live: [DumpedFrame], record: SourceRecord, recordChannel: Int,
                            silenceOutsideRecord: Bool, configuration: MelConfiguration,
                            sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
    guard let first = live.first else {
        Issue.record("no live frames on this channel", sourceLocation: sourceLocation)
        return 0
    }
    let probe = try MelAnalyzer(configuration: configuration)
    let fftLength = configuration.fftLength
    // Frame time of the analyzer's input sample 0.
    let streamStart = first.metadata.frameTime - Int64(probe.firstSample(ofFrame: 0))
    var usable = live
    if let cut = live.dropFirst().firstIndex(where: { !$0.metadata.flags.isDisjoint(with: [.gap, .serverRestart, .reconfigured]) }) {
        usable = Array(live[..<cut])
    }
    let range = record.contiguousRange
    guard let last = usable.last else { return 0 }
    let end = last.metadata.frameTime + Int64(fftLength)
    var samples = [Float](repeating: 0, count: Int(end - streamStart))
    // The source played silence before it started recording, and after the record filled up
    // when it recorded without a hole.
    let lastBlock = record.blocks.last.map { $0.frameTime + Int64($0.count) } ?? range.upperBound
    let complete = lastBlock == range.upperBound
    var known = [Bool](repeating: false, count: samples.count)
    for i in 0..<samples.count {
        let time = streamStart + Int64(i)
        if let value = record.sample(channel: recordChannel, at: time) {
            samples[i] = value
            known[i] = true
        } else if silenceOutsideRecord && (time < range.lowerBound || (complete && time >= range.upperBound)) {
            known[i] = true
        }
    }
    let offline = try offlineFrames(samples, configuration: configuration)
    var compared = 0
    var mismatches = 0
    for (k, frame) in usable.enumerated() {
        #expect(frame.metadata.sequence == first.metadata.sequence + UInt64(k), sourceLocation: sourceLocation)
        #expect(frame.metadata.frameTime == first.metadata.frameTime + Int64(k * configuration.hopLength),
                sourceLocation: sourceLocation)
        let index = k
        guard index < offline.count else { break }
        let start = Int(frame.metadata.frameTime - streamStart)
        let window = max(0, start)..<min(samples.count, start + fftLength)
        guard window.allSatisfy({ known[$0] }) else { continue }
        compared += 1
        if frame.values != offline[index] {
            mismatches += 1
            if mismatches <= 3 {
                let worst = zip(frame.values, offline[index]).map { abs($0 - $1) }.max() ?? 0
                Issue.record("frame \(index) (time \(frame.metadata.frameTime)) differs: live \(frame.values.prefix(4)), "
                             + "offline \(offline[index].prefix(4)), max |Δ| \(worst)", sourceLocation: sourceLocation)
            }
        }
    }
    #expect(mismatches == 0, "\(mismatches) of \(compared) frames differ", sourceLocation: sourceLocation)
    return compared
}
