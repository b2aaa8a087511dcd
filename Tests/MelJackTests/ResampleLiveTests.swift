import Foundation
import Glibc
import MeltapTestSupport
import MelDSP
import MelFiles
import MelSystem
import MelTransport
import Testing

/// `meltap run --sample-rate 16000` on a 48 kHz server: the resampler runs in the process
/// callback, and the live frames equal `meltap file --sample-rate 16000 --clamp running` on the
/// samples meltap received, bit for bit, from the stream's first sample.
@Suite(.serialized) struct ResampleLiveTests {
    /// A 3 s test signal at 48 kHz: a chirp from 60 Hz to 7 kHz, a 1 kHz tone and seeded noise.
    static func signal() -> [Float] {
        var state: UInt64 = 17
        return (0..<144_000).map { i in
            let t = Double(i) / 48000
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let noise = Double(Int64(bitPattern: state) >> 40) / Double(1 << 23)
            let chirp = sin(2 * .pi * (60 * t + 0.5 * (7000 - 60) / 3 * t * t))
            return Float(0.3 * chirp + 0.2 * sin(2 * .pi * 1000 * t) + 0.05 * noise)
        }
    }

    /// Connects to meltap's socket and returns the first message, the stream header.
    static func header(socket path: String) throws -> StreamHeader {
        let address = try #require(UnixSocketAddress(path: path), "\(path) does not fit sockaddr_un")
        let fd = UnixSocketAddress.streamSocket()
        try #require(fd >= 0)
        defer { close(fd) }
        let code = address.connect(fd)
        try #require(code == 0, "cannot connect to \(path): \(errnoText(code))")
        var decoder = WireDecoder()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if case let .header(header)? = try decoder.next() { return header }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw HarnessError("the socket closed before a header arrived") }
            decoder.append(buffer[0..<n])
        }
    }

    /// Plays the signal through JACK into `meltap run --sample-rate 16000 --preset <preset>`,
    /// rebuilds the input meltap saw (silence from its stream start, then what the source
    /// recorded sending, block after block), analyses it with `meltap file`, and compares.
    @Test("Live frames at 16 kHz from a 48 kHz server equal meltap file --sample-rate 16000",
          arguments: ["whisper", "kaldi"])
    func liveEqualsFile(preset: String) throws {
        let session = try JackSession(period: longComparisonPeriod, realtime: true)
        defer { session.finish() }
        let raw = session.path("signal.f32")
        let samples = Self.signal()
        try samples.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: raw)) }
        let dump = session.path("frames.bin"), record = session.path("source.bin"), socket = session.path("m.sock")
        let meltap = try session.startMeltap(["--inputs", "1", "--dump-frames", dump, "--preset", preset,
                                              "--sample-rate", "16000", "--xrun-hold", liveTestXrunHold,
                                              "--socket", socket],
                                             expectPort: "meltap:in_1")
        // The stream header: analysis rate, hop and latency in analysis samples; the input rate
        // and the resampler beside the configuration.
        let header = try Self.header(socket: socket)
        #expect(header.sampleRate == 16000 && header.hopLength == 160 && header.frameRate == 100)
        let json = try JSONSerialization.jsonObject(with: Data(header.configurationJSON)) as? [String: Any]
        #expect(json?["inputSampleRate"] as? Double == 48000, "\(String(decoding: header.configurationJSON, as: UTF8.self))")
        #expect(json?["resampler"] as? String == "zita")
        #expect(json?["sampleRate"] as? Double == 16000)
        // 144 analysis samples of resampler look-ahead (430 input samples) are in the latency.
        #expect(header.latencySamples >= 144, "latency \(header.latencySamples)")
        Self.play(raw, recordingTo: record, into: meltap, session: session)
        #expect(meltap.output.contains("resampled from 48000 Hz with zita"), "\(meltap.output)")

        let frames = try DumpFile(path: dump)
        let recorded = try SourceRecord(path: record)
        #expect(frames.sampleRate == 16000, "the dump's sample rate is the analysis rate")
        let live = frames.frames(channel: 0)
        try #require(live.count > 100 && !recorded.blocks.isEmpty, "\(live.count) live frames, \(recorded.blocks.count) recorded blocks")

        let configuration = try MelOverrides().resolve(preset: MelPreset(rawValue: preset)!, sampleRate: 16000)
        let (offline, recordStart) = try Self.fileFrames(live: live, recorded: recorded, configuration: configuration,
                                                         session: session,
                                                         arguments: ["--preset", preset, "--clamp", "running"])
        let width = offline.shape[1]
        #expect(width == frames.width)

        let (compared, mismatches) = Self.compare(live: live, offline: offline, recordStart: recordStart,
                                                  configuration: configuration)
        print("\(preset): \(compared) live frames compared with meltap file (\(live.count) live, \(offline.shape[0]) in the file)")
        #expect(mismatches == 0, "\(mismatches) of \(compared) frames differ")
        #expect(compared >= 150, "only \(compared) frames could be compared (want ≥ 150)")
    }

    /// Rebuilds what meltap's port received on a stream resampled from 48 to 16 kHz (silence from
    /// the stream's start, then the recorded blocks, then silence) and analyses it with
    /// `meltap file --sample-rate 16000 ARGUMENTS`. Returns the file's frames and the JACK time of
    /// the recording's first sample. `extra` gets more output paths (e.g. `--save-audio`).
    static func fileFrames(live: [DumpedFrame], recorded: SourceRecord, configuration: MelConfiguration,
                           session: JackSession, arguments: [String],
                           output: String = "file.npy") throws -> (NpyArray, Int64) {
        let analyzer = try MelAnalyzer(configuration: configuration, clampRule: .running)
        // Frame time = stream start + ⌊first analysis sample · 48000 / 16000⌋ (JACK frames).
        func inputOffset(ofFrame sequence: UInt64) -> Int64 { Int64(analyzer.firstSample(ofFrame: Int(sequence))) * 3 }
        // The stream start in JACK's clock of the last frame before the recording (JACK may have
        // restamped its clock before, which frame times follow), and so the silence meltap
        // received before the first recorded block.
        let recordStart = recorded.blocks[0].frameTime
        guard let before = live.last(where: { $0.metadata.frameTime < recordStart }) else {
            throw HarnessError("no live frame precedes the recording; meltap started after the source?")
        }
        let streamStart = before.metadata.frameTime - inputOffset(ofFrame: before.metadata.sequence)
        let lead = Int(recordStart - streamStart)
        guard lead >= 0 else { throw HarnessError("the recording starts \(lead) samples before meltap's stream") }

        // What meltap received: silence, the recorded blocks in order, silence after.
        let received = [Float](repeating: 0, count: lead) + recorded.samples[0] + [Float](repeating: 0, count: 48000)
        let wav = session.path("received.wav"), npy = session.path(output)
        let writer = try AudioFileWriter(path: wav, sampleRate: 48000, channelCount: 1, format: .wavFloat)
        try writer.write(interleaved: received)
        try writer.close()
        let file = try Child(try releaseBinary("meltap"), ["file", wav, "-o", npy, "--sample-rate", "16000"] + arguments,
                             environment: ProcessInfo.processInfo.environment, directory: session.directory, label: "file")
        guard file.waitForExit(timeout: 60) && file.process.terminationStatus == 0 else {
            throw HarnessError("meltap file failed: \(file.errors)")
        }
        return (try NpyArray.load(path: npy), recordStart)
    }

    /// Compares live frames with file frames row for row, bit for bit, until the first frame whose
    /// input may differ from what the source sent (.xrun: damaged; .gap: lost; a new epoch), damage
    /// in the silence before the recording aside. The
    /// resampler (and Whisper's running maximum, micro's noise estimates) carry state, so nothing
    /// after such a frame is comparable. `.discontinuity` alone (a restamped clock) leaves the
    /// input contiguous: values still compare; times step by hop · 3 otherwise. Frames that see
    /// only the silence before the recording are skipped. Returns (compared, mismatching) frames.
    static func compare(live: [DumpedFrame], offline: NpyArray, recordStart: Int64,
                        configuration: MelConfiguration) -> (Int, Int) {
        let hop = Int64(configuration.hopLength), width = offline.shape[1]
        var compared = 0, mismatches = 0
        for (k, frame) in live.enumerated() {
            let metadata = frame.metadata
            if k > 0 && !metadata.flags.contains(.discontinuity) && !metadata.flags.contains(.gap) {
                #expect(metadata.frameTime - live[k - 1].metadata.frameTime == hop * 3,
                        "frame time \(live[k - 1].metadata.frameTime) → \(metadata.frameTime) without .discontinuity")
            }
            // Damage in the silence before the recording changes nothing later: the resampler and
            // the analyzers end digital silence in the same state however many zeros came, and
            // `fileFrames` places the recording by the last frame before it. Only damage whose
            // window (plus 4096 samples of resampler reach) may touch the recording ends the
            // comparison.
            let beforeRecording = metadata.frameTime + 3 * Int64(configuration.frameLength) + 4096 <= recordStart
            if !metadata.flags.isDisjoint(with: [.serverRestart, .reconfigured])
                || (!beforeRecording && !metadata.flags.isDisjoint(with: [.xrun, .gap])) {
                print("stopped comparing at frame \(metadata.sequence) (flags \(metadata.flags.rawValue))")
                break
            }
            let row = Int(metadata.sequence)
            guard row < offline.shape[0] else { break }
            let expected = Array(offline.values[(row * width)..<((row + 1) * width)])
            guard metadata.frameTime + 3 * Int64(configuration.frameLength) > recordStart else { continue }  // silence
            compared += 1
            if frame.values.map(\.bitPattern) != expected.map(\.bitPattern) {
                mismatches += 1
                if mismatches <= 3 {
                    let channel = frame.values.indices.first { frame.values[$0].bitPattern != expected[$0].bitPattern } ?? 0
                    Issue.record("frame \(metadata.sequence) (time \(metadata.frameTime)) differs first at band \(channel): live \(frame.values[channel]), file \(expected[channel])")
                }
            }
        }
        return (compared, mismatches)
    }

    /// Plays the raw float32 file `raw` from the test source into meltap's ports (recording what it
    /// sent to `record`, 3.5 s), then stops meltap with SIGINT and prints its report.
    static func play(_ raw: String, recordingTo record: String, into meltap: Child, session: JackSession) {
        do {
            let source = try session.startSource(["--outputs", "1", "--signal", "file:" + raw, "--connect", "meltap:in_.*",
                                                  "--wait-connected", "--record", record, "--record-seconds", "3.5",
                                                  "--exit-when-recorded"])
            #expect(source.waitForExit(timeout: 60), "the test source did not finish: \(source.errors)")
            #expect(source.process.terminationStatus == 0, "test source: \(source.errors)")
        } catch {
            Issue.record("cannot start the test source: \(error)")
        }
        usleep(300_000)
        #expect(meltap.stop(signal: SIGINT) == 0, "meltap: \(meltap.errors)")
        print(meltap.output)
    }
}
