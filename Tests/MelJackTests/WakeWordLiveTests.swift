import Foundation
import Glibc
import MeltapTestSupport
import MelDSP
import MelFiles
import MelTransport
import Testing

/// A real third-party keyword spotter on meltap's live frames: espeak-ng speech played into a
/// private 48 kHz dummy JACK server, `meltap run --preset micro --sample-rate 16000`, and
/// Examples/wakeword.py running pymicro-wakeword's shipped models on the stream.
@Suite(.serialized) struct WakeWordLiveTests {
    static let python = packageRoot.appendingPathComponent(".venv/bin/python").path
    static let support = packageRoot.appendingPathComponent("Tests/MelJackTests/Support/wakeword_support.py").path
    static let example = packageRoot.appendingPathComponent("Examples/wakeword.py").path
    static let models = ["okay_nabu", "alexa", "hey_mycroft", "hey_jarvis"]

    struct Segment: Decodable {
        var text: String
        var model: String?
        var start: Int
        var end: Int
    }

    struct Utterances: Decodable {
        var rate: Int
        var segments: [Segment]
    }

    /// Runs the support script to completion; throws with its output on failure.
    static func runSupport(_ session: JackSession, _ arguments: [String]) throws -> String {
        try session.runScript(python, support, arguments, timeout: 120)
    }

    @Test("Wake words spoken into JACK are detected by their models, and by no other; live frames equal file mode and pymicro-features")
    func wakeWordsAreDetectedLive() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.python),
                     "no .venv: run scripts/install-deps (it installs pymicro-wakeword, soxr and espeak-ng)")
        let session = try JackSession(period: longComparisonPeriod, realtime: true)
        defer { session.finish() }
        let raw = session.path("speech.f32"), segmentsPath = session.path("speech.json")
        _ = try Self.runSupport(session, ["utterances", raw, segmentsPath])
        let utterances = try JSONDecoder().decode(Utterances.self, from: Data(contentsOf: URL(fileURLWithPath: segmentsPath)))
        let totalSamples = utterances.segments.last!.end

        let dump = session.path("frames.bin"), record = session.path("source.bin"), socket = session.path("m.sock")
        let meltap = try session.startMeltap(["--inputs", "1", "--preset", "micro", "--sample-rate", "16000",
                                              "--dump-frames", dump, "--socket", socket, "--xrun-hold", liveTestXrunHold],
                                             expectPort: "meltap:in_1")
        #expect(eventually(timeout: 20) { FileManager.default.fileExists(atPath: socket) }, "meltap's socket did not appear")
        let spotter = try session.launch(Self.python, [Self.example, socket, "--probabilities"]
                                         + Self.models.flatMap { ["--model", $0] }, label: "wakeword")
        usleep(1_500_000)  // Python and TFLite start-up; the models count frames from the stream's start anyway
        #expect(spotter.process.isRunning, "wakeword.py exited: \(spotter.errors)")
        let seconds = Double(totalSamples) / 48000 + 0.5
        let source = try session.startSource(["--outputs", "1", "--signal", "file:" + raw, "--connect", "meltap:in_.*",
                                              "--wait-connected", "--record", record,
                                              "--record-seconds", String(format: "%.2f", seconds), "--exit-when-recorded"])
        #expect(source.waitForExit(timeout: seconds + 60), "the test source did not finish: \(source.errors)")
        #expect(source.process.terminationStatus == 0, "test source: \(source.errors)")
        usleep(500_000)
        #expect(meltap.stop(signal: SIGINT) == 0, "meltap: \(meltap.errors)")
        #expect(spotter.waitForExit(timeout: 30), "wakeword.py did not see the stream end")
        #expect(spotter.process.terminationStatus == 0, "wakeword.py: \(spotter.errors)")

        // 1. Detections: each wake word by its model inside its segment; nothing else fires.
        let recorded = try SourceRecord(path: record)
        let recordStart = recorded.blocks[0].frameTime
        /// The segment holding the last input sample of the frame starting at JACK time `time`
        /// (a micro frame spans 480 analysis samples, 1440 at 48 kHz).
        func segment(atFrameTime time: Int64) -> Int? {
            let sample = Int(time - recordStart) + 1440 - 1
            return utterances.segments.firstIndex { $0.start <= sample && sample < $0.end }
        }
        var best = [[Double]](repeating: [Double](repeating: 0, count: Self.models.count), count: utterances.segments.count)
        var fired = [[Bool]](repeating: [Bool](repeating: false, count: Self.models.count), count: utterances.segments.count)
        var evaluations = 0
        for line in spotter.output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.first == "PROB", fields.count == 5, let model = Self.models.firstIndex(of: String(fields[1])),
               let probability = Double(fields[2]), let time = Int64(fields[4]) {
                evaluations += 1
                if let s = segment(atFrameTime: time) { best[s][model] = max(best[s][model], probability) }
            } else if fields.first == "DETECTED", fields.count == 8, let model = Self.models.firstIndex(of: String(fields[1])),
                      let time = Int64(fields[7]) {
                guard let s = segment(atFrameTime: time) else {
                    Issue.record("\(fields[1]) fired outside the speech, at JACK time \(time): \(line)")
                    continue
                }
                fired[s][model] = true
            }
        }
        #expect(evaluations > 100, "wakeword.py printed \(evaluations) evaluations: \(spotter.output.prefix(500))")
        // Segments holding frames the stream itself flags as damaged or lost (an xrun on a loaded
        // machine): a wake word there may rightly be missed, so it is reported, not judged.
        let frames = try DumpFile(path: dump)
        let live = frames.frames(channel: 0)
        let damaged = Set(live.filter { !$0.metadata.flags.isDisjoint(with: [.xrun, .gap]) }
            .compactMap { segment(atFrameTime: $0.metadata.frameTime) })
        var judged = 0
        for (s, segment) in utterances.segments.enumerated() {
            let summary = Self.models.indices.map { "\(Self.models[$0]) \(String(format: "%.3f", best[s][$0]))\(fired[s][$0] ? " fired" : "")" }
            print("utterance \"\(segment.text)\": " + summary.joined(separator: ", ")
                  + (damaged.contains(s) ? " (frames flagged xrun or gap: detection not judged)" : ""))
            for (m, model) in Self.models.enumerated() {
                if model == segment.model {
                    if damaged.contains(s) { continue }
                    judged += 1
                    #expect(fired[s][m], "\(model) did not fire on \"\(segment.text)\" (max probability \(best[s][m]))")
                } else if !(segment.text == "hey jarvis" && model == "hey_jarvis") {
                    #expect(!fired[s][m], "\(model) fired on \"\(segment.text)\"")
                }
            }
        }

        #expect(judged >= 2, "only \(judged) wake words could be judged: too many xruns")

        // 2. Live frames equal `meltap file --preset micro --sample-rate 16000` on the same 48 kHz
        //    samples, up to the first damaged frame (the resampler and noise estimates carry state).
        try #require(live.count > 100, "\(live.count) live frames")
        let configuration = try MelOverrides().resolve(preset: .micro, sampleRate: 16000)
        let audio16 = session.path("analysed.wav")
        let (offline, start) = try ResampleLiveTests.fileFrames(live: live, recorded: recorded, configuration: configuration,
                                                                session: session,
                                                                arguments: ["--preset", "micro", "--save-audio", audio16])
        let (compared, mismatches) = ResampleLiveTests.compare(live: live, offline: offline, recordStart: start,
                                                               configuration: configuration)
        print("micro: \(compared) live frames compared with meltap file (\(live.count) live, \(offline.shape[0]) in the file)")
        #expect(mismatches == 0, "\(mismatches) of \(compared) frames differ")
        #expect(compared >= 150, "only \(compared) frames could be compared (want ≥ 150)")

        // 3. pymicro-features on the 16 kHz int16 samples meltap analysed gives exactly meltap's frames.
        let report = try Self.runSupport(session, ["frontend", audio16, session.path("file.npy")])
        print("pymicro-features on meltap file --save-audio: \(report.replacingOccurrences(of: "\n", with: "; "))")
    }
}
