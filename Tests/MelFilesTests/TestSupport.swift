import Foundation
import MeltapTestSupport
import Testing

/// The package root, found from this file's path (Tests/MelFilesTests/TestSupport.swift).
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A fresh empty directory under /tmp for one test; removed by `removeScratch`.
func makeScratchDirectory(_ name: String = #function) throws -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let path = "/tmp/meltap-files-tests/\(safe)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeScratch(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Result of running a process to completion.
struct ProcessResult {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

/// Runs `executable` with `arguments`, waits for it (it is ours, started and reaped here by PID).
func runProcess(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus,
                         standardOutput: String(decoding: outData, as: UTF8.self),
                         standardError: String(decoding: errData, as: UTF8.self))
}

/// A Python interpreter with numpy (`pythonExecutable()`: `.venv/bin/python` at the package
/// root, else `python3` on PATH). Records a test failure (not a skip) saying how to install it
/// when there is none.
func pythonWithNumpy() -> String? {
    do {
        return try pythonExecutable()
    } catch {
        Issue.record(Comment(rawValue: "\(error)"))
        return nil
    }
}

/// Loads `path` with numpy.load in a subprocess and returns its shape and values (as float64).
func numpyLoad(_ path: String, python: String) throws -> (shape: [Int], values: [Double], dtype: String)? {
    let script = """
    import sys, json, numpy as np
    a = np.load(sys.argv[1])
    print(json.dumps({"shape": list(a.shape), "dtype": a.dtype.str, "values": [float(x) for x in a.ravel()]}))
    """
    let result = try runProcess(python, ["-c", script, path])
    guard result.status == 0 else {
        Issue.record("numpy.load(\(path)) failed with status \(result.status): \(result.standardError)")
        return nil
    }
    struct Loaded: Decodable { var shape: [Int]; var dtype: String; var values: [Double] }
    let loaded = try JSONDecoder().decode(Loaded.self, from: Data(result.standardOutput.utf8))
    return (loaded.shape, loaded.values, loaded.dtype)
}

/// Runs a Python snippet with numpy; `argv[1...]` are `arguments`. Records a failure on error.
@discardableResult
func runPython(_ script: String, _ arguments: [String], python: String) throws -> Bool {
    let result = try runProcess(python, ["-c", script] + arguments)
    if result.status != 0 {
        Issue.record("python failed with status \(result.status): \(result.standardError)")
        return false
    }
    return true
}

/// Names of the entries in `directory`.
func directoryEntries(_ directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
}

/// Expects `observed == expected`, reporting counts and the first differing index (not whole arrays).
func expectSameValues<T: Equatable>(_ observed: [T], _ expected: [T], _ what: String = "values",
                                    sourceLocation: SourceLocation = #_sourceLocation) {
    if observed.count != expected.count {
        Issue.record("\(what): \(observed.count) observed, \(expected.count) expected", sourceLocation: sourceLocation)
        return
    }
    if let index = observed.indices.first(where: { observed[$0] != expected[$0] }) {
        Issue.record("\(what): first difference at index \(index): observed \(observed[index]), expected \(expected[index])", sourceLocation: sourceLocation)
    }
}
