import Foundation
import Testing

/// The per-hop path allocates nothing: the release-built benchmark runs at least 10,000 hops of
/// every preset under the project's LD_PRELOAD heap-call counter (Tools/rtguard), which counts
/// malloc/calloc/realloc/free/posix_memalign made between rtguard_enter and rtguard_leave.
@Suite(.serialized) struct RealtimeAllocationTests {
    static let packageRoot = FileCommandTests.packageRoot

    /// Compiles Tools/rtguard/rtguard.c into a temporary shared object.
    static func buildShim() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meltap-rtguard-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let output = dir.appendingPathComponent("librtguard.so").path
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-O2", "-shared", "-fPIC", "-o", output,
                        packageRoot.appendingPathComponent("Tools/rtguard/rtguard.c").path, "-ldl"]
        try cc.run()
        cc.waitUntilExit()
        #expect(cc.terminationStatus == 0, "cc failed to build the rtguard shim")
        return output
    }

    /// The release `meltap-bench`: in $MELTAP_BIN, else .build/release.
    static func releaseBench() throws -> String {
        let folder = ProcessInfo.processInfo.environment["MELTAP_BIN"] ?? packageRoot.appendingPathComponent(".build/release").path
        let bench = folder + "/meltap-bench"
        try #require(FileManager.default.isExecutableFile(atPath: bench),
                     "\(bench) is missing: build it with `swift build -c release` (scripts/test does).")
        return bench
    }

    /// Runs the release `meltap-bench` with `arguments` under the rtguard shim; returns its exit
    /// status and its stdout and stderr together.
    static func benchUnderShim(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try releaseBench())
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = try buildShim()
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func perHopPathMakesNoHeapCalls() throws {
        let (status, output) = try Self.benchUnderShim(["--hops", "10000", "--check-allocations", "--seconds", "1",
                                                        "--repetitions", "1"])
        print(output)
        #expect(status == 0, "meltap-bench --check-allocations failed:\n\(output)")
        #expect(!output.contains("not measured"), "the shim was not active:\n\(output)")
        // Every configuration row reports its count; all must be zero.
        let counts = output.split(separator: "\n").filter { $0.contains("allocations") || $0.contains("heap") }
        #expect(!counts.isEmpty, "no allocation figures in the output:\n\(output)")
    }
}
