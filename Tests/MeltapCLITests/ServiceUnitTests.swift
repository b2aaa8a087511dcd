// dist/systemd/meltap.service checked by systemd itself: `systemd-analyze --user verify` (Debian's
// systemd package, installed by scripts/install-deps) on the unit as shipped, with only ExecStart's
// binary pointed at the built meltap, and on deliberately broken copies, which must be refused.
import Foundation
import Testing

@Suite(.serialized) struct ServiceUnitTests {
    static let unitPath = FileCommandTests.packageRoot.appendingPathComponent("dist/systemd/meltap.service").path
    /// Where the unit expects meltap to be installed (README, "A headless box: meltap as a service").
    static let installedBinary = "/usr/local/bin/meltap"

    struct Verification { var status: Int32; var output: String }

    /// Runs `systemd-analyze --user verify` on `text` written as meltap.service in a scratch
    /// folder, with a scratch XDG_RUNTIME_DIR (no login session is needed). systemd-analyze exits
    /// 0 on keys and values it ignores with a warning, so callers look at `output` too.
    static func verify(_ text: String) throws -> Verification {
        let directory = try FileCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let runtime = directory.appendingPathComponent("runtime")
        try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let unit = directory.appendingPathComponent("meltap.service").path
        try text.write(toFile: unit, atomically: true, encoding: .utf8)
        let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        let tool = try #require(analyze, "systemd-analyze is missing: run scripts/install-deps (it installs Debian's systemd)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["--user", "verify", unit]
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_RUNTIME_DIR"] = runtime.path
        environment["SYSTEMD_LOG_COLOR"] = "0"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Verification(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    /// The shipped unit with ExecStart's binary replaced by the built one (systemd-analyze checks
    /// that the program exists and is executable).
    static func shippedUnit() throws -> String {
        let text = try String(contentsOfFile: unitPath, encoding: .utf8)
        try #require(text.contains("ExecStart=\(installedBinary) run --config %h/.config/meltap/meltap.toml\n"),
                     "the unit must run `\(installedBinary) run --config %h/.config/meltap/meltap.toml`")
        try #require(FileManager.default.isExecutableFile(atPath: FileCommandTests.meltap),
                     "\(FileCommandTests.meltap) is missing: build meltap or set MELTAP_BIN")
        return text.replacingOccurrences(of: "ExecStart=\(installedBinary) ", with: "ExecStart=\(FileCommandTests.meltap) ")
    }

    @Test func shippedUnitVerifiesCleanly() throws {
        let result = try Self.verify(try Self.shippedUnit())
        #expect(result.status == 0, "systemd-analyze verify failed: \(result.output)")
        // Any line at all is a warning about the unit (an unknown key, an ignored value …).
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                "systemd-analyze verify warned: \(result.output)")
    }

    @Test func unitRestartsOnFailureAndOrdersAfterTheAudioServer() throws {
        let text = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains("Restart=on-failure"))
        let after = lines.first { $0.hasPrefix("After=") }.map { $0.dropFirst(6).split(separator: " ").map(String.init) } ?? []
        #expect(after.contains("pipewire.service") && after.contains("jack.service"), "After= is \(after)")
        // Wanted, never required: meltap must still start on a box whose audio server is not a unit.
        #expect(!lines.contains { $0.hasPrefix("Requires=") || $0.hasPrefix("BindsTo=") })
        #expect(lines.contains("WantedBy=default.target"))
    }

    /// systemd makes the socket directory before every start (it is gone after a reboot, and
    /// `meltap run` would otherwise have to), private to the user; meltap's default directory
    /// under a user manager, `$XDG_RUNTIME_DIR/meltap`, is that directory.
    @Test func unitMakesTheSocketDirectory() throws {
        let text = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains("RuntimeDirectory=meltap"), "the unit has no RuntimeDirectory=meltap")
        #expect(lines.contains("RuntimeDirectoryMode=0700"), "the unit's runtime directory is not private")
    }

    /// Every README section the unit cites exists, under the title it gives.
    @Test func unitCitesReadmeSectionsThatExist() throws {
        let text = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let readme = try String(contentsOfFile: FileCommandTests.packageRoot.appendingPathComponent("README.md").path,
                                encoding: .utf8)
        let headings = Set(readme.split(separator: "\n").filter { $0.hasPrefix("#") }
            .map { $0.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces) })
        var cited: [String] = []
        var rest = Substring(text)
        while let start = rest.range(of: "README.md, \"") {
            rest = rest[start.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { break }
            cited.append(String(rest[..<end]))
            rest = rest[rest.index(after: end)...]
        }
        #expect(!cited.isEmpty, "the unit cites no README section")
        for title in cited {
            #expect(headings.contains(title), "the unit cites README section \"\(title)\", which does not exist")
        }
    }

    /// The check above can fail: systemd-analyze flags each of these broken copies.
    @Test(arguments: [
        ("Restart=on-failure", "Restart=sometimes"),                   // a bad value
        ("Restart=on-failure", "Restrat=on-failure"),                  // a misspelt key
        ("StartLimitBurst=10", "StartLimitBurst=ten"),                 // a bad number
        ("[Service]", "[Servce]"),                                     // an unknown section
    ])
    func brokenCopiesAreFlagged(original: String, broken: String) throws {
        let shipped = try Self.shippedUnit()
        try #require(shipped.contains(original + "\n"))
        let result = try Self.verify(shipped.replacingOccurrences(of: original + "\n", with: broken + "\n"))
        #expect(result.status != 0 || !result.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                "systemd-analyze verify accepted a unit with \(broken)")
    }

    @Test func missingProgramIsFlagged() throws {
        let result = try Self.verify(try Self.shippedUnit()
            .replacingOccurrences(of: "ExecStart=\(FileCommandTests.meltap) ", with: "ExecStart=/nonexistent/meltap "))
        #expect(result.status != 0, "systemd-analyze verify accepted a missing program: \(result.output)")
    }
}
