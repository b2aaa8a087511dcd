import Foundation
import Glibc
import MeltapTestSupport
import MelDSP
import MelTransport
import Testing

/// The `--xrun-hold` (ms) the live comparisons run with: long enough that an xrun reported late
/// still flags every frame built from damaged samples (docs/realtime.md has the measured delays).
/// MELTAP_TEST_XRUN_HOLD overrides it, to measure what escapes with less.
let liveTestXrunHold = ProcessInfo.processInfo.environment["MELTAP_TEST_XRUN_HOLD"] ?? "100"

/// End-to-end tests against real, private dummy JACK servers, with the release binaries.
/// Serialized: JACK gets flaky with many clients opening at once.
@Suite(.serialized) struct JackLiveTests {
    /// Plays `channels` seeded signals from the test source into meltap, then checks every
    /// channel bit for bit. (Flags under stalls, xruns and period changes are the engine's, tested
    /// without jackd in MelRealtimeTests.)
    func liveMatchesOffline(period: Int, channels: Int, signal: String, seconds: Double, realtime: Bool = false,
                            features: [String] = ["--preset", "librosa"],
                            configuration: MelConfiguration = librosaConfiguration()) throws {
        let session = try JackSession(period: period, realtime: realtime)
        defer { session.finish() }
        let dump = session.path("frames.bin")
        let record = session.path("source.bin")
        let meltap = try session.startMeltap(["--inputs", "\(channels)", "--dump-frames", dump]
                                             + features + ["--xrun-hold", liveTestXrunHold],
                                             expectPort: "meltap:in_\(channels)")
        let source = try session.startSource(
            ["--outputs", "\(channels)", "--signal", signal, "--seed", "7", "--connect", "meltap:in_.*",
             "--wait-connected", "--record", record, "--record-seconds", "\(seconds)", "--exit-when-recorded"])
        #expect(source.waitForExit(timeout: seconds + 40), "the test source did not finish: \(source.errors)")
        #expect(source.process.terminationStatus == 0, "test source: \(source.errors)")
        usleep(300_000)  // a few more blocks of silence reach meltap
        #expect(meltap.stop(signal: SIGINT) == 0, "meltap: \(meltap.errors)")
        print(meltap.output)

        let frames = try DumpFile(path: dump)
        let recorded = try SourceRecord(path: record)
        #expect(frames.channels == channels)
        #expect(recorded.channels == channels)
        // A loaded machine makes the dummy driver skip cycles; frames spanning a skip are not
        // comparable, so ask for a modest number (the comparison itself is bit for bit).
        let minimum = Int(seconds * 48000) / 512 / 8
        for channel in 0..<channels {
            let live = frames.frames(channel: channel)
            let compared = try compareLiveWithOffline(
                live: live, record: recorded, recordChannel: channel,
                silenceBefore: true, silenceAfter: true, configuration: configuration)
            print("channel \(channel): \(compared) live frames compared with offline")
            #expect(compared >= minimum, "channel \(channel): only \(compared) frames could be compared (want ≥ \(minimum))")
        }
    }

    @Test("No server: the error says how to start one")
    func noServerMessage() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var environment = ProcessInfo.processInfo.environment
        environment["JACK_DEFAULT_SERVER"] = "meltap-test-absent-\(getpid())"
        let meltap = try Child(try releaseBinary("meltap"), ["run", "--inputs", "1"], environment: environment,
                               directory: directory, label: "meltap")
        #expect(meltap.waitForExit(timeout: 30))
        #expect(meltap.process.terminationStatus != 0)
        let message = meltap.errors
        #expect(message.contains("No JACK server is running"), "stderr: \(message)")
        #expect(message.contains("jackd -d dummy -r 48000 -p 256"), "stderr: \(message)")
        #expect(message.contains("--start-server"), "stderr: \(message)")
    }

    /// Period 64 (1.3 ms) runs on a realtime-scheduled server when allowed, as on an audio box:
    /// without it, two busy cores make the dummy driver miss so many cycles that nearly every
    /// frame is (rightly) flagged and nothing is left to compare. 256 runs without, so load on the
    /// machine produces xruns and discontinuities that the flags must cover, on two inputs each
    /// matching its own signal. Other block lengths, period changes, stalls and many channels are
    /// covered without jackd (MelRealtimeTests).
    @Test("Live frames equal offline frames on the samples sent", arguments: [(64, 1), (256, 2)])
    func liveEqualsOffline(period: Int, channels: Int) throws {
        try liveMatchesOffline(period: period, channels: channels, signal: "noise", seconds: 2, realtime: period < 256)
    }

    /// The linear spectrogram (1025 bins per frame, wider than any mel frame) through the ring,
    /// the dump and the callback: bit for bit the offline frames.
    @Test("Spectrogram frames (n_fft/2 + 1 bins) live equal offline frames")
    func spectrogramLiveEqualsOffline() throws {
        var configuration = librosaConfiguration()
        configuration.output = .spectrogram
        try liveMatchesOffline(period: 256, channels: 1, signal: "noise", seconds: 2,
                               features: ["--preset", "librosa", "--features", "spectrogram"], configuration: configuration)
    }

    @Test("jack_metro as a third-party source, aligned by frame time; late ports get connected")
    func thirdPartySource() throws {
        let session = try JackSession(period: 256)
        defer { session.finish() }
        let dump = session.path("frames.bin")
        let record = session.path("metro.bin")
        // No metro port exists yet: meltap connects it when it appears.
        let meltap = try session.startMeltap(["--connect", "metro:.*", "--dump-frames", dump], expectPort: "meltap:in_1")
        _ = try session.launch("jack_metro", ["-n", "metro", "-b", "300", "-f", "1000", "-D", "40"], label: "metro")
        #expect(eventually(timeout: 20) {
            ((try? session.server.tool("jack_lsp", ["-c", "meltap:in_1"])) ?? "").contains("metro:")
        }, "meltap did not connect the late metro port: \(meltap.errors)")
        let source = try session.startSource(["--inputs", "1", "--connect", "metro:.*", "--wait-connected",
                                              "--record", record, "--record-seconds", "3", "--exit-when-recorded"],
                                             label: "recorder")
        #expect(source.waitForExit(timeout: 40), "recorder did not finish: \(source.errors)")
        #expect(meltap.stop(signal: SIGINT) == 0, "meltap: \(meltap.errors)")
        let frames = try DumpFile(path: dump)
        let recorded = try SourceRecord(path: record)
        #expect(recorded.samples[0].contains { $0 != 0 }, "the recorder heard no clicks")
        let compared = try compareLiveWithOffline(live: frames.frames(channel: 0), record: recorded, recordChannel: 0,
                                                  silenceBefore: false, silenceAfter: false, configuration: librosaConfiguration())
        print("metro: \(compared) live frames compared with offline")
        #expect(compared >= 20, "only \(compared) frames lay inside the recording")
    }

    @Test("Killing and restarting jackd: meltap reconnects, restores connections, keeps producing frames")
    func serverRestart() throws {
        let session = try JackSession(period: 256)
        defer { session.finish() }
        let dump = session.path("frames.bin")
        let meltap = try session.startMeltap(["--inputs", "2", "--dump-frames", dump], expectPort: "meltap:in_2")
        // A connection made by someone else is remembered and restored when its source returns.
        func metroConnected() -> Bool {
            ((try? session.server.tool("jack_lsp", ["-c", "meltap:in_2"])) ?? "").contains("metro:")
        }
        let metro = try session.launch("jack_metro", ["-n", "metro", "-b", "120"], label: "metro-1")
        #expect(eventually(timeout: 20) { session.server.ports().contains("metro:120_bpm") })
        try session.server.tool("jack_connect", ["metro:120_bpm", "meltap:in_2"])
        #expect(eventually(timeout: 20, metroConnected))
        usleep(1_000_000)
        session.server.stop()
        metro.stop()
        usleep(500_000)
        try session.server.start()
        #expect(eventually(timeout: 30) { session.server.ports().contains("meltap:in_2") },
                "meltap did not come back: \(meltap.errors)")
        _ = try session.launch("jack_metro", ["-n", "metro", "-b", "120"], label: "metro-2")
        #expect(eventually(timeout: 20, metroConnected), "meltap did not restore metro → in_2: \(meltap.errors)")
        usleep(1_500_000)
        #expect(meltap.stop(signal: SIGINT) == 0, "meltap: \(meltap.errors)")
        #expect(meltap.output.contains("restarts 1"), "output: \(meltap.output)")
        let frames = try DumpFile(path: dump)
        for channel in 0..<2 {
            let live = frames.frames(channel: channel)
            guard let restart = live.firstIndex(where: { $0.metadata.flags.contains(.serverRestart) }) else {
                Issue.record("channel \(channel): no frame carries .serverRestart (\(live.count) frames)")
                continue
            }
            #expect(restart > 0, "frames before the restart")
            // A new epoch of frame time: flagged, so time may go backwards; no frame was lost.
            #expect(live[restart].metadata.flags.contains(.discontinuity))
            #expect(!live[restart].metadata.flags.contains(.gap))
            #expect(live[restart].metadata.sequence == live[restart - 1].metadata.sequence + 1)
            #expect(live.count - restart > 20, "frames after the restart: \(live.count - restart)")
            #expect(live[restart].metadata.sequence > live[restart - 1].metadata.sequence)
        }
    }

    /// Without and with the resampler in the callback (48 → 16 kHz, whisper preset), and with
    /// 8 inputs × 3 streams (two at 16 kHz sharing one resampler per channel, one at 48 kHz).
    @Test("Real-time proof: no heap call in the realtime thread across buffer-size changes",
          arguments: [[String](), ["--sample-rate", "16000", "--preset", "whisper"],
                      ["--stream", "whisper=whisper@16000", "--stream", "kaldi=kaldi@16000,n-mels=80",
                       "--stream", "viz=librosa"],
                      // The spectrogram in dB against the running maximum (1025 bins, running ref).
                      ["--features", "spectrogram-db", "--power", "1", "--db-ref", "max"]])
    func noAllocationsInRealtimeThread(extraArguments: [String]) throws {
        let inputs = extraArguments.contains("--stream") ? 8 : 2
        let session = try JackSession(period: 256)
        defer { session.finish() }
        let library = session.path("librtguard.so")
        let cc = try Child("cc", ["-O2", "-shared", "-fPIC", "-o", library,
                                  packageRoot.appendingPathComponent("Tools/rtguard/rtguard.c").path],
                           environment: ProcessInfo.processInfo.environment, directory: session.directory, label: "cc")
        #expect(cc.waitForExit(timeout: 60) && cc.process.terminationStatus == 0, "cc: \(cc.errors)")
        let meltap = try session.startMeltap(["--inputs", "\(inputs)"] + extraArguments, expectPort: "meltap:in_\(inputs)",
                                             extraEnvironment: ["LD_PRELOAD": library])
        let source = try session.startSource(["--outputs", "\(inputs)", "--signal", "noise", "--connect", "meltap:in_.*",
                                              "--duration", "6"])
        usleep(1_000_000)
        try session.server.setPeriod(512)
        usleep(1_000_000)
        try session.server.setPeriod(128)
        usleep(1_000_000)
        try session.server.setPeriod(1024)
        usleep(1_000_000)
        source.stop()
        #expect(meltap.stop(signal: SIGINT) == 0, "meltap: \(meltap.errors)")
        let output = meltap.output
        print(output)
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("rtguard:") }) else {
            Issue.record("meltap did not report rtguard counts (was the shim preloaded?): \(output)")
            return
        }
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(numbers.count == 3, "\(line)")
        #expect(numbers.first == 0, "heap calls in the realtime thread: \(line)")
        #expect(numbers.dropFirst().first == 0, "frees in the realtime thread: \(line)")
        #expect((numbers.last ?? 0) > 100, "realtime regions: \(line)")
        #expect(output.contains("largest 1024"), "the buffer-size changes did not reach meltap: \(output)")
        // The only call into the kernel the callback may make: one sem_post, to wake a sleeping consumer.
        guard let blocking = output.split(separator: "\n").first(where: { $0.hasPrefix("rtguard: in realtime regions:") }) else {
            Issue.record("meltap did not report rtguard's blocking-call counts: \(output)")
            return
        }
        let counts = blocking.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(counts.count == 4, "\(blocking)")
        if counts.count == 4 {
            #expect(counts[1] <= 1, "more than one sem_post in one callback: \(blocking)")
            #expect(counts[2] == 0, "mutex or condition-variable calls in the callback: \(blocking)")
            #expect(counts[3] == 0, "system-call wrappers in the callback: \(blocking)")
        }
    }
}
