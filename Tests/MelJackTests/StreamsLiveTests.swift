import Foundation
import Glibc
import MeltapTestSupport
import MelDSP
import MelTransport
import Testing

/// `meltap run --stream …`: several feature streams from one set of input ports, each on its own
/// socket, each equal to file mode on the samples sent.
@Suite(.serialized) struct StreamsLiveTests {
    /// A 48 kHz server, one input, two streams: whisper resampled to 16 kHz and librosa at the
    /// server's 48 kHz. The whisper stream equals `meltap file --sample-rate 16000 --clamp
    /// running` on the input meltap received, bit for bit (as `ResampleLiveTests`); the librosa
    /// stream equals the offline analysis of the recorded samples at their JACK frame times (as
    /// `JackLiveTests`).
    @Test("Two streams from one input (whisper@16000, librosa at 48000) both equal file mode")
    func twoStreamsEqualFileMode() throws {
        let session = try JackSession(period: longComparisonPeriod, realtime: true)
        defer { session.finish() }
        let raw = session.path("signal.f32")
        try ResampleLiveTests.signal().withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: raw)) }
        let dump = session.path("frames"), record = session.path("source.bin"), sockets = session.path("sockets")
        try FileManager.default.createDirectory(atPath: sockets, withIntermediateDirectories: true)
        let meltap = try session.startMeltap(["--inputs", "1", "--dump-frames", dump, "--xrun-hold", liveTestXrunHold,
                                              "--stream", "kws=whisper@16000", "--stream", "viz=librosa",
                                              "--socket-dir", sockets],
                                             expectPort: "meltap:in_1")
        // Each stream on its own socket, CLIENT.NAME.sock, with its own header.
        let kwsHeader = try ResampleLiveTests.header(socket: sockets + "/meltap.kws.sock")
        let vizHeader = try ResampleLiveTests.header(socket: sockets + "/meltap.viz.sock")
        #expect(kwsHeader.sampleRate == 16000 && kwsHeader.hopLength == 160 && kwsHeader.bandCount == 80)
        #expect(vizHeader.sampleRate == 48000 && vizHeader.hopLength == 512 && vizHeader.bandCount == 128)
        let kwsJSON = try JSONSerialization.jsonObject(with: Data(kwsHeader.configurationJSON)) as? [String: Any]
        let vizJSON = try JSONSerialization.jsonObject(with: Data(vizHeader.configurationJSON)) as? [String: Any]
        #expect(kwsJSON?["resampler"] as? String == "zita" && kwsJSON?["inputSampleRate"] as? Double == 48000)
        #expect(vizJSON?["resampler"] as? String == "none" && vizJSON?["preset"] as? String == "librosa")

        ResampleLiveTests.play(raw, recordingTo: record, into: meltap, session: session)
        #expect(meltap.output.contains("stream kws publishing on \(sockets)/meltap.kws.sock"), "\(meltap.output)")
        #expect(meltap.output.contains("stream viz publishing on \(sockets)/meltap.viz.sock"), "\(meltap.output)")
        let recorded = try SourceRecord(path: record)

        // whisper@16000 through the resampler.
        let kws = try DumpFile(path: dump + ".kws")
        #expect(kws.sampleRate == 16000 && kws.width == 80)
        let live = kws.frames(channel: 0)
        try #require(live.count > 100 && !recorded.blocks.isEmpty, "\(live.count) live frames, \(recorded.blocks.count) recorded blocks")
        let whisper = try MelOverrides().resolve(preset: .whisper, sampleRate: 16000)
        let (offline, recordStart) = try ResampleLiveTests.fileFrames(
            live: live, recorded: recorded, configuration: whisper, session: session,
            arguments: ["--preset", "whisper", "--clamp", "running"])
        let (compared, mismatches) = ResampleLiveTests.compare(live: live, offline: offline, recordStart: recordStart,
                                                               configuration: whisper)
        print("kws (whisper@16000): \(compared) live frames compared with meltap file")
        #expect(mismatches == 0, "\(mismatches) of \(compared) frames differ")
        #expect(compared >= 150, "only \(compared) frames could be compared (want ≥ 150)")

        // librosa at the server's rate, frame by frame on the recorded samples.
        let viz = try DumpFile(path: dump + ".viz")
        #expect(viz.sampleRate == 48000 && viz.width == 128)
        let vizCompared = try compareLiveWithOffline(live: viz.frames(channel: 0), record: recorded, recordChannel: 0,
                                                     silenceBefore: true, silenceAfter: true,
                                                     configuration: librosaConfiguration())
        print("viz (librosa@48000): \(vizCompared) live frames compared with offline")
        #expect(vizCompared >= 150, "only \(vizCompared) frames could be compared (want ≥ 150)")
    }
}
