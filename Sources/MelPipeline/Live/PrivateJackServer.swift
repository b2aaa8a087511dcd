import Foundation
import Glibc
import MelSystem

/// A private dummy `jackd` (`meltap run --start-server`, tests, the demo), stopped by PID.
///
/// It sets `JACK_DEFAULT_SERVER` in this process to its name, so JACK clients created afterwards
/// here connect to it.
public struct PrivateJackServer {
    /// The server name (`JACK_DEFAULT_SERVER`): the inherited value, or meltap-PID.
    public let name: String
    public let process: Process

    /// Starts `jackd --no-realtime -d dummy -r sampleRate -p period` and waits up to 10 s for it.
    /// - Throws: `PipelineError` saying what to install, or how to see why jackd did not start.
    public static func start(sampleRate: Int = 48000, period: Int = 256) throws -> PrivateJackServer {
        let name = ProcessInfo.processInfo.environment["JACK_DEFAULT_SERVER"] ?? "meltap-\(getpid())"
        setenv("JACK_DEFAULT_SERVER", name, 1)
        guard let jackd = MelSystem.findExecutable("jackd"), let jackWait = MelSystem.findExecutable("jack_wait") else {
            throw PipelineError("jackd or jack_wait is not on PATH. Install jackd2 "
                                + "(apt-get install --no-install-recommends jackd2).")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: jackd)
        process.arguments = jackdArguments(sampleRate: sampleRate, period: period)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice  // xrun chatter; on failure we say how to see it
        try process.run()
        let wait = Process()
        wait.executableURL = URL(fileURLWithPath: jackWait)
        wait.arguments = jackWaitArguments
        wait.standardOutput = FileHandle.nullDevice
        try wait.run()
        wait.waitUntilExit()
        guard wait.terminationStatus == 0, process.isRunning else {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            throw PipelineError("The private JACK server \"\(name)\" did not start within 10 s. "
                                + "Run `jackd --no-realtime -d dummy` by hand to see why (a full /dev/shm is common).")
        }
        return PrivateJackServer(name: name, process: process)
    }

    /// The command line of a private dummy server (the one place it is spelled; the tests'
    /// launcher uses it too): `--no-realtime`, or with `realtime` `-R -P 70` (SCHED_FIFO process
    /// threads, as on an audio box); at most `portMax` ports; the dummy backend at `sampleRate` Hz
    /// with blocks of `period` samples.
    public static func jackdArguments(sampleRate: Int = 48000, period: Int = 256, realtime: Bool = false,
                                      portMax: Int = 128) -> [String] {
        (realtime ? ["-R", "-P", "70"] : ["--no-realtime"])
            + ["--port-max", "\(portMax)", "-d", "dummy", "-r", "\(sampleRate)", "-p", "\(period)"]
    }

    /// `jack_wait` until the server answers: wait (`-w`) at most 10 s (`-t`); exits 0 once it does.
    public static let jackWaitArguments = ["-w", "-t", "10"]

    /// SIGTERM, then waits for the server to exit.
    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}
