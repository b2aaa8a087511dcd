// `meltap record`, `meltap view` and `meltap run`'s socket handling, end to end on a private
// dummy jackd (harness in LivePublishTests.swift).
import Foundation
import Glibc
import MelFiles
import MelServer
import MeltapClient
import Testing
import MeltapTestSupport

@Suite(.serialized) struct RecordViewTests {
    /// meltap run with 2 inputs fed by the test source (noise), and its socket path.
    static func runningStream(_ session: JackSession, socketArguments: [String] = []) throws -> (Child, String) {
        let socket = session.path("m.sock")
        let meltap = try session.startMeltap(["--inputs", "2", "--preset", "librosa"] + socketArguments, socket: socket)
        _ = try session.startSource(["--outputs", "2", "--signal", "noise", "--connect", "meltap:in_.*", "--duration", "120"])
        return (meltap, socket)
    }

    /// The sidecar of the recording `path` as JSON: its top level and its `recording` section
    /// (start, end, gaps, xruns, discontinuities). Also checks that `FeatureSidecar.read` reads it.
    static func sidecar(_ path: String) throws -> (top: [String: Any], recording: [String: Any]) {
        let sidecarPath = Sidecar.path(forFeatureFile: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: sidecarPath))
        let top = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(top["schema"] as? String == "meltap.features/2" && top["kind"] as? String == "recording")
        let read = try FeatureSidecar.read(path: sidecarPath)
        #expect(read.kind == .recording && read.stream?.socket != nil)
        return (top, try #require(top["recording"] as? [String: Any], "no recording section: \(top)"))
    }

    /// numpy.load's shape of `path`, via the Python interpreter.
    static func numpyShape(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try pythonExecutable())
        process.arguments = ["-c", "import numpy, sys; a = numpy.load(sys.argv[1]); print(a.shape, a.dtype)", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The sidecar's lost sequences per 0-based channel (`gaps`: `fromSequence ..< toSequence`).
    static func lostSequences(_ meta: [String: Any]) throws -> [UInt32: Set<UInt64>] {
        var lost: [UInt32: Set<UInt64>] = [:]
        for gap in meta["gaps"] as? [[String: Any]] ?? [] {
            let channel = try #require((gap["channel"] as? NSNumber)?.uint32Value, "gap without channel: \(gap)")
            let from = try #require((gap["fromSequence"] as? NSNumber)?.uint64Value, "gap without fromSequence: \(gap)")
            let to = try #require((gap["toSequence"] as? NSNumber)?.uint64Value, "gap without toSequence: \(gap)")
            try #require(from < to && channel >= 1, "not a gap of lost frames: \(gap)")
            lost[channel - 1, default: []].formUnion(from..<to)
        }
        return lost
    }

    /// The frame sequence of every row: from `start` on, the sequences no channel lost.
    static func rowSequences(first: UInt64, rows: Int, lost: [UInt32: Set<UInt64>]) -> [UInt64] {
        let skipped = lost.values.reduce(into: Set<UInt64>()) { $0.formUnion($1) }
        var sequences: [UInt64] = []
        var sequence = first
        while sequences.count < rows {
            if !skipped.contains(sequence) { sequences.append(sequence) }
            sequence += 1
        }
        return sequences
    }

    /// A sidecar list of flagged rows (`xruns`, `discontinuities`) as (0-based channel, row)
    /// pairs; records an issue for a range whose sequences are not those of its rows.
    static func flaggedRows(_ value: Any?, rowSequences: [UInt64], name: String) -> Set<[Int]> {
        var result: Set<[Int]> = []
        for range in value as? [[String: Any]] ?? [] {
            guard let channel = (range["channel"] as? NSNumber)?.intValue, let fromRow = (range["fromRow"] as? NSNumber)?.intValue,
                  let toRow = (range["toRow"] as? NSNumber)?.intValue,
                  let fromSequence = (range["fromSequence"] as? NSNumber)?.uint64Value,
                  let toSequence = (range["toSequence"] as? NSNumber)?.uint64Value,
                  0 <= fromRow, fromRow < toRow, toRow <= rowSequences.count, fromSequence <= toSequence,
                  toSequence - fromSequence == UInt64(toRow - fromRow)
            else {
                Issue.record("\(name): malformed range \(range) (\(rowSequences.count) rows)")
                continue
            }
            for row in fromRow..<toRow {
                if rowSequences[row] != fromSequence + UInt64(row - fromRow) {
                    Issue.record("\(name): row \(row) holds sequence \(rowSequences[row]), the range \(range) says otherwise")
                }
                result.insert([channel - 1, row])
            }
        }
        return result
    }

    @Test("record 30 s of 2 channels: the file equals what a parallel subscriber received")
    func recordingEqualsTheLiveStream() throws {
        let session = try JackSession()
        defer { session.finish() }
        let (meltap, socket) = try Self.runningStream(session)
        let live = try ThreadSubscriber(socket: socket)
        let output = session.path("take.npy")
        let recorder = try session.launch(try releaseBinary("meltap"), ["record", "--socket", socket, "-o", output, "--duration", "30"],
                                          label: "record")
        #expect(recorder.waitForExit(timeout: 90), "the recorder did not stop after --duration")
        #expect(recorder.process.terminationStatus == 0, "record: \(recorder.errors)")

        let array = try NpyArray.load(path: output)
        let (top, meta) = try Self.sidecar(output)
        let start = try #require(meta["start"] as? [String: Any])
        let firstSequence = try #require((start["sequence"] as? NSNumber)?.uint64Value)
        #expect(array.shape.count == 3 && array.shape[1] == 2 && array.shape[2] == 128, "shape \(array.shape)")
        let rows = array.shape[0]
        #expect(rows >= 30 * 48000 / 512 / 2, "only \(rows) rows in 30 s")
        #expect(try Self.numpyShape(output) == "(\(rows), 2, 128) float32")
        #expect((top["configuration"] as? [String: Any])?["preset"] as? String == "librosa")
        let read = try FeatureSidecar.read(path: Sidecar.path(forFeatureFile: output))
        #expect(read.rows == rows && read.rowShape == [2, 128] && read.sampleRate == 48000 && read.inputSampleRate == 48000)
        #expect(read.channels.map(\.channel) == [1, 2] && read.channels.map(\.port) == ["in_1", "in_2"])
        #expect(read.stream?.channelCount == 2 && read.clamp == "running" && read.resampler == nil)
        #expect(meta["end"] != nil && meta["gaps"] is [Any] && meta["xruns"] is [Any] && meta["discontinuities"] is [Any])
        #expect((start["wallClock"] as? String)?.contains("T") == true)

        // Row 0 is sequence start.sequence; then every sequence no channel lost (the sidecar's gaps).
        let lost = try Self.lostSequences(meta)
        let rowSequences = Self.rowSequences(first: firstSequence, rows: rows, lost: lost)

        // Stopping meltap drops what the kernel has not taken yet: stop it only once the live
        // subscriber holds the last recorded row (channel 2 of its sequence comes last).
        let last = rowSequences.last ?? firstSequence
        let caughtUp = eventually(timeout: 20) {
            live.frames.last.map { $0.metadata.sequence > last || ($0.metadata.sequence == last && $0.metadata.channel == 1) } ?? false
        }
        #expect(caughtUp, "the live subscriber did not reach sequence \(last) within 20 s")
        #expect(meltap.stop(signal: SIGINT) == 0)
        #expect(live.join(timeout: 20))
        #expect(live.failure == nil, "live subscriber: \(live.failure ?? "")")

        var bySequence: [UInt32: [UInt64: ReceivedFrame]] = [0: [:], 1: [:]]
        for frame in live.frames { bySequence[frame.metadata.channel]?[frame.metadata.sequence] = frame }
        // A frame the file lacks must be one the stream lost (the live subscriber lacks it too).
        for (channel, sequences) in lost {
            let received = sequences.filter { bySequence[channel]?[$0] != nil }.sorted()
            let count = received.count
            #expect(count == 0, "the recorder lost \(count) frames of in_\(channel + 1) the live subscriber received: \(received.prefix(10))")
        }
        #expect(bySequence[0]?[firstSequence]?.metadata.frameTime == (start["jackFrameTime"] as? NSNumber)?.int64Value,
                "start.jackFrameTime is not the frame time of row 0 (sequence \(firstSequence))")

        // Row by row: the file holds the live frames, and the sidecar lists exactly the rows whose
        // frames carry .xrun / .discontinuity.
        let xrunRows = Self.flaggedRows(meta["xruns"], rowSequences: rowSequences, name: "xruns")
        let discontinuityRows = Self.flaggedRows(meta["discontinuities"], rowSequences: rowSequences, name: "discontinuities")
        var compared = 0, flagMismatches: [String] = [], missing: [String] = []
        for (row, sequence) in rowSequences.enumerated() {
            for channel in 0..<2 {
                guard let frame = bySequence[UInt32(channel)]?[sequence] else {
                    missing.append("in_\(channel + 1) \(sequence)")
                    continue
                }
                let start = (row * 2 + channel) * 128
                if Array(array.values[start..<start + 128]) != frame.values {
                    Issue.record("row \(row) channel \(channel + 1) differs from the live frame \(sequence)")
                    return
                }
                let flags = frame.metadata.flags
                if flags.contains(.xrun) != xrunRows.contains([channel, row])
                    || flags.contains(.discontinuity) != discontinuityRows.contains([channel, row]) {
                    flagMismatches.append("row \(row) in_\(channel + 1) (sequence \(sequence), flags \(flags.rawValue))")
                }
                compared += 1
            }
        }
        #expect(compared == rows * 2, "compared \(compared) of \(rows * 2) frames; the live subscriber lacks \(missing.prefix(10))")
        #expect(flagMismatches.isEmpty, "the sidecar's xruns/discontinuities disagree with the frames' flags: \(flagMismatches.prefix(10))")
    }

    @Test("record joining between the channels of a sequence starts at the first complete row; only lost frames are gaps")
    func recordingJoinsMidRow() throws {
        let directory = "/tmp/meltap-rec-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/p.sock"
        let bands = 4
        let publisher = FramePublisher(socketPath: socket, queueBound: 1000)
        defer { publisher.stop() }
        try publisher.start(header: StreamHeader(
            sampleRate: 48000, frameRate: 93.75, bandCount: UInt32(bands), latencySamples: 0, hopLength: 512, fftLength: 2048,
            clampRule: "running", configurationJSON: Array(#"{"preset":"test"}"#.utf8),
            channels: [ChannelInfo(name: "in_1"), ChannelInfo(name: "in_2")]))
        let output = directory + "/take.npy"
        let recorder = try Child(try releaseBinary("meltap"), ["record", "--socket", socket, "-o", output],
                                     environment: ProcessInfo.processInfo.environment, directory: directory, label: "record")
        defer { recorder.stop() }
        try #require(eventually(timeout: 20) { publisher.subscriberCount == 1 }, "the recorder did not connect: \(recorder.errors)")

        func values(_ channel: UInt32, _ sequence: UInt64) -> [Float] {
            (0..<bands).map { Float(channel) * 1000 + Float(sequence) + Float($0) / 8 }
        }
        func send(_ channel: UInt32, _ sequence: UInt64, _ flags: FrameFlags = []) {
            let metadata = FrameMetadata(sequence: sequence, channel: channel, frameTime: Int64(sequence) * 512 - 1024, flags: flags)
            publisher.publish(metadata: metadata, values: values(channel, sequence))
        }
        // The recorder joined after in_1's frame 10 went out; that frame followed lost frames
        // (.gap), which happened before the recording and leave no hole in it.
        send(1, 10, .gap)
        for sequence: UInt64 in 11...20 {
            let flags: FrameFlags = sequence == 13 ? .xrun : sequence == 16 ? .discontinuity : []
            send(0, sequence, sequence == 14 ? .xrun : flags)
            send(1, sequence, flags)
        }
        send(1, 21)
        send(1, 22)
        send(0, 23, .gap)  // in_1 lost 21 and 22
        for sequence: UInt64 in 23...29 {
            if sequence > 23 { send(0, sequence) }
            send(1, sequence)
        }
        publisher.stop()  // the recorder sees the stream end and finishes the file
        #expect(recorder.waitForExit(timeout: 30), "the recorder did not stop when the stream ended")
        #expect(recorder.process.terminationStatus == 0, "record: \(recorder.errors)")

        let expected: [UInt64] = Array(11...20) + Array(23...29)
        let array = try NpyArray.load(path: output)
        #expect(array.shape == [expected.count, 2, bands], "shape \(array.shape)")
        for (row, sequence) in expected.enumerated() where row < array.shape[0] {
            for channel: UInt32 in 0...1 {
                let start = (row * 2 + Int(channel)) * bands
                #expect(Array(array.values[start..<start + bands]) == values(channel, sequence), "row \(row) in_\(channel + 1)")
            }
        }
        let (top, meta) = try Self.sidecar(output)
        let start = try #require(meta["start"] as? [String: Any])
        #expect((start["sequence"] as? NSNumber)?.uint64Value == 11, "start \(start)")
        let rowZeroTime: Int64 = 11 * 512 - 1024  // in_1's frame time of sequence 11, as sent
        #expect((start["jackFrameTime"] as? NSNumber)?.int64Value == rowZeroTime, "start \(start)")
        let gaps = meta["gaps"] as? [[String: Any]] ?? []
        #expect(gaps.count == 1, "gaps \(gaps)")
        if let gap = gaps.first {
            #expect((gap["channel"] as? NSNumber)?.intValue == 1 && (gap["fromSequence"] as? NSNumber)?.uint64Value == 21
                    && (gap["toSequence"] as? NSNumber)?.uint64Value == 23 && (gap["atRow"] as? NSNumber)?.intValue == 10
                    && (gap["flags"] as? NSNumber)?.uint32Value == FrameFlags.gap.rawValue, "gap \(gap)")
        }
        #expect(try Self.lostSequences(meta) == [0: [21, 22]])
        func ranges(_ key: String) -> [[Int]] {
            (meta[key] as? [[String: Any]] ?? []).map { range in
                ["channel", "fromRow", "toRow", "fromSequence", "toSequence"].map { (range[$0] as? NSNumber)?.intValue ?? -1 }
            }
        }
        #expect(ranges("xruns") == [[1, 2, 4, 13, 15], [2, 2, 3, 13, 14]], "xruns \(ranges("xruns"))")
        #expect(ranges("discontinuities") == [[1, 5, 6, 16, 17], [2, 5, 6, 16, 17]], "discontinuities \(ranges("discontinuities"))")
        let end = try #require(meta["end"] as? [String: Any])
        #expect(end["reason"] as? String == "stream ended" && (top["rows"] as? NSNumber)?.intValue == expected.count, "end \(end)")
        #expect((end["framesReceived"] as? NSNumber)?.intValue == 1 + 20 + 2 + 1 + 13, "end \(end)")
    }

    @Test("SIGKILL mid-recording: the file loads with all but at most the last second")
    func killedRecordingLoads() throws {
        let session = try JackSession()
        defer { session.finish() }
        let (_, socket) = try Self.runningStream(session)
        let live = try ThreadSubscriber(socket: socket, channels: [0])
        let output = session.path("killed.npy")
        let recorder = try session.launch(try releaseBinary("meltap"), ["record", "--socket", socket, "-o", output, "--channels", "1"],
                                          label: "record")
        #expect(eventually(timeout: 20) { FileManager.default.fileExists(atPath: Sidecar.path(forFeatureFile: output)) })
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
        let start = try #require((try Self.sidecar(output)).recording["start"] as? [String: Any])
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
        let session = try JackSession()
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
        let recorder = try session.launch(try releaseBinary("meltap"), ["record", "--socket", socket, "-o", output, "--duration", "30"],
                                          label: "record")
        #expect(recorder.waitForExit(timeout: 60), "the recorder kept running on a full disk")
        #expect(recorder.process.terminationStatus == 1)
        let message = recorder.errors
        #expect(message.contains("meltap: error:") && message.contains("disk is full"), "stderr: \(message)")
        let array = try NpyArray.load(path: output)
        #expect(array.shape.count == 3 && array.shape[0] > 0, "shape \(array.shape)")
        #expect(message.contains("\(2 * array.shape[0]) frames were saved (\(array.shape[0]) rows of 2 channels)"),
                "stderr: \(message), rows \(array.shape[0])")
        #expect(try Self.numpyShape(output) == "(\(array.shape[0]), 2, 128) float32")
    }

    @Test("An unwritable output path fails at start with a message")
    func unwritablePath() throws {
        let session = try JackSession()
        defer { session.finish() }
        let (_, socket) = try Self.runningStream(session)
        let recorder = try session.launch(try releaseBinary("meltap"), ["record", "--socket", socket, "-o", session.path("missing/dir/x.npy")],
                                          label: "record")
        #expect(recorder.waitForExit(timeout: 30))
        #expect(recorder.process.terminationStatus == 1)
        #expect(recorder.errors.contains("meltap: error: Cannot create"), "stderr: \(recorder.errors)")
    }

    @Test("record never clobbers: an existing file and a symlink are refused, --force replaces a file but never follows a link")
    func recordRefusesToClobber() throws {
        let session = try JackSession()
        defer { session.finish() }
        let (_, socket) = try Self.runningStream(session)
        func record(_ output: String, _ extra: [String] = []) throws -> Child {
            let recorder = try session.launch(try releaseBinary("meltap"), ["record", "--socket", socket, "-o", output,
                                                                         "--duration", "0.5"] + extra, label: "record")
            #expect(recorder.waitForExit(timeout: 30), "record did not finish")
            return recorder
        }
        let existing = session.path("existing.npy"), victim = session.path("victim.txt"), link = session.path("link.npy")
        try "old".write(toFile: existing, atomically: false, encoding: .utf8)
        try "secret".write(toFile: victim, atomically: false, encoding: .utf8)
        #expect(symlink(victim, link) == 0)

        let refused = try record(existing)
        #expect(refused.process.terminationStatus == 1)
        #expect(refused.errors.contains("already exists") && refused.errors.contains("--force"), "stderr: \(refused.errors)")
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "old", "the existing file was touched")
        #expect(!FileManager.default.fileExists(atPath: Sidecar.path(forFeatureFile: existing)), "a sidecar was written")

        for extra in [[], ["--force"]] {
            let throughLink = try record(link, extra)
            #expect(throughLink.process.terminationStatus == 1)
            #expect(throughLink.errors.contains("is a symbolic link to '\(victim)'"), "stderr: \(throughLink.errors)")
            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "secret", "written through the link \(extra)")
        }
        // A sidecar path that is a link is refused too, and nothing is created beside it.
        let other = session.path("other.npy")
        #expect(symlink(victim, Sidecar.path(forFeatureFile: other)) == 0)
        let sidecarLink = try record(other, ["--force"])
        #expect(sidecarLink.process.terminationStatus == 1, "stderr: \(sidecarLink.errors)")
        #expect(!FileManager.default.fileExists(atPath: other), "the .npy was created although its sidecar was refused")

        let forced = try record(existing, ["--force"])
        #expect(forced.process.terminationStatus == 0, "stderr: \(forced.errors)")
        #expect(try Self.numpyShape(existing).hasSuffix(", 2, 128) float32"), "the forced recording does not load")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "secret")
    }

    @Test("A subscriber naming a channel the stream lacks is told so by the server; record prints it")
    func unknownChannelIsRefused() throws {
        let session = try JackSession()
        defer { session.finish() }
        let (_, socket) = try Self.runningStream(session)
        let error = #expect(throws: MeltapClientError.self) {
            // The refusal comes at once or right after the header, depending on who is first.
            let subscriber = try MeltapSubscriber(socketPath: socket, channels: [5], receiveTimeout: .seconds(20))
            while try subscriber.next() != nil {}
        }
        #expect(error?.code == .refused, "\(String(describing: error))")
        #expect(error?.message.contains("channel index 5 does not exist") == true, "\(error?.message ?? "")")
        let recorder = try session.launch(try releaseBinary("meltap"), ["record", "--socket", socket, "-o", session.path("x.npy"),
                                                                     "--channels", "6"], label: "record")
        #expect(recorder.waitForExit(timeout: 30))
        #expect(recorder.process.terminationStatus == 1)
        #expect(recorder.errors.contains("does not exist"), "stderr: \(recorder.errors)")
        #expect(!FileManager.default.fileExists(atPath: session.path("x.npy")))
    }

    /// The review's attack: a socket in a directory others can enter, meltap started with umask 000,
    /// and another user connecting in a loop. Binding in a private directory and linking the socket
    /// into place with its final mode leaves no instant at which that user can connect.
    @Test("umask 000, 20 starts, another uid spinning on connect(): no connection ever succeeds")
    func noWindowForOtherUsers() throws {
        try #require(getuid() == 0, "this test needs root to run a process as another user (uid 65534)")
        let session = try JackSession()
        defer { session.finish() }
        let socket = session.path("m.sock"), counts = session.path("connects.txt")
        // Runs as nobody: tries to connect as fast as it can; on SIGTERM writes "successes attempts".
        let spinner = """
            import os, signal, socket, sys
            ok = tries = 0
            def done(*_):
                open(sys.argv[2], "w").write(f"{ok} {tries}\\n"); os._exit(0)
            signal.signal(signal.SIGTERM, done)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])  # the test runner's mask is inherited
            while True:
                s = socket.socket(socket.AF_UNIX)
                try:
                    s.connect(sys.argv[1]); ok += 1
                except OSError:
                    pass
                tries += 1
                s.close()
            """
        #expect(chmod(session.directory, 0o777) == 0)  // lets nobody write its count file
        let other = try session.launch("/usr/bin/setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups",
                                                            "/usr/bin/python3", "-c", spinner, socket, counts], label: "nobody")
        for start in 0..<20 {
            let meltap = try session.launch("/bin/sh", ["-c", "umask 000; exec \"$0\" \"$@\"", try releaseBinary("meltap"), "run",
                                                        "--name", "umask\(start)", "--inputs", "1", "--socket", socket],
                                            label: "meltap \(start)")
            #expect(eventually(timeout: 30) { meltap.output.contains("meltap: client") || !meltap.process.isRunning },
                    "start \(start) did not come up: \(meltap.errors)")
            var info = stat()
            #expect(lstat(socket, &info) == 0 && info.st_mode & 0o777 == 0o600, "start \(start): mode \(String(info.st_mode & 0o777, radix: 8))")
            #expect(meltap.stop(signal: SIGINT) == 0, "start \(start): \(meltap.errors)")
        }
        #expect(other.process.isRunning, "the spinner died: \(other.errors)")
        #expect(other.stop(signal: SIGTERM) == 0, "the spinner: \(other.errors)")
        let fields = try String(contentsOfFile: counts, encoding: .utf8).split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(fields.count == 2)
        print("uid 65534: \(fields[0]) connections in \(fields[1]) attempts over 20 starts with umask 000")
        #expect(fields[1] > 1000, "the other user tried only \(fields[1]) times")
        #expect(fields[0] == 0, "another user connected \(fields[0]) times")
    }

    @Test("Socket: mode 0600 by default, a stale socket is replaced, a live one refused")
    func socketHandling() throws {
        let session = try JackSession()
        defer { session.finish() }
        // A stale socket: bound, then closed without unlinking (as after a crash).
        let socket = session.path("m.sock")
        try #require(makeStaleSocket(at: socket) && FileManager.default.fileExists(atPath: socket))

        let first = try session.startMeltap(["--inputs", "1"], socket: socket)
        #expect(first.output.contains("meltap: publishing on \(socket)"))
        var info = stat()
        #expect(lstat(socket, &info) == 0 && info.st_mode & 0o777 == 0o600, "mode \(String(info.st_mode & 0o777, radix: 8))")
        let subscriber = try MeltapSubscriber(socketPath: socket)
        #expect(subscriber.header.channelCount == 1 && subscriber.header.clampRule == "running")
        subscriber.close()

        let second = try session.launch(try releaseBinary("meltap"), ["run", "--name", "second", "--inputs", "1", "--socket", socket],
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

    @Test("record and view work on --stream sockets: a 16 kHz whisper stream is recorded as served, a 48 kHz one viewed")
    func recordAndViewOnStreamSockets() throws {
        let session = try JackSession()
        defer { session.finish() }
        let directory = session.path("sockets")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let meltap = try session.launch(try releaseBinary("meltap"), [
            "run", "--name", "multi", "--inputs", "2", "--socket-dir", directory,
            "--stream", "kws=whisper@16000", "--stream", "viz=librosa"], label: "meltap")
        #expect(eventually(timeout: 30) { meltap.output.contains("meltap: stream viz:") || !meltap.process.isRunning },
                "meltap run did not start: \(meltap.errors)")
        let kws = directory + "/multi.kws.sock", viz = directory + "/multi.viz.sock"
        #expect(meltap.output.contains("stream kws publishing on \(kws)") && meltap.output.contains("stream viz publishing on \(viz)"),
                "\(meltap.output)")
        _ = try session.startSource(["--outputs", "2", "--signal", "noise", "--connect", "multi:in_.*", "--duration", "60"])
        let live = try ThreadSubscriber(socket: kws)
        let output = session.path("kws.npy")
        let recorder = try session.launch(try releaseBinary("meltap"), ["record", "--socket", kws, "-o", output, "--duration", "6"],
                                          label: "record")
        let view = try session.launch(try releaseBinary("meltap"), ["view", "--socket", viz, "--duration", "3", "--columns", "40"],
                                      label: "view")
        #expect(recorder.waitForExit(timeout: 60) && recorder.process.terminationStatus == 0, "record: \(recorder.errors)")
        #expect(view.waitForExit(timeout: 60) && view.process.terminationStatus == 0, "view: \(view.errors)")
        let waterfall = view.output.split(separator: "\n").filter { !$0.hasPrefix("status:") }
        #expect(waterfall.count >= 10 && waterfall.contains { $0.contains { $0 != " " } }, "view printed \(waterfall.count) lines")

        // The recording describes the kws stream: 16 kHz whisper, resampled from the 48 kHz server.
        let array = try NpyArray.load(path: output)
        let read = try FeatureSidecar.read(path: Sidecar.path(forFeatureFile: output))
        #expect(array.shape.count == 3 && array.shape[1] == 2 && array.shape[2] == 80, "shape \(array.shape)")
        #expect(read.sampleRate == 16000 && read.inputSampleRate == 48000 && read.resampler?.name == "zita",
                "sample rate \(read.sampleRate), input \(read.inputSampleRate), resampler \(String(describing: read.resampler))")
        #expect(read.stream?.socket == kws && read.configuration["preset"]?.stringValue == "whisper")
        let rows = array.shape[0]
        #expect(rows >= 5 * 100, "only \(rows) rows in 6 s at 100 frames/s")

        // Row by row, the file holds the frames a parallel subscriber of the same socket received.
        let (_, meta) = try Self.sidecar(output)
        let firstSequence = try #require(((meta["start"] as? [String: Any])?["sequence"] as? NSNumber)?.uint64Value)
        let rowSequences = Self.rowSequences(first: firstSequence, rows: rows, lost: try Self.lostSequences(meta))
        let last = rowSequences.last ?? firstSequence
        #expect(eventually(timeout: 20) {
            live.frames.last.map { $0.metadata.sequence > last || ($0.metadata.sequence == last && $0.metadata.channel == 1) } ?? false
        }, "the live subscriber did not reach sequence \(last)")
        #expect(meltap.stop(signal: SIGINT) == 0)
        #expect(live.join(timeout: 20) && live.failure == nil, "live subscriber: \(live.failure ?? "")")
        var bySequence: [UInt32: [UInt64: ReceivedFrame]] = [0: [:], 1: [:]]
        for frame in live.frames { bySequence[frame.metadata.channel]?[frame.metadata.sequence] = frame }
        var compared = 0
        for (row, sequence) in rowSequences.enumerated() {
            for channel in 0..<2 {
                guard let frame = bySequence[UInt32(channel)]?[sequence] else { continue }
                let start = (row * 2 + channel) * 80
                if Array(array.values[start..<start + 80]) != frame.values {
                    Issue.record("row \(row) channel \(channel + 1) differs from the live frame \(sequence)")
                    return
                }
                compared += 1
            }
        }
        #expect(compared == rows * 2, "compared \(compared) of \(rows * 2) frames")
    }

    @Test("meltap view without a terminal prints waterfall lines and status lines")
    func viewWithoutTerminal() throws {
        let session = try JackSession()
        defer { session.finish() }
        let (_, socket) = try Self.runningStream(session)
        let view = try session.launch(try releaseBinary("meltap"), ["view", "--socket", socket, "--channel", "2", "--duration", "4", "--columns", "48"],
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
