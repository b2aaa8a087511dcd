import Foundation
import MelDSP
import MelFiles
import Testing

/// `meltap file` end to end: the built binary on real files written here.
@Suite(.serialized) struct FileCommandTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = packageRoot.appendingPathComponent("Tests/MelDSPTests/Fixtures")

    /// The meltap binary: $MELTAP_BIN (a build folder) or the debug build.
    static var meltap: String {
        let folder = ProcessInfo.processInfo.environment["MELTAP_BIN"] ?? packageRoot.appendingPathComponent(".build/debug").path
        return folder + "/meltap"
    }

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    /// Runs the release `meltap` with `arguments`; `environment` entries are added to ours.
    @discardableResult
    static func meltap(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Run {
        try run(meltap, arguments, environment: extra)
    }

    /// Runs `executable` with `arguments` to the end; `environment` entries are added to ours.
    static func run(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !extra.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("meltap-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func signal(_ sr: Int) throws -> [Float] {
        try NpyArray.load(path: fixtures.appendingPathComponent("\(sr)/signal_f32.npy").path).values
    }

    /// Writes the fixture signal (exactly representable in 16 bits) as a mono WAV.
    static func writeSignal(_ sr: Int, to path: String, format: AudioFileWriter.Format = .wavPCM16) throws {
        let writer = try AudioFileWriter(path: path, sampleRate: sr, channelCount: 1, format: format)
        try writer.write(interleaved: signal(sr))
        try writer.close()
    }

    @Test(arguments: [("librosa", 16000, "librosa_melspec", 1e-5), ("whisper", 16000, "whisper_logmel80_emulated", 1e-4),
                      ("torchaudio", 48000, "torchaudio_melspec_emulated", 1e-3)])
    func valuesMatchTheFixtures(preset: String, sr: Int, fixture: String, tolerance: Double) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("signal.wav").path, out = dir.appendingPathComponent("out.npy").path
        try Self.writeSignal(sr, to: wav)
        let run = try Self.meltap(["file", wav, "-o", out, "--preset", preset])
        #expect(run.status == 0, "meltap failed: \(run.stderr)")
        let observed = try NpyArray.load(path: out)
        let expected = try NpyArray.load(path: Self.fixtures.appendingPathComponent("\(sr)/\(fixture).npy").path)
        #expect(observed.shape == [expected.shape[1], expected.shape[0]])
        let bands = expected.shape[0], frames = expected.shape[1]
        var worst = 0.0
        for t in 0..<frames {
            var peak = 0.0
            for b in 0..<bands { peak = max(peak, abs(expected.doubles[b * frames + t])) }
            for b in 0..<bands {
                let e = expected.doubles[b * frames + t], o = observed.doubles[t * bands + b]
                let error = preset == "whisper" ? abs(o - e) : abs(o - e) / (abs(e) + 1e-6 * peak)
                worst = max(worst, error)
            }
        }
        #expect(worst <= tolerance, "\(preset) via meltap file: worst error \(worst) > \(tolerance)")
    }

    @Test func sidecarHoldsTheResolvedConfiguration() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("signal.wav").path, out = dir.appendingPathComponent("kaldi.npy").path
        try Self.writeSignal(16000, to: wav)
        let run = try Self.meltap(["file", wav, "-o", out, "--preset", "kaldi", "--n-mels", "80", "--fmax=-400"])
        #expect(run.status == 0, "\(run.stderr)")
        let sidecarPath = dir.appendingPathComponent("kaldi.json").path
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sidecarPath))) as! [String: Any]
        #expect(json["schema"] as? String == "meltap.features/2" && json["kind"] as? String == "file")
        #expect(json["sampleRate"] as? Double == 16000 && json["inputSampleRate"] as? Double == 16000)
        #expect(json["rows"] as? Int == 148 && json["rowShape"] as? [Int] == [80])
        let sidecar = try FeatureSidecar.read(path: sidecarPath)
        #expect(sidecar.preset == "kaldi" && sidecar.meltapVersion != nil)
        #expect(sidecar.file?.path == URL(fileURLWithPath: wav).standardizedFileURL.path && sidecar.file?.channelCount == 1)
        #expect(sidecar.channels == [.init(channel: 1)] && sidecar.clamp == "global" && sidecar.resampler == nil)
        #expect(sidecar.frameRate == 100 && sidecar.firstSampleOfFrame0 == 0, "Kaldi framing starts at sample 0")
        let configuration = try sidecar.configuration.decode(MelConfiguration.self)
        #expect(configuration.melBandCount == 80)
        #expect(configuration.maximumFrequency == 7600)
        #expect(configuration.windowLength == 400 && configuration.hopLength == 160 && configuration.fftLength == 512)
        #expect(sidecar.shape == [148, 80])
    }

    @Test func sidecarListsChannelsFromOne() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("stereo.wav").path
        let writer = try AudioFileWriter(path: wav, sampleRate: 16000, channelCount: 2, format: .wavPCM16)
        try writer.write(interleaved: (0..<16000).map { Float(sin(Double($0) * 0.01)) * 0.5 })
        try writer.close()
        func sidecar(_ name: String, _ options: [String]) throws -> FeatureSidecar {
            let out = dir.appendingPathComponent("\(name).npy").path
            let run = try Self.meltap(["file", wav, "-o", out, "--preset", "librosa"] + options)
            #expect(run.status == 0, "\(run.stderr)")
            return try FeatureSidecar.read(path: dir.appendingPathComponent("\(name).json").path)
        }
        let second = try sidecar("second", ["--channel", "2"])
        #expect(second.channels == [.init(channel: 2)] && second.rowShape == [128] && second.file?.channelCount == 2)
        #expect(second.firstSampleOfFrame0 == -1024, "centred framing: n_fft/2 of padding")
        let both = try sidecar("both", ["--all-channels", "--clamp", "running"])
        #expect(both.channels == [.init(channel: 1), .init(channel: 2)] && both.rowShape == [2, 128])
        #expect(both.layout == "(frames, channels, bands)" && both.clamp == "running")
        let mono = try sidecar("mono", ["--mono"])
        #expect(mono.channels == [.init(averageOf: [1, 2])] && mono.rowShape == [128])
    }

    /// Every format and bit depth gives the features of the samples libsndfile reads back.
    @Test(arguments: AudioFileWriter.Format.allCases)
    func formats(format: AudioFileWriter.Format) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let audio = dir.appendingPathComponent("signal.\(format.fileExtension)").path
        let out = dir.appendingPathComponent("out.npy").path
        // Stereo: the right channel is the signal at half level.
        let mono = try Self.signal(16000)
        let writer = try AudioFileWriter(path: audio, sampleRate: 16000, channelCount: 2, format: format)
        try writer.write(interleaved: mono.flatMap { [$0, $0 * 0.5] })
        try writer.close()
        let run = try Self.meltap(["file", audio, "-o", out, "--preset", "whisper", "--channel", "2", "--clamp", "running"])
        #expect(run.status == 0, "\(format): \(run.stderr)")
        let samples = try AudioFileReader(path: audio).readChannel(1)
        let configuration = try MelOverrides().resolve(preset: .whisper, sampleRate: 16000)
        let expected = try MelAnalyzer.analyze(samples, configuration: configuration, clampRule: .running)
        let observed = try NpyArray.load(path: out)
        #expect(observed.shape == [expected.count / 80, 80])
        #expect(observed.values == expected, "\(format): meltap file differs from the analyzer on the same samples")
    }

    @Test func allChannelsLayout() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let audio = dir.appendingPathComponent("three.wav").path, out = dir.appendingPathComponent("all.npy").path
        let mono = try Self.signal(16000)
        let writer = try AudioFileWriter(path: audio, sampleRate: 16000, channelCount: 3, format: .wavFloat)
        try writer.write(interleaved: mono.enumerated().flatMap { [$0.element, 0, mono[mono.count - 1 - $0.offset]] })
        try writer.close()
        let run = try Self.meltap(["file", audio, "-o", out, "--all-channels", "--preset", "kaldi"])
        #expect(run.status == 0, "\(run.stderr)")
        let all = try NpyArray.load(path: out)
        #expect(all.shape == [148, 3, 23])
        let configuration = try MelOverrides().resolve(preset: .kaldi, sampleRate: 16000)
        let first = try MelAnalyzer.analyze(mono, configuration: configuration)
        let third = try MelAnalyzer.analyze(Array(mono.reversed()), configuration: configuration)
        for t in 0..<148 {
            #expect(Array(all.values[(t * 69)..<(t * 69 + 23)]) == Array(first[(t * 23)..<(t * 23 + 23)]))
            #expect(Array(all.values[(t * 69 + 46)..<(t * 69 + 69)]) == Array(third[(t * 23)..<(t * 23 + 23)]))
        }
    }

    /// Files left in `dir` other than `keep`.
    static func leftovers(_ dir: URL, keep: Set<String>) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !keep.contains($0) }
    }

    @Test func existingOutputsAndLinksAreNeverClobbered() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let wav = path("signal.wav"), out = path("out.npy"), victim = path("victim.txt")
        try Self.writeSignal(16000, to: wav)
        try "secret".write(toFile: victim, atomically: false, encoding: .utf8)
        #expect(try Self.meltap(["file", wav, "-o", out]).status == 0)
        let first = try Data(contentsOf: URL(fileURLWithPath: out))

        // An existing output (or only its sidecar) is refused before any work, and left as it was.
        let again = try Self.meltap(["file", wav, "-o", out, "--n-mels", "40"])
        #expect(again.status == 1 && again.stderr.contains("already exists") && again.stderr.contains("--force"), "\(again.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == first)
        try "{}".write(toFile: path("lonely.json"), atomically: false, encoding: .utf8)
        let sidecarOnly = try Self.meltap(["file", wav, "-o", path("lonely.npy")])
        #expect(sidecarOnly.status == 1 && sidecarOnly.stderr.contains("lonely.json already exists"), "\(sidecarOnly.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("lonely.npy")))

        // A link at the output or its sidecar is refused even with --force; the target is untouched.
        #expect(symlink(victim, path("link.npy")) == 0 && symlink(victim, path("other.json")) == 0)
        for (output, arguments) in [("link.npy", []), ("link.npy", ["--force"]), ("other.npy", ["--force"])] {
            let run = try Self.meltap(["file", wav, "-o", path(output)] + arguments)
            #expect(run.status == 1 && run.stderr.contains("is a symbolic link to '\(victim)'"), "\(output) \(arguments): \(run.stderr)")
            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "secret")
        }
        #expect(!FileManager.default.fileExists(atPath: path("other.npy")))

        // --force on bad input: nothing is lost, the old output stays.
        let bad = try Self.meltap(["file", path("missing.wav"), "-o", out, "--force"])
        #expect(bad.status == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == first, "a failed --force run changed the output")

        // --force replaces a regular file, and no temporary file is left.
        let forced = try Self.meltap(["file", wav, "-o", out, "--n-mels", "40", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try NpyArray.load(path: out).shape.last == 40)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "temporary files left: \(left)")
    }

    @Test func missingInputFailsWithoutOutput() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try Self.meltap(["file", dir.appendingPathComponent("nope.wav").path, "-o", dir.appendingPathComponent("out.npy").path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("does not exist"), "\(run.stderr)")
        #expect(try Self.leftovers(dir, keep: []).isEmpty)
    }

    @Test func unsupportedFormatFailsWithoutOutput() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bogus = dir.appendingPathComponent("notes.wav")
        try Data("these are not audio samples\n".utf8).write(to: bogus)
        let out = dir.appendingPathComponent("out.npy")
        try Data("previous result".utf8).write(to: out)
        // With --force, so the input is read: a bad input must not cost the old output.
        let run = try Self.meltap(["file", bogus.path, "-o", out.path, "--force"])
        #expect(run.status != 0)
        #expect(run.stderr.lowercased().contains("sox") || run.stderr.lowercased().contains("convert"), "\(run.stderr)")
        #expect(try String(contentsOf: out, encoding: .utf8) == "previous result", "an existing output was touched")
        #expect(try Self.leftovers(dir, keep: ["notes.wav", "out.npy"]).isEmpty)
    }

    @Test func unwritableOutputFailsClearly() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("signal.wav").path
        try Self.writeSignal(16000, to: wav)
        let run = try Self.meltap(["file", wav, "-o", dir.appendingPathComponent("missing/folder/out.npy").path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("missing/folder"), "\(run.stderr)")
        #expect(try Self.leftovers(dir, keep: ["signal.wav"]).isEmpty)
    }

    @Test func impossibleConfigurationFailsWithoutOutput() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("signal.wav").path
        try Self.writeSignal(16000, to: wav)
        let run = try Self.meltap(["file", wav, "-o", dir.appendingPathComponent("out.npy").path, "--fmax", "12000"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("fmax") && run.stderr.contains("8000"), "\(run.stderr)")
        let whisper = try Self.meltap(["file", wav, "-o", dir.appendingPathComponent("out.npy").path, "--channel", "0"])
        #expect(whisper.status != 0 && whisper.stderr.contains("1 or more"), "\(whisper.stderr)")
        #expect(try Self.leftovers(dir, keep: ["signal.wav"]).isEmpty)
    }

    @Test func multichannelNeedsAChoice() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let audio = dir.appendingPathComponent("stereo.wav").path
        let writer = try AudioFileWriter(path: audio, sampleRate: 16000, channelCount: 2, format: .wavPCM16)
        try writer.write(interleaved: [Float](repeating: 0.1, count: 32000))
        try writer.close()
        let run = try Self.meltap(["file", audio, "-o", dir.appendingPathComponent("out.npy").path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("--channel") && run.stderr.contains("--all-channels") && run.stderr.contains("--mono"), "\(run.stderr)")
    }

    @Test func helpIsInSentences() throws {
        let run = try Self.meltap(["file", "--help"])
        #expect(run.status == 0)
        for option in ["--preset", "--n-fft", "--hop-length", "--win-length", "--window", "--n-mels", "--fmin", "--fmax",
                       "--mel-scale", "--mel-norm", "--power", "--features", "--output", "--n-mfcc", "--top-db", "--channel", "--all-channels"] {
            #expect(run.stdout.contains(option), "help lacks \(option)")
        }
        #expect(run.stdout.contains("(frames, channels, bands)"))
    }
}
