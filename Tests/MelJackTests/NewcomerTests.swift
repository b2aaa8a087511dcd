import Foundation
import Glibc
import MeltapTestSupport
import Testing

/// Issue 24's newcomer path, end to end, as the README writes it, in an environment without
/// XDG_RUNTIME_DIR (root over ssh, containers, services): the wake-word command with jack-play as
/// the microphone, played three times (each play a new client, jack-play-PID), and the service
/// recipe's configuration started twice with its socket directory removed in between (as a
/// reboot empties /run/user/UID).
///
/// Both use the real default socket directory of this user (`/run/user/UID/meltap` or
/// `/tmp/meltap-UID`), not a private one: that is what the newcomer meets. They stop every process
/// they start and remove what they created.
@Suite(.serialized) struct NewcomerTests {
    static let example = packageRoot.appendingPathComponent("Examples/wakeword.py").path

    /// The session's environment without XDG_RUNTIME_DIR.
    static func bareEnvironment(_ session: JackSession) -> [String: String] {
        var environment = session.environment
        environment.removeValue(forKey: "XDG_RUNTIME_DIR")
        return environment
    }

    /// Writes `text` spoken by espeak-ng at 48 kHz (the support script's voice), with 0.5 s of
    /// silence before and 1.5 s after, as a 16-bit mono WAV for jack-play.
    static func speechWAV(_ text: String, to path: String, session: JackSession) throws {
        let supportDirectory = packageRoot.appendingPathComponent("Tests/MelJackTests/Support").path
        let script = session.path("speech.py")
        try """
            import sys, wave
            import numpy as np
            sys.path.insert(0, sys.argv[1])
            import wakeword_support as w
            x = np.concatenate([np.zeros(w.RATE // 2), w.speak(sys.argv[2]), np.zeros(3 * w.RATE // 2)])
            with wave.open(sys.argv[3], "wb") as f:
                f.setnchannels(1); f.setsampwidth(2); f.setframerate(w.RATE)
                f.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
            """.write(toFile: script, atomically: true, encoding: .utf8)
        _ = try session.runScript(WakeWordLiveTests.python, script, [supportDirectory, text, path], timeout: 60)
    }

    /// Starts a child in the session's directory with `environment`.
    static func start(_ executable: String, _ arguments: [String], environment: [String: String],
                      session: JackSession, label: String) throws -> Child {
        try Child(executable, arguments, environment: environment, directory: session.directory, label: label)
    }

    /// Runs a child to its end (30 s at most) and returns its exit status.
    static func run(_ child: Child) -> Int32 {
        guard child.waitForExit(timeout: 30) else { _ = child.stop(signal: SIGKILL); return -1 }
        return child.process.terminationStatus
    }

    @Test("README's wake-word command without XDG_RUNTIME_DIR: three plays by jack-play under three names, three detections on the default socket")
    func wakeWordCommandFollowsThreePlays() throws {
        try #require(FileManager.default.isExecutableFile(atPath: WakeWordLiveTests.python),
                     "no .venv: run scripts/install-deps (it installs pymicro-wakeword, soxr and espeak-ng)")
        let session = try JackSession(period: longComparisonPeriod, realtime: true)
        defer { session.finish() }
        let environment = Self.bareEnvironment(session)
        let speech = session.path("okay_nabu.wav")
        try Self.speechWAV("okay nabu", to: speech, session: session)

        // The README's command, with jack-play as the microphone (the newcomer's --connect).
        let meltap = try Self.start(try releaseBinary("meltap"),
                                    ["run", "--preset", "micro", "--sample-rate", "16000", "--connect", "jack-play.*:out_1"],
                                    environment: environment, session: session, label: "meltap")
        defer { _ = meltap.stop(signal: SIGINT) }
        #expect(eventually(timeout: 20) { session.server.ports().contains("meltap:in_1") || !meltap.process.isRunning },
                "meltap did not start: \(meltap.errors)")
        try #require(meltap.process.isRunning, "meltap exited: \(meltap.errors)")
        // It names its socket: the default directory's meltap.sock.
        let expectedDirectory = FileManager.default.fileExists(atPath: "/run/user/\(getuid())")
            ? "/run/user/\(getuid())/meltap" : "/tmp/meltap-\(getuid())"
        #expect((meltap.output + meltap.errors).contains(expectedDirectory + "/meltap.sock"),
                "meltap did not name the default socket in \(expectedDirectory): \(meltap.output)\(meltap.errors)")
        let wakeword = try Self.start(Self.example, ["--model", "okay_nabu", "--model", "alexa", "--model", "hey_mycroft"],
                                      environment: environment, session: session, label: "wakeword")
        defer { _ = wakeword.stop() }
        usleep(2_500_000)  // Python and TFLite start-up
        try #require(wakeword.process.isRunning, "Examples/wakeword.py exited without a socket argument: \(wakeword.errors)")

        func detections(_ model: String) -> Int {
            wakeword.output.split(separator: "\n").filter { $0.hasPrefix("DETECTED \(model) ") }.count
        }
        var players: [Int32] = []
        for play in 1...3 {
            let player = try session.launch("jack-play", [speech], label: "jack-play-\(play)")
            players.append(player.pid)
            #expect(player.waitForExit(timeout: 30), "jack-play did not finish its 4 s file")
            #expect(eventually(timeout: 10) { detections("okay_nabu") >= play },
                    "play \(play) (jack-play-\(player.pid)) was not detected; meltap: \(meltap.errors)")
        }
        usleep(500_000)
        #expect(detections("okay_nabu") == 3, "\(wakeword.output)")
        #expect(detections("alexa") == 0 && detections("hey_mycroft") == 0, "\(wakeword.output)")
        // Each player was wired to in_1 in turn, and meltap said so.
        for pid in players {
            #expect(meltap.errors.contains("connected jack-play-\(pid):out_1 → meltap:in_1"), "\(meltap.errors)")
        }
    }

    @Test("The service recipe's configuration without XDG_RUNTIME_DIR starts twice, with its socket directory removed in between")
    func serviceRecipeSurvivesAMissingSocketDirectory() throws {
        let session = try JackSession()
        defer { session.finish() }
        let environment = Self.bareEnvironment(session)
        let runtime = "/run/user/\(getuid())", sockets = runtime + "/meltap"
        // On a box the login manager (or the unit's RuntimeDirectory=) makes /run/user/UID; on a
        // CI machine with no login it may be missing, and the test stands in for it.
        var info = stat()
        let madeRuntime = stat(runtime, &info) != 0
        if madeRuntime { try #require(mkdir(runtime, 0o700) == 0, "cannot make \(runtime): \(String(cString: strerror(errno)))") }
        defer {
            try? FileManager.default.removeItem(atPath: sockets)
            if madeRuntime { rmdir(runtime) }
        }
        try? FileManager.default.removeItem(atPath: sockets)

        // Step 3 of the README's recipe, word for word but for the metrics port: port 0, one the
        // kernel picks, so that nothing else on the machine can hold it.
        let printed = try Self.start(try releaseBinary("meltap"),
                                     ["run", "--connect", "system:capture_.*", "--stream", "kws=whisper@16000",
                                      "--stream", "viz=librosa", "--socket-dir", sockets,
                                      "--metrics", "127.0.0.1:0", "--print-config"],
                                     environment: environment, session: session, label: "print-config")
        try #require(Self.run(printed) == 0, "--print-config failed: \(printed.errors)")
        let config = session.path("meltap.toml")
        try printed.output.write(toFile: config, atomically: true, encoding: .utf8)

        for start in 1...2 {
            // The unit's command line.
            let meltap = try Self.start(try releaseBinary("meltap"), ["run", "--config", config],
                                        environment: environment, session: session, label: "meltap-\(start)")
            let kws = sockets + "/meltap.kws.sock", viz = sockets + "/meltap.viz.sock"
            #expect(eventually(timeout: 20) {
                FileManager.default.fileExists(atPath: kws) && FileManager.default.fileExists(atPath: viz)
                    || !meltap.process.isRunning
            }, "start \(start): the sockets did not appear")
            #expect(meltap.process.isRunning, "start \(start): meltap exited: \(meltap.errors)")
            var directoryInfo = stat()
            #expect(stat(sockets, &directoryInfo) == 0 && directoryInfo.st_mode & 0o777 == 0o700,
                    "start \(start): \(sockets) is not a 0700 directory")
            // meltap status finds both streams with no socket argument and no XDG_RUNTIME_DIR.
            let status = try Self.start(try releaseBinary("meltap"), ["status"], environment: environment,
                                        session: session, label: "status-\(start)")
            #expect(Self.run(status) == 0 && status.output.contains("kws") && status.output.contains("viz"),
                    "start \(start): \(status.output)\(status.errors)")
            #expect(meltap.stop(signal: SIGINT) == 0, "start \(start): \(meltap.errors)")
            // As a reboot does to /run/user/UID.
            try FileManager.default.removeItem(atPath: sockets)
        }
    }
}
