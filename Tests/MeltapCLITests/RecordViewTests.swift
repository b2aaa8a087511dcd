// `meltap record`, `meltap view` and `meltap run`'s socket handling, end to end on a private
// dummy jackd (harness in LivePublishTests.swift).
import Foundation
import Glibc
import MelFiles
import MeltapClient
import Testing

@Suite(.serialized) struct RecordViewTests {
    /// meltap run with 2 inputs fed by the test source (noise), and its socket path.
    static func runningStream(_ session: LiveSession, socketArguments: [String] = []) throws -> (LiveChild, String) {
        let socket = session.path("m.sock")
        let meltap = try session.startMeltap(["--inputs", "2", "--preset", "librosa"] + socketArguments, socket: socket)
        _ = try session.startSource(["--outputs", "2", "--signal", "noise", "--connect", "meltap:in_.*", "--duration", "120"])
        return (meltap, socket)
    }

    static func sidecar(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Sidecar.path(forFeatureFile: path)))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// numpy.load's shape of `path`, via the Python interpreter.
    static func numpyShape(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try livePython())
        process.arguments = ["-c", "import numpy, sys; a = numpy.load(sys.argv[1]); print(a.shape, a.dtype)", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("record 30 s of 2 channels: the file equals what a parallel subscriber received")
    func recordingEqualsTheLiveStream() throws {
        let session = try LiveSession()
        defer { session.finish() }
        let (meltap, socket) = try Self.runningStream(session)
        let live = try ThreadSubscriber(socket: socket)
        let output = session.path("take.npy")
        let recorder = try session.launch(try liveBinary("meltap"), ["record", "--socket", socket, "-o", output, "--duration", "30"],
                                          label: "record")
        #expect(recorder.waitForExit(timeout: 90), "the recorder did not stop after --duration")
        #expect(recorder.process.terminationStatus == 0, "record: \(recorder.errors)")
        #expect(meltap.stop(signal: SIGINT) == 0)
        #expect(live.join(timeout: 20))

        let array = try NpyArray.load(path: output)
        let meta = try Self.sidecar(output)
        let start = try #require(meta["start"] as? [String: Any])
        let firstSequence = try #require((start["sequence"] as? NSNumber)?.uint64Value)
        #expect(array.shape.count == 3 && array.shape[1] == 2 && array.shape[2] == 128, "shape \(array.shape)")
        let rows = array.shape[0]
        #expect(rows >= 30 * 48000 / 512 / 2, "only \(rows) rows in 30 s")
        #expect(try Self.numpyShape(output) == "(\(rows), 2, 128) float32")
        #expect((meta["configuration"] as? [String: Any])?["preset"] as? String == "librosa")
        #expect(meta["end"] != nil && meta["gaps"] is [Any])
        #expect((start["wallClock"] as? String)?.contains("T") == true)

        // Rows in order of sequence; with no lost sequence, row r is sequence first + r.
        var bySequence: [UInt32: [UInt64: [Float]]] = [0: [:], 1: [:]]
        for frame in live.frames { bySequence[frame.metadata.channel]?[frame.metadata.sequence] = frame.values }
        let lost = (meta["gaps"] as? [[String: Any]] ?? []).filter {
            ($0["fromSequence"] as? NSNumber)?.uint64Value != ($0["toSequence"] as? NSNumber)?.uint64Value
        }
        #expect(lost.isEmpty, "the recorder lost frames: \(lost)")
        var compared = 0
        for row in 0..<rows {
            let sequence = firstSequence + UInt64(row)
            for channel in 0..<2 {
                guard let expected = bySequence[UInt32(channel)]?[sequence] else { continue }
                let start = (row * 2 + channel) * 128
                if Array(array.values[start..<start + 128]) != expected {
                    Issue.record("row \(row) channel \(channel + 1) differs from the live frame \(sequence)")
                    return
                }
                compared += 1
            }
        }
        #expect(compared == rows * 2, "compared \(compared) of \(rows * 2) frames")
    }

    @Test("SIGKILL mid-recording: the file loads with all but at most the last second")
    func killedRecordingLoads() throws {
        let session = try LiveSession()
        defer { session.finish() }
        let (_, socket) = try Self.runningStream(session)
        let live = try ThreadSubscriber(socket: socket, channels: [0])
        let output = session.path("killed.npy")
        let recorder = try session.launch(try liveBinary("meltap"), ["record", "--socket", socket, "-o", output, "--channels", "1"],
                                          label: "record")
        #expect(liveEventually(timeout: 20) { FileManager.default.fileExists(atPath: Sidecar.path(forFeatureFile: output)) })
        usleep(5_000_000)
        let seenBeforeKill = live.count
        kill(recorder.pid, SIGKILL)
        recorder.process.waitUntilExit()
        let array = try NpyArray.load(path: output)
        #expect(array.shape.count == 2 && array.shape[1] == 128)
        let rows = array.shape[0]
        #expect(try Self.numpyShape(output) == "(\(rows), 128) float32")
        // The recorder started after the live subscriber and patches its header every 0.5 s.
        let frameRate = 48000.0 / 512
        let start = try #require((try Self.sidecar(output))["start"] as? [String: Any])
        let firstSequence = try #require((start["sequence"] as? NSNumber)?.uint64Value)
        let firstLive = try #require(live.frames.first?.metadata.sequence)
        let available = seenBeforeKill - Int(firstSequence - firstLive)
        #expect(rows > 0 && rows >= available - Int(frameRate * 1.5),
                "\(rows) rows loadable; \(available) frames were available before the kill")
        let frames = live.frames
        for row in 0..<min(rows, 50) {
            let frame = frames.first { $0.metadata.sequence == firstSequence + UInt64(row) }
            #expect(frame.map { Array(array.values[row * 128..<(row + 1) * 128]) == $0.values } ?? false, "row \(row)")
        }
    }

    @Test("A full disk stops the recorder with a clear error; the file stays loadable")
    func fullDisk() throws {
        let session = try LiveSession()
        defer { session.finish() }
        let mountPoint = session.path("tiny")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = try session.launch("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint], label: "mount")
        try #require(mount.waitForExit(timeout: 20) && mount.process.terminationStatus == 0,
                     "mount -t tmpfs failed (this test needs root): \(mount.errors)")
        defer {
            let umount = try? session.launch("/bin/umount", [mountPoint], label: "umount")
            _ = umount?.waitForExit(timeout: 20)
        }
        let (_, socket) = try Self.runningStream(session)
        let output = mountPoint + "/full.npy"
        let recorder = try session.launch(try liveBinary("meltap"), ["record", "--socket", socket, "-o", output, "--duration", "30"],
                                          label: "record")
        #expect(recorder.waitForExit(timeout: 60), "the recorder kept running on a full disk")
        #expect(recorder.process.terminationStatus == 1)
        let message = recorder.errors
        #expect(message.contains("meltap: error:") && message.contains("disk is full"), "stderr: \(message)")
        let array = try NpyArray.load(path: output)
        #expect(array.shape.count == 3 && array.shape[0] > 0, "shape \(array.shape)")
        #expect(message.contains("\(array.shape[0]) frames were saved"), "stderr: \(message), rows \(array.shape[0])")
        #expect(try Self.numpyShape(output) == "(\(array.shape[0]), 2, 128) float32")
    }

    @Test("An unwritable output path fails at start with a message")
    func unwritablePath() throws {
        let session = try LiveSession()
        defer { session.finish() }
        let (_, socket) = try Self.runningStream(session)
        let recorder = try session.launch(try liveBinary("meltap"), ["record", "--socket", socket, "-o", session.path("missing/dir/x.npy")],
                                          label: "record")
        #expect(recorder.waitForExit(timeout: 30))
        #expect(recorder.process.terminationStatus == 1)
        #expect(recorder.errors.contains("meltap: error: Cannot create"), "stderr: \(recorder.errors)")
    }

    @Test("Socket: mode 0600 by default, a stale socket is replaced, a live one refused")
    func socketHandling() throws {
        let session = try LiveSession()
        defer { session.finish() }
        // A stale socket: bound, then closed without unlinking (as after a crash).
        let socket = session.path("m.sock")
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(socket.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        try #require(bound == 0 && FileManager.default.fileExists(atPath: socket))

        let first = try session.startMeltap(["--inputs", "1"], socket: socket)
        #expect(first.output.contains("meltap: publishing on \(socket)"))
        var info = stat()
        #expect(lstat(socket, &info) == 0 && info.st_mode & 0o777 == 0o600, "mode \(String(info.st_mode & 0o777, radix: 8))")
        let subscriber = try MeltapSubscriber(socketPath: socket)
        #expect(subscriber.header.channelCount == 1 && subscriber.header.clampRule == "running")
        subscriber.close()

        let second = try session.launch(try liveBinary("meltap"), ["run", "--name", "second", "--inputs", "1", "--socket", socket],
                                        label: "second")
        #expect(second.waitForExit(timeout: 30), "a second meltap on the same socket kept running")
        #expect(second.process.terminationStatus != 0)
        #expect(second.errors.contains("another meltap is serving at \(socket)"), "stderr: \(second.errors)")
        #expect(first.process.isRunning)
        #expect(first.stop(signal: SIGINT) == 0)
        #expect(!FileManager.default.fileExists(atPath: socket), "the socket file was left behind")

        let group = try session.startMeltap(["--inputs", "1", "--socket-mode", "660"], socket: socket, label: "group")
        #expect(lstat(socket, &info) == 0 && info.st_mode & 0o777 == 0o660, "mode \(String(info.st_mode & 0o777, radix: 8))")
        group.stop(signal: SIGINT)
    }

    @Test("meltap view without a terminal prints waterfall lines and status lines")
    func viewWithoutTerminal() throws {
        let session = try LiveSession()
        defer { session.finish() }
        let (_, socket) = try Self.runningStream(session)
        let view = try session.launch(try liveBinary("meltap"), ["view", "--socket", socket, "--channel", "2", "--duration", "4", "--columns", "48"],
                                      label: "view")
        #expect(view.waitForExit(timeout: 30), "meltap view did not stop after --duration")
        #expect(view.process.terminationStatus == 0, "view: \(view.errors)")
        let lines = view.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let waterfall = lines.filter { !$0.hasPrefix("status:") && !$0.isEmpty }
        let statuses = lines.filter { $0.hasPrefix("status:") }
        // About 20 lines a second at 93.75 frames/s (4 frames a line).
        #expect(waterfall.count >= 20, "\(waterfall.count) waterfall lines")
        #expect(waterfall.allSatisfy { $0.count == 48 && $0.allSatisfy { " .:-=+*#%@".contains($0) } }, "\(waterfall.prefix(3))")
        #expect(waterfall.contains { $0.contains { $0 != " " } }, "every line is blank")
        #expect(!statuses.isEmpty && statuses.last!.contains("in_2") && statuses.last!.contains("frames/s"), "\(statuses)")
        #expect(!view.output.contains("\u{1B}"), "escape sequences without a terminal")
    }
}
