import Foundation
import MelDSP
import MelFiles
import Testing

/// `meltap file --layout`, `meltap invert` and `Examples/specshow.py` end to end, on real files:
/// the built binary (`MELTAP_BIN`) and the .venv's python with librosa and matplotlib.
@Suite(.serialized) struct InvertLayoutSpecshowTests {
    typealias CLI = FileCommandTests

    static var python: String { CLI.packageRoot.appendingPathComponent(".venv/bin/python").path }

    /// Runs `python` with `arguments`, returning status and output.
    static func runPython(_ arguments: [String]) throws -> CLI.Run {
        try CLI.run(python, arguments)
    }

    /// A stereo WAV: the fixture signal left, half of it time-reversed right.
    static func writeStereo(to path: String) throws {
        let left = try CLI.signal(16000), right = left.reversed().map { $0 * 0.5 }
        var interleaved = [Float](repeating: 0, count: 2 * left.count)
        for i in 0..<left.count { interleaved[2 * i] = left[i]; interleaved[2 * i + 1] = right[i] }
        let writer = try AudioFileWriter(path: path, sampleRate: 16000, channelCount: 2, format: .wavFloat)
        try writer.write(interleaved: interleaved)
        try writer.close()
    }

    @Test func bandsFirstIsTheTransposeAndTheSidecarSaysSo() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("stereo.wav").path
        try Self.writeStereo(to: wav)
        let frames = dir.appendingPathComponent("frames.npy").path, bands = dir.appendingPathComponent("bands.npy").path
        for (path, layout) in [(frames, "frames-first"), (bands, "bands-first")] {
            let run = try CLI.meltap(["file", wav, "-o", path, "--all-channels", "--features", "db", "--layout", layout])
            #expect(run.status == 0, "meltap file --layout \(layout) failed: \(run.stderr)")
        }
        let a = try NpyArray.load(path: frames), b = try NpyArray.load(path: bands)
        let (t, c, n) = (a.shape[0], a.shape[1], a.shape[2])
        #expect(b.shape == [c, n, t], "bands-first shape \(b.shape), frames-first \(a.shape)")
        var mismatches = 0
        for f in 0..<t { for ch in 0..<c { for k in 0..<n where a.values[(f * c + ch) * n + k] != b.values[(ch * n + k) * t + f] {
            mismatches += 1
        } } }
        #expect(mismatches == 0)
        let sidecar = try FeatureSidecar.read(path: Sidecar.path(forFeatureFile: bands))
        #expect(sidecar.axisOrder == .bandsFirst && sidecar.layout == "(channels, bands, frames)")
        #expect(sidecar.shape == b.shape)
        let help = try CLI.meltap(["file", "--help"])
        // The help is wrapped to the terminal: compare with runs of white space collapsed.
        let text = help.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
        #expect(text.contains("torch.from_numpy(x).unsqueeze(0) gives (1, bands, frames)"), "\(text)")
        #expect(text.contains("torch.from_numpy(x).unsqueeze(0) gives (1, frames, bands)"))
    }

    @Test func invertWritesAudioAndRefusesWhatItCannot() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("signal.wav").path
        try CLI.writeSignal(16000, to: wav)
        let db = dir.appendingPathComponent("db.npy").path, out = dir.appendingPathComponent("out.wav").path
        #expect(try CLI.meltap(["file", wav, "-o", db, "--features", "db", "--layout", "bands-first"]).status == 0)
        let first = try CLI.meltap(["invert", db, "-o", out, "--seed", "5"])
        #expect(first.status == 0, "meltap invert failed: \(first.stderr)")
        #expect(first.stdout.contains("Spectral convergence"))
        let reader = try AudioFileReader(path: out)
        #expect(reader.sampleRate == 16000 && reader.channelCount == 1 && reader.frameCount == 512 * 46)
        // No clobbering without --force; the same seed gives the same file with it.
        // (Samples, not bytes: libsndfile's PEAK chunk in a float WAV carries a time stamp.)
        let before = try AudioFileReader(path: out).readAll()
        let again = try CLI.meltap(["invert", db, "-o", out, "--seed", "5"])
        #expect(again.status != 0 && again.stderr.contains("--force"))
        #expect(try CLI.meltap(["invert", db, "-o", out, "--seed", "5", "--force"]).status == 0)
        #expect(try AudioFileReader(path: out).readAll() == before)
        // MFCC: refused, saying why and what to do, and nothing written.
        let mfcc = dir.appendingPathComponent("mfcc.npy").path, none = dir.appendingPathComponent("none.wav").path
        #expect(try CLI.meltap(["file", wav, "-o", mfcc, "--features", "mfcc"]).status == 0)
        let refused = try CLI.meltap(["invert", mfcc, "-o", none])
        #expect(refused.status != 0 && refused.stderr.contains("MFCC") && refused.stderr.contains("instead"))
        #expect(!FileManager.default.fileExists(atPath: none))
    }

    /// Bad input: each error says what to do, and nothing is written.
    @Test(arguments: [
        (["file", "IN", "-o", "OUT.npy", "--features", "db", "--db-ref", "loud"], "Please give --db-ref as max, min or a positive number"),
        (["file", "IN", "-o", "OUT.npy", "--db-ref", "max"], "Use --features db or spectrogram-db, or drop --db-ref"),
        (["file", "IN", "-o", "OUT.npy", "--layout", "sideways"], "frames-first"),
        (["invert", "OUT.npy", "-o", "AUDIO.wav", "--n-iter", "0"], "Please give --n-iter from 1 to 10000"),
        (["invert", "OUT.npy", "-o", "AUDIO.mp3"], "Please give an output path ending in .wav"),
    ])
    func badInputSaysWhatToDo(arguments: [String], advice: String) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("in.wav").path
        try CLI.writeSignal(16000, to: wav)
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        let resolved = arguments.map { $0 == "IN" ? wav : ($0.hasPrefix("OUT") || $0.hasPrefix("AUDIO")) ? path($0) : $0 }
        let run = try CLI.meltap(resolved)
        #expect(run.status != 0 && run.stderr.contains(advice), "stderr: \(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("AUDIO.wav")))
        if arguments[0] == "file" { #expect(!FileManager.default.fileExists(atPath: path("OUT.npy"))) }
    }

    /// Examples/specshow.py draws one panel per channel; the PNG has the expected size and is
    /// not blank (many distinct colours, real contrast).
    @Test func specshowDrawsOnePanelPerChannel() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("stereo.wav").path, npy = dir.appendingPathComponent("f.npy").path
        try Self.writeStereo(to: wav)
        #expect(try CLI.meltap(["file", wav, "-o", npy, "--all-channels", "--features", "db", "--db-ref", "max"]).status == 0)
        let png = dir.appendingPathComponent("f.png").path
        let script = CLI.packageRoot.appendingPathComponent("Examples/specshow.py").path
        let draw = try Self.runPython([script, npy, "-o", png])
        #expect(draw.status == 0, "specshow.py failed: \(draw.stderr)")
        #expect(draw.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == png)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: png)))
        #expect(bytes.count > 20_000 && bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        func be32(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        #expect(be32(16) == 1000 && be32(20) == 640, "PNG is \(be32(16)) × \(be32(20)); two panels of 10 × 3.2 in at 100 dpi")
        let stats = try Self.runPython(["-c", """
            import sys, numpy as np, matplotlib.image as m
            a = m.imread(sys.argv[1])[..., :3]
            print(len(np.unique((a * 255).astype(np.uint8).reshape(-1, 3), axis=0)), float(a.std()))
            """, png])
        let fields = stats.stdout.split(separator: " ")
        let colours = Int(fields.first ?? "") ?? 0, spread = Double(fields.last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        #expect(colours > 500 && spread > 0.1, "PNG looks blank: \(colours) colours, std \(spread) \(stats.stderr)")
    }
}
