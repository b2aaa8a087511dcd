// `meltap run` under PipeWire's JACK layer (pw-jack), headless: a private PipeWire with
// WirePlumber and a null sink, started here as on a box without a login session (its own
// XDG_RUNTIME_DIR, a private D-Bus session bus for WirePlumber). meltap-testsource plays noise into
// meltap's input; the frames meltap dumps must equal, bit for bit, what `meltap file` computes from
// the samples the source sent at the same PipeWire frame times.
import Foundation
import Glibc
import MeltapTestSupport
import MelFiles
import MelTransport
import Testing

/// A private PipeWire graph: dbus-daemon (session bus), pipewire, wireplumber and a null sink, each
/// started here and stopped by PID.
final class PipeWireSession {
    let directory: String
    private var children: [Child] = []
    private var busAddress = ""

    init() throws {
        for tool in ["dbus-daemon", "pipewire", "wireplumber", "pw-cli", "pw-jack"] {
            try #require(PipeWireSession.find(tool) != nil,
                         "\(tool) is missing: run scripts/install-deps (it installs pipewire, pipewire-jack, wireplumber and dbus)")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("meltap-pw-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory + "/runtime", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        do {
            let bus = try start("dbus-daemon", ["--session", "--nofork", "--print-address=1"], label: "dbus")
            guard eventually(timeout: 10, { bus.output.contains("unix:") }) else {
                throw HarnessError("dbus-daemon printed no address: \(bus.errors)")
            }
            busAddress = bus.output.trimmingCharacters(in: .whitespacesAndNewlines)
            let pipewire = try start("pipewire", [], label: "pipewire")
            // The daemon is up once a client can list its core.
            guard eventually(timeout: 15, { self.run("pw-cli", ["info", "0"]).contains("PipeWire:Interface:Core") }) else {
                throw HarnessError("pipewire did not start: \(pipewire.errors)")
            }
            let wireplumber = try start("wireplumber", [], label: "wireplumber")
            guard eventually(timeout: 15, { self.run("pw-cli", ["ls", "Client"]).contains("\"WirePlumber\"") }) else {
                throw HarnessError("wireplumber did not connect: \(wireplumber.errors)")
            }
            _ = run("pw-cli", ["create-node", "adapter",
                               "{ factory.name=support.null-audio-sink node.name=meltap-null media.class=Audio/Sink "
                               + "object.linger=true audio.position=[FL FR] }"])
            guard eventually(timeout: 10, { self.run("pw-jack", ["jack_lsp"]).contains("meltap-null:playback_FL") }) else {
                throw HarnessError("the null sink did not appear: \(run("pw-cli", ["ls", "Node"]))")
            }
        } catch {
            finish()
            throw error
        }
    }

    static func find(_ tool: String) -> String? {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        where access("\(folder)/\(tool)", X_OK) == 0 {
            return "\(folder)/\(tool)"
        }
        return nil
    }

    /// The environment of every process of the graph: no JACK server name, our runtime folder and
    /// bus, and a 256-sample quantum at 48 kHz for the JACK clients.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "JACK_DEFAULT_SERVER")
        environment["XDG_RUNTIME_DIR"] = directory + "/runtime"
        environment["PIPEWIRE_RUNTIME_DIR"] = directory + "/runtime"
        environment["DBUS_SESSION_BUS_ADDRESS"] = busAddress
        environment["PIPEWIRE_QUANTUM"] = "256/48000"
        environment["DISPLAY"] = nil
        // Were pw-jack's libjack not used, plain libjack must fail rather than start a jackd.
        environment["JACK_NO_START_SERVER"] = "1"
        return environment
    }

    /// Starts `executable` in the graph's environment; stopped by `finish`.
    func start(_ executable: String, _ arguments: [String], label: String) throws -> Child {
        let child = try Child(executable, arguments, environment: environment, directory: directory, label: label)
        children.append(child)
        return child
    }

    /// Runs a short command to its end (at most 10 s) and returns its standard output.
    func run(_ executable: String, _ arguments: [String]) -> String {
        guard let child = try? Child(executable, arguments, environment: environment, directory: directory,
                                         label: "cmd-\(UUID().uuidString.prefix(6))") else { return "" }
        if !child.waitForExit(timeout: 10) { child.stop(signal: SIGKILL, timeout: 5) }
        return child.output
    }

    /// Stops every process by PID, newest first, and removes the folder.
    func finish() {
        // The test runner spawns children with SIGTERM blocked; meltap unblocks it, but
        // wireplumber and dbus-daemon (GLib/libdbus signal handling) would sit out the timeout.
        // These private daemons hold nothing worth flushing, so they get SIGKILL.
        for child in children.reversed() {
            let daemon = ["wireplumber", "dbus"].contains { child.outputPath.hasSuffix("/\($0).out") }
            child.stop(signal: daemon ? SIGKILL : SIGTERM, timeout: 15)
        }
        children = []
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.serialized) struct PipeWireTests {
    @Test("pw-jack meltap run gives the frames meltap file computes from the samples sent")
    func framesUnderPipeWireEqualFileMode() throws {
        let session = try PipeWireSession()
        defer { session.finish() }
        let meltapBinary = try releaseBinary("meltap"), sourceBinary = try releaseBinary("meltap-testsource")
        let dump = session.directory + "/frames.dump", record = session.directory + "/source.rec"
        // framing none: frame k is exactly the n_fft samples from its frame time, as in file mode
        // with framing none, so no frame depends on where either stream started.
        let meltap = try session.start("pw-jack", [meltapBinary, "run", "--inputs", "1", "--preset", "librosa",
                                                    "--framing", "none", "--socket", session.directory + "/meltap.sock",
                                                    "--dump-frames", dump], label: "meltap")
        guard eventually(timeout: 30, { meltap.output.contains("meltap: client") || !meltap.process.isRunning }),
              meltap.process.isRunning else {
            throw HarnessError("pw-jack meltap run did not start: \(meltap.errors)\(meltap.output)")
        }
        // meltap is a node of this PipeWire graph (not a client of some JACK server).
        let nodes = session.run("pw-cli", ["ls", "Node"])
        #expect(nodes.contains("node.name = \"meltap\""), "meltap is not a PipeWire node: \(nodes)")
        let source = try session.start("pw-jack", [sourceBinary, "--outputs", "1", "--signal", "noise", "--seed", "7",
                                                    "--connect", "^meltap:in_", "--wait-connected", "--record", record,
                                                    "--record-seconds", "2", "--exit-when-recorded"], label: "source")
        #expect(source.waitForExit(timeout: 30), "the source did not finish: \(source.errors)")
        #expect(source.process.terminationStatus == 0, "meltap-testsource failed: \(source.errors)")
        #expect(meltap.stop(signal: SIGTERM) == 0, "meltap run failed: \(meltap.errors)")
        #expect(meltap.output.contains("dropped 0, xruns 0"), "meltap's report: \(meltap.output)")

        let sent = try SourceRecord(path: record)
        #expect(sent.sampleRate == 48000)
        let decoded = try FrameDump.decode(Array(try Data(contentsOf: URL(fileURLWithPath: dump))))
        let fftLength = 2048, hopLength = 512
        // The longest run of unflagged live frames, one hop apart, whose windows lie inside what
        // the source recorded. (A frame flagged xrun or discontinuity says itself that its samples
        // are not what was sent at its frame time: PipeWire may reposition the graph as the source
        // joins.)
        var runs: [[FrameDump.Frame]] = [[]]
        for frame in decoded.frames {
            let usable = frame.metadata.flags.isEmpty && frame.metadata.frameTime >= sent.blocks[0].frameTime
                && sent.sample(channel: 0, at: frame.metadata.frameTime + Int64(fftLength) - 1) != nil
            if !usable { runs.append([]); continue }
            if let last = runs[runs.count - 1].last, frame.metadata.frameTime != last.metadata.frameTime + Int64(hopLength) {
                runs.append([])
            }
            runs[runs.count - 1].append(frame)
        }
        let inside = runs.max { $0.count < $1.count } ?? []
        let report = meltap.output
        try #require(inside.count >= 100, "the longest run of usable live frames has \(inside.count) of \(decoded.frames.count); meltap said: \(report)")
        // The samples those frames saw, as meltap file reads them: a float WAV.
        let start = inside[0].metadata.frameTime
        let count = Int(inside[inside.count - 1].metadata.frameTime - start) + fftLength
        let samples = try (0..<count).map { offset -> Float in
            try #require(sent.sample(channel: 0, at: start + Int64(offset)))
        }
        #expect(samples.contains { $0 != 0 }, "the source sent only silence")
        let wav = session.directory + "/sent.wav", npy = session.directory + "/sent.npy"
        let writer = try AudioFileWriter(path: wav, sampleRate: 48000, channelCount: 1, format: .wavFloat)
        try writer.write(interleaved: samples)
        try writer.close()
        let file = try FileCommandTests.meltap(["file", wav, "-o", npy, "--preset", "librosa", "--framing", "none"])
        try #require(file.status == 0, "meltap file failed: \(file.stderr)")
        let offline = try NpyArray.load(path: npy)
        try #require(offline.shape == [inside.count, decoded.header.width], "meltap file gave \(offline.shape)")
        var mismatches = 0
        for (index, frame) in inside.enumerated() {
            let expected = Array(offline.values[(index * decoded.header.width)..<((index + 1) * decoded.header.width)])
            if frame.values != expected {
                mismatches += 1
                if mismatches <= 3 {
                    Issue.record("frame at \(frame.metadata.frameTime) differs: live \(frame.values.prefix(3)), file \(expected.prefix(3))")
                }
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(inside.count) frames differ")
        print("PipeWire: \(inside.count) live frames equal meltap file's, bit for bit")
    }
}
