// Where the tests find the package, the release binaries, tools on PATH and Python.
import Foundation
import Glibc

/// The package root (this file is Tests/MeltapTestSupport/Locations.swift).
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A harness failure (a tool missing, a process that did not start): what happened and what to do.
public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A release binary (meltap, meltap-testsource): in $MELTAP_BIN (set by scripts/test), else
/// <root>/.build/release.
public func releaseBinary(_ name: String) throws -> String {
    let directory = ProcessInfo.processInfo.environment["MELTAP_BIN"]
        ?? packageRoot.appendingPathComponent(".build/release").path
    let path = directory + "/" + name
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw HarnessError("\(path) is missing: build with `swift build -c release` (scripts/test does) "
                           + "or set MELTAP_BIN to the directory holding meltap and meltap-testsource.")
    }
    return path
}

/// `.venv/bin/python` under the package root, else the first `python3` on PATH, that imports
/// every module in `modules` (numpy by default).
public func pythonExecutable(importing modules: [String] = ["numpy"]) throws -> String {
    var candidates = [packageRoot.appendingPathComponent(".venv/bin/python").path]
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        candidates.append(directory + "/python3")
    }
    for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: candidate)
        process.arguments = ["-c", modules.map { "import \($0)" }.joined(separator: "; ")]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { continue }
        process.waitUntilExit()
        if process.terminationStatus == 0 { return candidate }
    }
    throw HarnessError("no python that imports \(modules.joined(separator: ", ")): run scripts/install-deps "
                       + "(it creates .venv with them)")
}

/// A fresh scratch directory per test (the caller removes it).
public func scratchDirectory(prefix: String = "meltap-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Polls `condition` every `interval` seconds until it holds (true) or `timeout` seconds pass
/// (false, after one last look). The timeout guards against hanging, far above any expected
/// time; it is never a timing assertion.
public func eventually(timeout: Double = 120, every interval: Double = 0.05, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(useconds_t(interval * 1e6))
    }
    return condition()
}
