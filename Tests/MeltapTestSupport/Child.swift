// A child process of a test, stdout and stderr in files, stopped by PID.
import Foundation
import Glibc
import MelSystem

/// A process a test starts (jackd, meltap, the test source, a Python client): its stdout and
/// stderr go to `<label>.out` and `<label>.err` in the test's directory; `stop` ends it by PID.
public final class Child: @unchecked Sendable {
    public let process = Process()
    public let label: String
    public let outputPath: String
    public let errorPath: String

    /// Starts `executable` (a path, or a name looked up on the PATH of `environment`).
    public init(_ executable: String, _ arguments: [String], environment: [String: String], directory: String,
                label: String) throws {
        self.label = label
        outputPath = directory + "/\(label).out"
        errorPath = directory + "/\(label).err"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let resolved = executable.hasPrefix("/")
            ? executable : (findExecutable(executable, searchPath: environment["PATH"]) ?? findExecutable(executable) ?? executable)
        process.executableURL = URL(fileURLWithPath: resolved)
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        process.standardInput = FileHandle.nullDevice
        // Tests run on libdispatch worker threads, which block nearly every signal, and a spawned
        // process inherits the spawning thread's mask. A child that does not unblock SIGTERM
        // itself (jack_metro, a Python client) would then ignore `stop`'s SIGTERM and be killed
        // only by its SIGKILL, `timeout` seconds later. Spawn with every signal unblocked.
        var unblocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&unblocked)
        pthread_sigmask(SIG_SETMASK, &unblocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
    }

    public convenience init(_ executable: String, _ arguments: [String], environment: [String: String],
                            directory: URL, label: String) throws {
        try self.init(executable, arguments, environment: environment, directory: directory.path, label: label)
    }

    public var pid: Int32 { process.processIdentifier }
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    public var errors: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    /// Sends SIGCONT (a test may have stopped it with SIGSTOP) and `signal`, waits up to
    /// `timeout` s, then SIGKILL. Returns the exit status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Double = 20) -> Int32 {
        if process.isRunning { kill(pid, SIGCONT); kill(pid, signal) }
        if !waitForExit(timeout: timeout) {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    /// Waits up to `timeout` seconds for the process to exit by itself.
    public func waitForExit(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { return false }
        process.waitUntilExit()
        return true
    }
}
