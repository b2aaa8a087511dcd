import Foundation
import MelDSP
import MelFiles
import MelPipeline
import Testing

/// The offline driver embedded in a program: `FileAnalyzer` writes exactly what `meltap file`
/// writes for the same options, bit for bit (the .npy and the sidecar).
@Suite(.serialized) struct FileAnalyzerTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The meltap binary: $MELTAP_BIN (a build folder) or the release build.
    static var meltap: String {
        (ProcessInfo.processInfo.environment["MELTAP_BIN"] ?? packageRoot.appendingPathComponent(".build/release").path)
            + "/meltap"
    }

    /// Runs `meltap ARGUMENTS` to the end: its exit status and standard error.
    static func meltap(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: meltap) else {
            throw PipelineError("\(meltap) is missing: run swift build -c release first, or set MELTAP_BIN to the folder holding meltap.")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: meltap)
        process.arguments = arguments
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meltap-offline-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// 3 s of 44.1 kHz stereo: a chirp on the left, seeded noise over a tone on the right (24-bit).
    static func writeStereo(_ path: String) throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var samples = [Float]()
        for i in 0..<(3 * 44100) {
            let t = Double(i) / 44100
            state ^= state << 13; state ^= state >> 7; state ^= state << 17   // xorshift64
            let noise = Double(Int16(truncatingIfNeeded: state >> 48)) / 32768
            samples.append(Float(0.4 * sin(2 * Double.pi * (150 + 900 * t) * t)))
            samples.append(Float(0.2 * sin(2 * Double.pi * 440 * t) + 0.05 * noise))
        }
        let writer = try AudioFileWriter(path: path, sampleRate: 44100, channelCount: 2, format: .wavPCM24)
        try writer.write(interleaved: samples)
        try writer.close()
    }

    /// Fails unless both files hold the same bytes, saying how many differ.
    static func expectSameBytes(_ a: String, _ b: String, _ what: String) throws {
        let x = try Data(contentsOf: URL(fileURLWithPath: a)), y = try Data(contentsOf: URL(fileURLWithPath: b))
        let differing = zip(x, y).filter { $0 != $1 }.count
        #expect(x == y, "\(what): \(x.count) and \(y.count) bytes, \(differing) of the common ones differ")
    }

    /// README.md's snippet, line for line (the paths in a temporary folder), against `meltap file take.wav -o … --preset whisper
    /// --all-channels` (44.1 kHz stereo: resampled to 16 kHz, both channels, Whisper's clamp at
    /// the file's maximum).
    @Test func readmeSnippetEqualsMeltapFile() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        try Self.writeStereo(path("take.wav"))

        // The README's snippet:
        var options = FileAnalysisOptions(preset: .whisper)  // 80 log-mel bands at 16 kHz
        options.channels = .all                              // rows of (channels, bands)
        let result = try FileAnalyzer(options: options).analyse(path("take.wav"), into: path("take.npy"))
        print(result.shape)                                  // [frames, 2, 80]; take.json is beside it

        #expect(result.shape == [result.frames, 2, 80] && result.frames > 290)
        #expect(result.resampler == .standard && result.analysisRate == 16000 && result.inputRate == 44100)
        let run = try Self.meltap(["file", path("take.wav"), "-o", path("cli.npy"), "--preset", "whisper", "--all-channels"])
        #expect(run.status == 0, "\(run.stderr)")
        try Self.expectSameBytes(path("take.npy"), path("cli.npy"), "the .npy")
        try Self.expectSameBytes(path("take.json"), path("cli.json"), "the sidecar")
    }

    /// Each option the CLI maps, through the library and through `meltap file`: the same bytes.
    @Test(arguments: [
        (["--preset", "kaldi", "--n-mels", "80", "--channel", "2"],
         FileAnalysisOptions(preset: .kaldi, overrides: { var o = MelOverrides(); o.melBandCount = 80; return o }(),
                             channels: .channel(2))),
        (["--features", "db", "--mono", "--layout", "bands-first"],
         FileAnalysisOptions(overrides: { var o = MelOverrides(); o.output = .db; return o }(), channels: .average,
                             layout: .bandsFirst)),
        (["--preset", "torchaudio", "--sample-rate", "22050", "--resampler", "sinc-fastest", "--all-channels",
          "--clamp", "running"],
         FileAnalysisOptions(preset: .torchaudio, sampleRate: 22050, resampler: .sincFastest, channels: .all,
                             clamp: .running)),
    ])
    func optionsEqualTheirFlags(flags: [String], options: FileAnalysisOptions) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("take.wav").path
        try Self.writeStereo(input)
        let library = dir.appendingPathComponent("library.npy").path, cli = dir.appendingPathComponent("cli.npy").path
        try FileAnalyzer(options: options).analyse(input, into: library)
        let run = try Self.meltap(["file", input, "-o", cli] + flags)
        #expect(run.status == 0, "\(run.stderr)")
        try Self.expectSameBytes(library, cli, "the .npy of \(flags)")
        try Self.expectSameBytes(Sidecar.path(forFeatureFile: library), Sidecar.path(forFeatureFile: cli),
                                 "the sidecar of \(flags)")
    }

    /// A stereo file without a channel choice is refused with advice, and nothing is written.
    @Test func stereoWithoutAChoiceIsRefused() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("take.wav").path, output = dir.appendingPathComponent("out.npy").path
        try Self.writeStereo(input)
        let error = #expect(throws: MelConfigurationError.self) {
            try FileAnalyzer(options: FileAnalysisOptions()).analyse(input, into: output)
        }
        #expect(error?.description.contains("Choose one with --channel N, all with --all-channels") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["take.wav"])
    }
}
