// `meltap run --http`: the web view in a real browser. The live instance runs here (private dummy
// jackd, meltap-testsource); Support/web_view_check.py drives headless Chromium with selenium
// (Debian's chromium and chromium-driver, selenium from the venv: scripts/install-deps) and
// reads the page's canvases and figures.
import Foundation
import Glibc
import Testing
import MeltapTestSupport

/// Where tests leave artefacts a person may want to look at (the web view's screenshot):
/// $MELTAP_TEST_OUTPUT (scripts/test sets .build-test/test-output), else .build/test-output.
func testOutputDirectory(_ name: String) throws -> String {
    let root = ProcessInfo.processInfo.environment["MELTAP_TEST_OUTPUT"]
        ?? packageRoot.appendingPathComponent(".build/test-output").path
    let path = root + "/" + name
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite(.serialized) struct WebViewTests {
    static let check = packageRoot.appendingPathComponent("Tests/MeltapCLITests/Support/web_view_check.py").path

    /// Starts `meltap run … --http 127.0.0.1:0` and returns it with the page's URL.
    static func startMeltap(_ session: JackSession, _ arguments: [String]) throws -> (Child, String) {
        let meltap = try session.launch(try releaseBinary("meltap"), ["run", "--http", "127.0.0.1:0"] + arguments,
                                        label: "meltap")
        guard eventually(timeout: 30, { meltap.output.contains("meltap: client") || !meltap.process.isRunning }),
              meltap.process.isRunning else {
            throw HarnessError("meltap run did not start: \(meltap.errors)\(meltap.output)")
        }
        let line = try #require(meltap.output.split(separator: "\n").first { $0.hasPrefix("meltap: web view on http://") })
        return (meltap, String(line.dropFirst("meltap: web view on ".count)))
    }

    @Test("The page draws the rising chirp, marks an injected stall's xrun, and shows meltap status's figures")
    func pageDrawsChirpXrunAndStatus() throws {
        let python = try pythonExecutable(importing: ["selenium"])
        // Realtime scheduling (when allowed) and 21 ms periods: other load on the machine then
        // rarely causes xruns of its own, and the stall's is the one the page shows.
        let session = try JackSession(period: longComparisonPeriod, realtime: true)
        defer { session.finish() }
        let (meltap, url) = try Self.startMeltap(session, [
            "--name", "web", "--inputs", "2", "--socket-dir", session.directory,
            "--stream", "viz=librosa", "--stream", "kws=whisper@16000"])
        // The source plays while it records: 300 s is far more than the test takes.
        let source = try session.startSource(["--outputs", "2", "--connect", "^web:in_", "--signal", "chirp",
                                              "--record-seconds", "300"])
        let out = try testOutputDirectory("WebViewTests")
        let report = try session.runScript(python, Self.check, [
            "chirp", url, "--out", out, "--scratch", session.directory, "--stream", "viz", "--status-socket", session.path("web.viz.sock"),
            "--meltap", try releaseBinary("meltap"), "--source-pid", String(source.pid)], timeout: 300)
        print("web view: \(report)")
        #expect(FileManager.default.fileExists(atPath: out + "/web-view.png"), "no screenshot in \(out)")
        #expect(meltap.stop(signal: SIGTERM, timeout: 10) == 0, "meltap run did not stop cleanly: \(meltap.errors)")
        #expect(meltap.output.contains("meltap: web view: 1 browser(s) served"), "\(meltap.output)")
    }

    @Test("20 browsers and a stalled client come and go while a Python subscriber loses no frame")
    func browsersComeAndGoWithoutCostingTheSubscriber() throws {
        let python = try pythonExecutable(importing: ["selenium", "numpy"])
        let session = try JackSession()
        defer { session.finish() }
        let (meltap, url) = try Self.startMeltap(session, [
            "--name", "crowd", "--inputs", "2", "--socket-dir", session.directory, "--preset", "librosa",
            "--http-max-clients", "21"])
        _ = try session.startSource(["--outputs", "2", "--connect", "^crowd:in_", "--signal", "noise", "--record-seconds", "600"])
        let out = try testOutputDirectory("WebViewTests")
        let report = try session.runScript(python, Self.check, [
            "crowd", url, "--out", out, "--scratch", session.directory, "--subscriber-socket", session.path("crowd.sock"),
            "--metrics-url", url + "metrics", "--browsers", "20"], timeout: 600)
        print("web view crowd: \(report)")
        #expect(meltap.stop(signal: SIGTERM, timeout: 10) == 0, "meltap run did not stop cleanly: \(meltap.errors)")
        #expect(meltap.output.contains("meltap: web view: 21 browser(s) served"), "\(meltap.output)")
    }

    @Test("--http refuses a non-loopback address without --http-allow-remote, and bad addresses")
    func addressesAreChecked() throws {
        let remote = try FileCommandTests.meltap(["run", "--http", "0.0.0.0:8080"])
        #expect(remote.status != 0 && remote.stderr.contains("--http-allow-remote"), "\(remote.stderr)")
        let bad = try FileCommandTests.meltap(["run", "--http", "localhost"])
        #expect(bad.status != 0 && bad.stderr.contains("Please give --http as ADDRESS:PORT"), "\(bad.stderr)")
        let help = try FileCommandTests.meltap(["run", "--help"])
        #expect(help.stdout.contains("--http-allow-remote") && help.stdout.contains("Every frame is sent"))
    }
}
