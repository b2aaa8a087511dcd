import Foundation
import MelFiles
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `meltap file INPUT… -o OUTDIR` (dataset mode) end to end: the built binary on real files.
///
/// Every output is compared bit for bit with what single-file `meltap file IN -o OUT.npy` writes
/// for the same input, so a dataset run can never differ from one file at a time.
@Suite(.serialized) struct DatasetModeTests {
    typealias CLI = FileCommandTests

    /// Writes `seconds` of seeded noise (distinct per `seed`) as a mono 16-bit file.
    static func writeNoise(_ path: String, seconds: Double, sampleRate: Int = 16000, seed: UInt64,
                           format: AudioFileWriter.Format = .wavPCM16) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        let count = Int(seconds * Double(sampleRate))
        var samples = [Float](repeating: 0, count: count)
        for i in 0..<count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17   // xorshift64
            samples[i] = Float(Int16(truncatingIfNeeded: state >> 48)) / 32768 * 0.25
        }
        let writer = try AudioFileWriter(path: path, sampleRate: sampleRate, channelCount: 1, format: format)
        try writer.write(interleaved: samples)
        try writer.close()
    }

    /// The .npy single-file mode writes for `input` with `options`, as bytes.
    static func reference(_ input: String, _ options: [String], in dir: URL) throws -> Data {
        let out = dir.appendingPathComponent("ref-\(UUID().uuidString).npy").path
        let run = try CLI.meltap(["file", input, "-o", out] + options)
        #expect(run.status == 0, "single-file reference failed: \(run.stderr)")
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: Sidecar.path(forFeatureFile: out))
        }
        return try Data(contentsOf: URL(fileURLWithPath: out))
    }

    /// Every file below `dir`, relative, sorted (hidden ones included).
    static func files(under dir: URL) -> [String] {
        let walker = FileManager.default.enumerator(atPath: dir.path)
        var found: [String] = []
        while let relative = walker?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent(relative).path, isDirectory: &isDirectory),
               !isDirectory.boolValue { found.append(relative) }
        }
        return found.sorted()
    }

    /// The modification time in nanoseconds since the epoch.
    static func modificationTime(_ path: String) -> Int {
        var info = stat()
        _ = stat(path, &info)
        return info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec
    }

    @Test func mirrorsRelativePathsAndMatchesSingleFileMode() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = dir.appendingPathComponent("corpus")
        let layout = ["a/b.wav", "a/deeper/c.flac", "d.wav", "e/f.ogg"]
        for (i, relative) in layout.enumerated() {
            let format: AudioFileWriter.Format = relative.hasSuffix(".flac") ? .flac16 : relative.hasSuffix(".ogg") ? .oggVorbis : .wavPCM16
            try Self.writeNoise(corpus.appendingPathComponent(relative).path, seconds: 1.5, seed: UInt64(i + 1), format: format)
        }
        // Not taken: a hidden file, a hidden folder, and a file libsndfile does not read.
        try Self.writeNoise(corpus.appendingPathComponent(".hidden.wav").path, seconds: 0.5, seed: 9)
        try Self.writeNoise(corpus.appendingPathComponent(".cache/g.wav").path, seconds: 0.5, seed: 10)
        try Data("not audio".utf8).write(to: corpus.appendingPathComponent("a/notes.txt"))

        let out = dir.appendingPathComponent("features")
        let manifest = dir.appendingPathComponent("manifest.jsonl")
        let options = ["--preset", "whisper"]
        let run = try CLI.meltap(["file", corpus.path, "-o", out.path, "--jobs", "2", "--manifest", manifest.path] + options)
        #expect(run.status == 0, "dataset run failed: \(run.stderr)")
        #expect(run.stdout.contains("4 files into \(out.path)") && run.stdout.contains("4 analysed"), "summary: \(run.stdout)")

        let expected = layout.flatMap { relative -> [String] in
            let stem = (relative as NSString).deletingPathExtension
            return [stem + ".json", stem + ".npy"]
        }.sorted()
        #expect(Self.files(under: out) == expected, "outputs mirror the inputs, nothing else is left")
        for relative in layout {
            let stem = (relative as NSString).deletingPathExtension
            let input = corpus.appendingPathComponent(relative).path
            let written = try Data(contentsOf: out.appendingPathComponent(stem + ".npy"))
            #expect(written == (try Self.reference(input, options, in: dir)), "\(relative): dataset output differs from single-file output")
            let sidecar = try FeatureSidecar.read(path: out.appendingPathComponent(stem + ".json").path)
            #expect(sidecar.file?.path == URL(fileURLWithPath: input).standardizedFileURL.path)
        }

        // The manifest: one line per file, with frames and seconds as the sidecars say.
        let lines = try String(contentsOf: manifest, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == layout.count)
        var hashes: Set<String> = []
        var paths: [String] = []
        for line in lines {
            let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let path = entry["path"] as! String
            paths.append(path)
            let array = try NpyArray.load(path: path)
            #expect(entry["frames"] as? Int == array.shape[0], "\(path): frames")
            #expect(abs((entry["seconds"] as? Double ?? 0) - 1.5) < 1e-9, "\(path): seconds")
            #expect((entry["input"] as? String).map { FileManager.default.fileExists(atPath: $0) } == true)
            hashes.insert(entry["configHash"] as? String ?? "")
        }
        #expect(paths.sorted() == layout.map { out.path + "/" + ($0 as NSString).deletingPathExtension + ".npy" }.sorted())
        #expect(hashes.count == 1 && hashes.first?.count == 16, "one configuration, one 16-digit hash: \(hashes)")

        // Files named on the command line keep their relative paths.
        let out2 = dir.appendingPathComponent("named")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.meltap)
        process.currentDirectoryURL = corpus
        process.arguments = ["file", "a/b.wav", "./d.wav", "-o", out2.path, "--no-progress"] + options
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(Self.files(under: out2) == ["a/b.json", "a/b.npy", "d.json", "d.npy"])
    }

    @Test func aCorruptFileDoesNotStopTheOthers() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = dir.appendingPathComponent("corpus")
        for (i, name) in ["one.wav", "two.wav", "sub/three.wav"].enumerated() {
            try Self.writeNoise(corpus.appendingPathComponent(name).path, seconds: 1, seed: UInt64(i + 20))
        }
        // A header and nothing that libsndfile recognises, and a truncated FLAC.
        try Data("RIFF\u{0}\u{0}\u{0}\u{0}WAVEjunk".utf8 + [UInt8](repeating: 7, count: 500)).write(to: corpus.appendingPathComponent("broken.wav"))
        try Self.writeNoise(corpus.appendingPathComponent("cut.flac").path, seconds: 1, seed: 30, format: .flac16)
        let flac = try Data(contentsOf: corpus.appendingPathComponent("cut.flac"))
        try flac.prefix(60).write(to: corpus.appendingPathComponent("cut.flac"))

        let out = dir.appendingPathComponent("out")
        let run = try CLI.meltap(["file", corpus.path, "-o", out.path, "--preset", "kaldi", "--jobs", "3"])
        #expect(run.status == 1, "a failed file makes the exit status 1")
        #expect(run.stdout.contains("5 files into") && run.stdout.contains("3 analysed") && run.stdout.contains("2 failed"),
                "summary: \(run.stdout)")
        #expect(run.stderr.contains("2 of 5 files failed"), "stderr: \(run.stderr)")
        #expect(run.stderr.contains("broken.wav: Cannot read the audio file") && run.stderr.contains("Convert it to WAV or FLAC"),
                "each failure with its reason and remedy: \(run.stderr)")
        #expect(run.stderr.contains("cut.flac:"), "stderr: \(run.stderr)")
        #expect(run.stderr.contains("Run the same command again"), "stderr: \(run.stderr)")
        #expect(Self.files(under: out) == ["one.json", "one.npy", "sub/three.json", "sub/three.npy", "two.json", "two.npy"],
                "good files complete, nothing at all for the bad ones")
    }

    @Test func resumesAfterSIGKILLWithoutPartialOutputs() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = dir.appendingPathComponent("corpus")
        // 48 kHz input resampled to Whisper's 16 kHz with sinc-best (chosen for its cost: zita, the default, is 20× cheaper) takes long enough to be killed mid-run.
        let count = 24
        for i in 0..<count {
            try Self.writeNoise(corpus.appendingPathComponent(String(format: "part%d/clip%02d.wav", i % 3, i)).path,
                                seconds: 4, sampleRate: 48000, seed: UInt64(100 + i))
        }
        let out = dir.appendingPathComponent("out")
        let options = ["--preset", "whisper", "--resampler", "sinc-best"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.meltap)
        process.arguments = ["file", corpus.path, "-o", out.path, "--jobs", "2"] + options
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Kill it as soon as some outputs are complete, while others are being written.
        let deadline = Date().addingTimeInterval(60)
        while Self.files(under: out).filter({ $0.hasSuffix(".json") && !$0.contains("/.") && !$0.hasPrefix(".") }).count < 3
                && process.isRunning && Date() < deadline {
            usleep(2_000)
        }
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(wasRunning, "the run finished before it could be killed; the test needs a slower input")
        #expect(process.terminationReason == .uncaughtSignal)

        // No partial .npy: every visible .npy loads, and equals the single-file result.
        let afterKill = Self.files(under: out)
        let visible = afterKill.filter { !($0 as NSString).lastPathComponent.hasPrefix(".") }
        let complete = visible.filter { $0.hasSuffix(".npy") }
        #expect(!complete.isEmpty && complete.count < count, "killed mid-run: \(complete.count) of \(count) done")
        for relative in complete {
            let input = corpus.appendingPathComponent((relative as NSString).deletingPathExtension + ".wav").path
            let written = try Data(contentsOf: out.appendingPathComponent(relative))
            #expect(written == (try Self.reference(input, options, in: dir)), "\(relative) is partial or wrong after SIGKILL")
        }
        let completePairs = complete.filter { visible.contains(($0 as NSString).deletingPathExtension + ".json") }.count

        // The same command again: the complete pairs are skipped, the rest analysed, leftovers removed.
        let rerun = try CLI.meltap(["file", corpus.path, "-o", out.path, "--jobs", "2"] + options)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("\(count - completePairs) analysed") && rerun.stdout.contains("\(completePairs) skipped"),
                "after the kill \(completePairs) pairs were complete; summary: \(rerun.stdout)")
        let temporaries = afterKill.filter { ($0 as NSString).lastPathComponent.hasPrefix(".") }.count
        if temporaries > 0 {
            #expect(rerun.stdout.contains("Removed \(temporaries) unfinished temporary file"), "summary: \(rerun.stdout)")
        }
        let final = Self.files(under: out)
        #expect(final.count == 2 * count && final.allSatisfy { !($0 as NSString).lastPathComponent.hasPrefix(".") },
                "every output present and no temporary file left: \(final.filter { ($0 as NSString).lastPathComponent.hasPrefix(".") })")
        for i in [0, count - 1] {
            let relative = String(format: "part%d/clip%02d.npy", i % 3, i)
            let input = corpus.appendingPathComponent((relative as NSString).deletingPathExtension + ".wav").path
            #expect(try Data(contentsOf: out.appendingPathComponent(relative)) == (try Self.reference(input, options, in: dir)))
        }
    }

    @Test func skipsCompleteOutputsUnlessForced() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = dir.appendingPathComponent("corpus")
        for i in 0..<3 { try Self.writeNoise(corpus.appendingPathComponent("f\(i).wav").path, seconds: 1, seed: UInt64(50 + i)) }
        let out = dir.appendingPathComponent("out")
        let base = ["file", corpus.path, "-o", out.path, "--preset", "librosa", "--n-mels", "40"]
        let first = try CLI.meltap(base)
        #expect(first.status == 0 && first.stdout.contains("3 analysed"), "\(first.stdout) \(first.stderr)")
        let f0 = out.appendingPathComponent("f0.npy").path, f1 = out.appendingPathComponent("f1.npy").path
        let before = (Self.modificationTime(f0), Self.modificationTime(f1))

        let again = try CLI.meltap(base)
        #expect(again.status == 0 && again.stdout.contains("0 analysed") && again.stdout.contains("3 skipped"), "\(again.stdout)")
        #expect(Self.modificationTime(f0) == before.0, "a skipped output is not rewritten")

        // An input newer than its outputs is analysed again; so is a file whose sidecar is missing.
        usleep(20_000)
        try FileManager.default.removeItem(at: corpus.appendingPathComponent("f1.wav"))
        try Self.writeNoise(corpus.appendingPathComponent("f1.wav").path, seconds: 2, seed: 99)
        try FileManager.default.removeItem(at: out.appendingPathComponent("f2.json"))
        let stale = try CLI.meltap(base)
        #expect(stale.status == 0 && stale.stdout.contains("2 analysed") && stale.stdout.contains("1 skipped"), "\(stale.stdout)")
        #expect(try NpyArray.load(path: f1).shape[0] > 40, "f1 now holds the features of the new, longer input")
        #expect(Self.modificationTime(f0) == before.0)

        // --force analyses everything again.
        let forced = try CLI.meltap(base + ["--force"])
        #expect(forced.status == 0 && forced.stdout.contains("3 analysed") && !forced.stdout.contains("skipped"), "\(forced.stdout)")
        #expect(Self.modificationTime(f0) != before.0, "--force rewrites complete outputs")

        // Other settings on complete outputs: refused per file, with the difference and the remedy.
        let other = try CLI.meltap(["file", corpus.path, "-o", out.path, "--preset", "librosa", "--n-mels", "64"])
        #expect(other.status == 1 && other.stdout.contains("3 failed"), "\(other.stdout)")
        #expect(other.stderr.contains("made with other settings (melBandCount 40 then, 64 now)")
                && other.stderr.contains("Pass --force"), "\(other.stderr)")
        #expect(try NpyArray.load(path: f0).shape == [32, 40], "the old features are untouched")
    }

    @Test func summaryExitStatusAndUsageErrors() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("in/a.wav").path, b = dir.appendingPathComponent("in/b.wav").path
        try Self.writeNoise(a, seconds: 2, seed: 1)
        try Self.writeNoise(b, seconds: 1, seed: 2)
        let out = dir.appendingPathComponent("out").path
        let run = try CLI.meltap(["file", a, b, "-o", out, "--preset", "kaldi", "--jobs", "1"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("2 files into \(out) in ") && run.stdout.contains("with 1 job: 2 analysed (0.001 h of audio, "),
                "summary: \(run.stdout)")
        #expect(run.stderr.isEmpty, "a clean run prints nothing on stderr (no terminal, no progress line): \(run.stderr)")

        func refused(_ arguments: [String], _ message: String) throws {
            let r = try CLI.meltap(["file"] + arguments)
            #expect(r.status != 0 && r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
        try refused([dir.appendingPathComponent("in").path, "-o", dir.appendingPathComponent("x.npy").path],
                    "Please give -o an output directory")
        try refused([a, b, "-o", out, "--jobs", "0"], "Please give --jobs as 1 or more")
        try refused([a, "-o", dir.appendingPathComponent("one.npy").path, "--jobs", "2"], "Please use --jobs and --manifest with several inputs")
        try refused([a, b, "-o", out, "--save-audio", "x.wav"], "Please use --save-audio with a single input file")
        try refused([a, dir.appendingPathComponent("missing.wav").path, "-o", out, "--force"], "Cannot find the input")
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try refused([empty.path, "-o", out], "No audio files found")
        try Self.writeNoise(dir.appendingPathComponent("in2/a.flac").path, seconds: 1, seed: 3, format: .flac16)
        try refused([dir.appendingPathComponent("in").path, dir.appendingPathComponent("in2").path, "-o", dir.appendingPathComponent("o2").path],
                    "would both be written to")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("o2").path), "refused before any work")
    }
}
