// The live pipeline as a library: a LiveSession embedded in this test process, on a private
// dummy jackd, fed by a sine from a JACK client of our own, with no meltap binary involved.
import CJack
import Foundation
import Glibc
import MelDSP
import MelFiles
import MelJack
import MelPipeline
import MelServer
import MelTransport
import MeltapClient
import Testing

/// Collects a stream's frames as the consumer hands them out (an embedding program's own sink).
final class CollectingSink: FrameSink, @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [FrameDump.Frame] = []
    private(set) var finished = false

    func consume(metadata: FrameMetadata, values: UnsafeBufferPointer<Float>) {
        lock.withLock { collected.append(FrameDump.Frame(metadata: metadata, values: Array(values))) }
    }

    func finish() { lock.withLock { finished = true } }

    var frames: [FrameDump.Frame] { lock.withLock { collected } }
}

/// A JACK client with one output port playing a 440 Hz sine (amplitude 0.5, at the server's rate),
/// so the session computes frames that differ from one another.
final class SineSource {
    /// The process callback's state: the phase in samples. Owned; freed in `close()`.
    private let state: UnsafeMutablePointer<SineState>
    private let client: OpaquePointer

    struct SineState {
        var port: OpaquePointer?
        var sample: Int = 0
        var sampleRate: Double = 48000
    }

    init(name: String) throws {
        var status = jack_status_t(0)
        guard let client = meltap_jack_client_open(name, JackNoStartServer, &status) else {
            throw PipelineError("cannot open the sine source's JACK client (status \(status.rawValue))")
        }
        self.client = client
        state = .allocate(capacity: 1)
        state.initialize(to: SineState(port: jack_port_register(client, "out", JACK_DEFAULT_AUDIO_TYPE, UInt(JackPortIsOutput.rawValue), 0),
                                       sampleRate: Double(jack_get_sample_rate(client))))
        jack_set_process_callback(client, { blockLength, argument in
            let state = argument!.assumingMemoryBound(to: SineState.self)
            let buffer = jack_port_get_buffer(state.pointee.port, blockLength)!.assumingMemoryBound(to: Float.self)
            for i in 0..<Int(blockLength) {
                buffer[i] = Float(0.5 * sin(2 * Double.pi * 440 * Double(state.pointee.sample + i) / state.pointee.sampleRate))
            }
            state.pointee.sample += Int(blockLength)
            return 0
        }, state)
        jack_activate(client)
    }

    /// Connects the sine to `port` ("client:in_1").
    func connect(to port: String) {
        jack_connect(client, "\(String(cString: jack_get_client_name(client))):out", port)
    }

    func close() {
        jack_deactivate(client)
        jack_client_close(client)
        state.deallocate()
    }
}

@Suite(.serialized) struct LiveSessionTests {
    @Test("An embedded LiveSession: sockets, dumps and an own sink get the same frames per stream; the Recorder records one")
    func embeddedSession() throws {
        // libjack reads the server name from the environment of this process.
        let previousServer = ProcessInfo.processInfo.environment["JACK_DEFAULT_SERVER"]
        setenv("JACK_DEFAULT_SERVER", "meltap-pipeline-\(getpid())", 1)
        defer {
            if let previousServer { setenv("JACK_DEFAULT_SERVER", previousServer, 1) } else { unsetenv("JACK_DEFAULT_SERVER") }
        }
        let server = try PrivateJackServer.start(sampleRate: 48000, period: 256)
        defer { server.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meltap-pipeline-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        var client = JackClientOptions()
        client.name = "embedded"
        client.inputCount = 2
        let streams = [
            JackStreamSpec(name: "kws", analysisSampleRate: 16000) { try MelOverrides().resolve(preset: .whisper, sampleRate: $0) },
            JackStreamSpec(name: "viz", analysisSampleRate: nil) { MelPreset.librosa.configuration(sampleRate: $0) },
        ]
        var options = LiveSessionOptions(client: client, streams: streams)
        options.socketPath = { "\(directory)/\($0.name).sock" }
        options.dumpPath = { "\(directory)/\($0.name).dump" }
        let sinks = ["kws": CollectingSink(), "viz": CollectingSink()]
        options.extraSinks = { [sinks[$0.name]!] }

        let session = try LiveSession(options: options)
        #expect(session.publishings.map(\.socketPath) == ["\(directory)/kws.sock", "\(directory)/viz.sock"])
        try session.start()
        let source = try SineSource(name: "sine")
        defer { source.close() }
        source.connect(to: "\(session.client.clientName):in_1")

        // The library's recorder on the kws socket, for 3 s, as `meltap record` does.
        let subscriber = try MeltapSubscriber(socketPath: "\(directory)/kws.sock", receiveTimeout: .milliseconds(200))
        #expect(subscriber.header.sampleRate == 16000 && subscriber.header.bandCount == 80)
        let configuration = try JSONValue(json: subscriber.header.configurationJSON)
        #expect(configuration["inputSampleRate"]?.doubleValue == 48000 && configuration["resampler"]?.stringValue == "zita"
                    && configuration["meltapVersion"]?.stringValue == meltapVersion,
                "\(String(decoding: subscriber.header.configurationJSON, as: UTF8.self))")
        let output = "\(directory)/kws.npy"
        let recorder = try Recorder(path: output, socketPath: "\(directory)/kws.sock", header: subscriber.header,
                                    channels: [0, 1], existing: .refuse, showsStatus: false)
        let summary = try recorder.record(from: subscriber, duration: 3)
        #expect(summary.stopReason == "duration" && summary.rows >= 250, "\(summary)")
        session.stop()
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/kws.sock"), "stop() leaves the socket behind")

        for name in ["kws", "viz"] {
            let sink = try #require(sinks[name])
            #expect(sink.finished, "\(name): the sink was not finished")
            let frames = sink.frames
            let dump = try FrameDump.decode(Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name).dump"))))
            #expect(dump.header.sampleRate == (name == "kws" ? 16000 : 48000) && dump.header.channelCount == 2)
            #expect(frames.count > 100 && dump.frames == frames, "\(name): \(frames.count) frames to the sink, \(dump.frames.count) dumped")
            // Per channel, consecutive sequences: the consumer kept up.
            for channel in 0..<2 {
                let sequences = frames.filter { $0.metadata.channel == channel }.map(\.metadata.sequence)
                #expect(sequences == Array(sequences.indices).map { UInt64($0) + (sequences.first ?? 0) }, "\(name) in_\(channel + 1)")
            }
            // The sine reaches in_1 only: its frames are not in_2's silence.
            let sine = frames.last { $0.metadata.channel == 0 }?.values, silence = frames.last { $0.metadata.channel == 1 }?.values
            #expect(sine != nil && sine != silence && Set(sine ?? []).count > 1, "\(name): in_1 carries no signal")
        }

        // Every recorded row holds the frames the sink saw for that sequence, bit for bit.
        let array = try NpyArray.load(path: output)
        #expect(array.shape == [summary.rows, 2, 80], "shape \(array.shape)")
        let sidecar = try FeatureSidecar.read(path: Sidecar.path(forFeatureFile: output))
        let firstRow = try #require(sidecar.recording?.start?.sequence)
        let kws = sinks["kws"]!.frames
        var bySequence: [[UInt64: [Float]]] = [[:], [:]]
        for frame in kws { bySequence[Int(frame.metadata.channel)][frame.metadata.sequence] = frame.values }
        for row in 0..<summary.rows {
            for channel in 0..<2 {
                let expected = bySequence[channel][firstRow + UInt64(row)]
                let start = (row * 2 + channel) * 80
                if expected != Array(array.values[start..<start + 80]) {
                    Issue.record("row \(row) in_\(channel + 1) is not the frame the sink saw for sequence \(firstRow + UInt64(row))")
                    return
                }
            }
        }
    }
}
