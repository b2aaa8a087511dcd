// A private dummy jackd per test, and one test's session: the server, its directory, its children.
import Foundation
import Glibc
import MelPipeline

nonisolated(unsafe) private var serverCounter = 0

/// Whether this process may give threads realtime (SCHED_FIFO) priority, as jackd -R needs:
/// root, or an rtprio limit.
public let realtimeSchedulingAllowed: Bool = {
    var parameters = sched_param(sched_priority: 1)
    let previous = sched_getscheduler(0)
    var old = sched_param()
    sched_getparam(0, &old)
    guard sched_setscheduler(0, SCHED_FIFO, &parameters) == 0 else { return false }
    sched_setscheduler(0, previous, &old)
    return true
}()

/// A private dummy jackd for one test (command line from `PrivateJackServer.jackdArguments`),
/// started by `init`, stopped by PID.
public final class JackServer {
    public let name: String
    public let directory: URL
    /// jackd runs its (and its clients') process threads with SCHED_FIFO, as on an audio box.
    public let realtime: Bool
    public private(set) var period: Int
    private var child: Child?
    private var generation = 0

    /// - Parameter realtime: run with `-R` (realtime scheduling) when this process may; otherwise,
    ///   and by default, `--no-realtime`, where other load on the machine delays the callbacks
    ///   and JACK reports xruns.
    public init(period: Int, directory: URL, realtime: Bool = false) throws {
        serverCounter += 1
        name = "meltap-test-\(getpid())-\(serverCounter)"
        self.period = period
        self.directory = directory
        self.realtime = realtime && realtimeSchedulingAllowed
        try start()
    }

    /// Environment for clients of this server. XDG_RUNTIME_DIR points into the test's own
    /// directory, so a `meltap run` without `--socket` binds a private default socket instead of
    /// `/tmp/meltap-<uid>/meltap.sock`, which another test run on the machine may be serving.
    public var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["JACK_DEFAULT_SERVER"] = name
        environment["JACK_NO_START_SERVER"] = "1"
        environment["XDG_RUNTIME_DIR"] = directory.path
        return environment
    }

    /// Starts jackd (256 ports: the 64-subscriber and multi-stream tests need more than the
    /// default 128) and waits with `jack_wait` until it answers.
    public func start() throws {
        try launch()
        let wait = try Child("jack_wait", PrivateJackServer.jackWaitArguments, environment: environment,
                             directory: directory, label: "jack_wait-\(generation)")
        // jack_wait gives up after its own 10 s; a jackd that exits first (a full registry, a bad
        // option) has failed already, and saying so at once saves the rest of the wait.
        _ = eventually(timeout: 20) { !wait.process.isRunning || self.child?.process.isRunning != true }
        guard wait.waitForExit(timeout: 0.2), wait.process.terminationStatus == 0 else {
            wait.stop()
            child?.stop(timeout: 15)
            throw HarnessError("jackd \(name) did not start: \(child?.errors ?? "")" + jackStartHint)
        }
    }

    /// Starts jackd without waiting until it accepts clients (to kill it while it starts).
    public func launch() throws {
        generation += 1
        let arguments = PrivateJackServer.jackdArguments(sampleRate: 48000, period: period, realtime: realtime,
                                                         portMax: 256)
        child = try Child("jackd", arguments, environment: environment, directory: directory, label: "jackd-\(generation)")
    }

    /// jackd's process ID, while it runs.
    public var pid: Int32? { child?.process.isRunning == true ? child?.pid : nil }

    /// Sends `signal` (SIGTERM: a clean shutdown; SIGKILL: a crash, which keeps its registry slot
    /// until a jackd of the same name starts) and waits for jackd to exit.
    public func stop(signal: Int32) {
        child?.stop(signal: signal, timeout: 15)
        child = nil
    }

    /// Kills the server with SIGKILL, as a crash would: it cannot unregister from JACK's registry.
    public func kill() { stop(signal: SIGKILL) }

    /// Stops the server by PID (SIGTERM) and waits for it to exit.
    public func stop() { stop(signal: SIGTERM) }

    /// Runs a JACK command-line tool against this server and returns its stdout.
    @discardableResult
    public func tool(_ name: String, _ arguments: [String]) throws -> String {
        generation += 1
        let child = try Child(name, arguments, environment: environment, directory: directory, label: "\(name)-\(generation)")
        guard child.waitForExit(timeout: 20) else {
            child.stop()
            throw HarnessError("\(name) \(arguments) hung")
        }
        return child.output
    }

    /// The server's ports (`jack_lsp`).
    public func ports() -> [String] {
        ((try? tool("jack_lsp", [])) ?? "").split(separator: "\n").map(String.init)
    }

    /// Changes the period with `jack_bufsize` and records it.
    public func setPeriod(_ period: Int) throws {
        try tool("jack_bufsize", ["\(period)"])
        self.period = period
    }
}

/// The period of the live tests that compare a long stretch of live frames with file mode (the
/// resampled, multi-stream and wake-word suites). Frames do not depend on the period (the chunk
/// invariance suites prove it), but such a comparison ends at the first xrun, and this VM's
/// realtime wake-ups can come over 5 ms late under two CPU hogs: jackd logged "client = meltap
/// was not finished, state = Triggered" while meltap's longest callback took 0.52 ms, and 30 s
/// at period 256 saw 2 xruns where period 1024 (21 ms) saw none. The JACK suites test period 256
/// and buffer-size changes on their own.
public let longComparisonPeriod = 1024

/// One live test: a scratch directory, a private dummy jackd and every process started in it,
/// all stopped by PID (newest first) in `finish()`.
public final class JackSession {
    public let server: JackServer
    public private(set) var children: [Child] = []

    public init(period: Int = 256, realtime: Bool = false) throws {
        server = try JackServer(period: period, directory: try scratchDirectory(), realtime: realtime)
    }

    public var directory: String { server.directory.path }
    public var serverName: String { server.name }
    public var environment: [String: String] { server.environment }

    public func path(_ name: String) -> String { directory + "/" + name }

    /// Starts `executable` against this server; `extraEnvironment` overrides the server's.
    public func launch(_ executable: String, _ arguments: [String], label: String,
                       extraEnvironment: [String: String] = [:]) throws -> Child {
        var environment = server.environment
        environment.merge(extraEnvironment) { $1 }
        let child = try Child(executable, arguments, environment: environment, directory: directory, label: label)
        children.append(child)
        return child
    }

    /// Starts `meltap run … --socket PATH` and waits until it reports its client.
    public func startMeltap(_ arguments: [String], socket: String, label: String = "meltap") throws -> Child {
        let meltap = try launch(try releaseBinary("meltap"), ["run", "--socket", socket] + arguments, label: label)
        guard eventually(timeout: 30, { meltap.output.contains("meltap: client") || !meltap.process.isRunning }),
              meltap.process.isRunning else {
            meltap.stop()
            throw HarnessError("meltap run did not start: \(meltap.errors)\(meltap.output)")
        }
        return meltap
    }

    /// Starts `meltap run …` (no socket argument added) and waits until JACK lists `expectPort`,
    /// its last input port.
    public func startMeltap(_ arguments: [String], expectPort: String,
                            extraEnvironment: [String: String] = [:]) throws -> Child {
        let meltap = try launch(try releaseBinary("meltap"), ["run"] + arguments, label: "meltap",
                                extraEnvironment: extraEnvironment)
        guard eventually(timeout: 20, { server.ports().contains(expectPort) || !meltap.process.isRunning }),
              meltap.process.isRunning else {
            meltap.stop()
            throw HarnessError("meltap did not register \(expectPort): \(meltap.errors)\(meltap.output)")
        }
        return meltap
    }

    /// Runs `script` with `python` to its end in the session's directory and returns its standard
    /// output; throws with its standard error and output when it fails or runs past `timeout` s.
    public func runScript(_ python: String, _ script: String, _ arguments: [String], timeout: Double) throws -> String {
        let child = try Child(python, [script] + arguments, environment: ProcessInfo.processInfo.environment,
                              directory: directory, label: "support")
        guard child.waitForExit(timeout: timeout), child.process.terminationStatus == 0 else {
            if child.process.isRunning { child.stop(signal: SIGKILL) }
            let name = URL(fileURLWithPath: script).lastPathComponent
            throw HarnessError("\(name) \(arguments.first ?? ""): \(child.errors)\(child.output)")
        }
        return child.output
    }

    /// Starts meltap-testsource.
    public func startSource(_ arguments: [String], label: String = "source") throws -> Child {
        try launch(try releaseBinary("meltap-testsource"), arguments, label: label)
    }

    /// Stops every child by PID (newest first), then the server, and removes the directory
    /// (kept, and printed, with MELTAP_TEST_KEEP set).
    public func finish() {
        for child in children.reversed() { child.stop(signal: SIGTERM, timeout: 15) }
        server.stop()
        if ProcessInfo.processInfo.environment["MELTAP_TEST_KEEP"] != nil {
            print("kept \(directory)")
        } else {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
