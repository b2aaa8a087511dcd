import Foundation
import MelDSP
import MelFiles
import Testing

/// `meltap file --sample-rate` and `--save-audio`, end to end with the built binary.
@Suite(.serialized) struct ResampleFileTests {
    typealias CLI = FileCommandTests

    /// 2 s at `sr`: a chirp to 10 kHz (it crosses 8 kHz, so the anti-alias filter matters), a
    /// tone and seeded noise; `channels` channels, channel c scaled by 1/(c + 1).
    static func writeTestAudio(_ path: String, sr: Int = 48000, channels: Int = 1,
                               format: AudioFileWriter.Format = .wavFloat) throws {
        var state: UInt64 = 99
        var samples: [Float] = []
        for i in 0..<(2 * sr) {
            let t = Double(i) / Double(sr)
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let noise = Double(Int64(bitPattern: state) >> 40) / Double(1 << 23)
            let x = 0.3 * sin(2 * .pi * (50 * t + 2500 * t * t)) + 0.2 * sin(2 * .pi * 440 * t) + 0.05 * noise
            for c in 0..<channels { samples.append(Float(x / Double(c + 1))) }
        }
        let writer = try AudioFileWriter(path: path, sampleRate: sr, channelCount: channels, format: format)
        try writer.write(interleaved: samples)
        try writer.close()
    }

    static func bits(_ array: NpyArray) -> [UInt32] { array.values.map(\.bitPattern) }

    /// The audio --save-audio wrote is exactly what was analysed: analysing it again at its own
    /// rate gives the same features, bit for bit.
    @Test("--sample-rate 16000 on 48 kHz audio equals meltap file on the --save-audio output",
          arguments: [("whisper", [String]()), ("kaldi", ["--n-mels", "80"]), ("librosa", ["--clamp", "running"])])
    func savedAudioReproducesTheFeatures(preset: String, extra: [String]) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in48.wav").path
        let saved = dir.appendingPathComponent("analysed.wav").path
        let resampled = dir.appendingPathComponent("resampled.npy").path
        let again = dir.appendingPathComponent("again.npy").path
        try Self.writeTestAudio(input)
        let first = try CLI.meltap(["file", input, "-o", resampled, "--preset", preset, "--sample-rate", "16000",
                                    "--save-audio", saved] + extra)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("resampled from 48000 Hz, zita"), "\(first.stdout)")
        let reader = try AudioFileReader(path: saved)
        #expect(reader.sampleRate == 16000 && reader.channelCount == 1)
        #expect(reader.formatDescription.contains("float"), "\(reader.formatDescription)")
        // 2 s at 48 kHz → ⌈96000 / 3⌉ samples after the flush.
        #expect(reader.frameCount == 32000, "saved \(reader.frameCount) samples")
        let second = try CLI.meltap(["file", saved, "-o", again, "--preset", preset] + extra)
        #expect(second.status == 0, "\(second.stderr)")
        let a = try NpyArray.load(path: resampled), b = try NpyArray.load(path: again)
        #expect(a.shape == b.shape)
        #expect(Self.bits(a) == Self.bits(b), "\(zip(a.values, b.values).filter { $0.bitPattern != $1.bitPattern }.count) values differ")
    }

    @Test("--all-channels with --sample-rate: every channel resampled, saved interleaved")
    func allChannels() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("stereo.wav").path
        let saved = dir.appendingPathComponent("analysed.wav").path
        let out = dir.appendingPathComponent("out.npy").path, again = dir.appendingPathComponent("again.npy").path
        try Self.writeTestAudio(input, sr: 44100, channels: 2)
        let first = try CLI.meltap(["file", input, "-o", out, "--preset", "whisper", "--all-channels",
                                    "--sample-rate", "16000", "--resampler", "sinc-medium", "--save-audio", saved])
        #expect(first.status == 0, "\(first.stderr)")
        let reader = try AudioFileReader(path: saved)
        #expect(reader.channelCount == 2 && reader.sampleRate == 16000)
        let second = try CLI.meltap(["file", saved, "-o", again, "--preset", "whisper", "--all-channels"])
        #expect(second.status == 0, "\(second.stderr)")
        let a = try NpyArray.load(path: out), b = try NpyArray.load(path: again)
        #expect(a.shape == b.shape && a.shape.count == 3 && a.shape[1] == 2)
        #expect(Self.bits(a) == Self.bits(b))
        // The sidecar states both rates and the resampler.
        let sidecar = try FeatureSidecar.read(path: dir.appendingPathComponent("out.json").path)
        #expect(sidecar.sampleRate == 16000)
        #expect(sidecar.inputSampleRate == 44100)
        #expect(sidecar.resampler?.name == "sinc-medium")
        #expect(sidecar.resampler?.library?.contains("libsamplerate") == true, "\(String(describing: sidecar.resampler))")
        #expect((sidecar.resampler?.lookaheadInputSamples ?? 0) > 0)
    }

    @Test("Without resampling, --save-audio writes the analysed samples unchanged, and the sidecar has no resampler")
    func saveAudioWithoutResampling() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.wav").path, saved = dir.appendingPathComponent("saved.wav").path
        let out = dir.appendingPathComponent("out.npy").path
        try Self.writeTestAudio(input, sr: 16000)
        let run = try CLI.meltap(["file", input, "-o", out, "--preset", "whisper", "--sample-rate", "16000",
                                  "--save-audio", saved])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try AudioFileReader(path: saved).readAll().map(\.bitPattern)
                == AudioFileReader(path: input).readAll().map(\.bitPattern))
        let sidecar = try FeatureSidecar.read(path: dir.appendingPathComponent("out.json").path)
        #expect(sidecar.resampler == nil)
        #expect(sidecar.sampleRate == 16000 && sidecar.inputSampleRate == 16000)
    }

    @Test("whisper and micro default to 16 kHz: without --sample-rate, 48 kHz input is resampled as with --sample-rate 16000",
          arguments: ["whisper", "micro"])
    func modelPresetsDefaultTo16kHz(preset: String) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in48.wav").path
        let implicit = dir.appendingPathComponent("implicit.npy").path, explicit = dir.appendingPathComponent("explicit.npy").path
        try Self.writeTestAudio(input)
        let run = try CLI.meltap(["file", input, "-o", implicit, "--preset", preset])
        #expect(run.status == 0, "\(run.stderr)")
        let asked = try CLI.meltap(["file", input, "-o", explicit, "--preset", preset, "--sample-rate", "16000"])
        #expect(asked.status == 0, "\(asked.stderr)")
        #expect(Self.bits(try NpyArray.load(path: implicit)) == Self.bits(try NpyArray.load(path: explicit)))
        let sidecar = try FeatureSidecar.read(path: dir.appendingPathComponent("implicit.json").path)
        #expect(sidecar.sampleRate == 16000 && sidecar.inputSampleRate == 48000 && sidecar.resampler != nil)
    }

    /// The micro preset analyses int16 samples: --save-audio writes exactly those, as 16-bit PCM.
    @Test("The micro preset saves 16-bit PCM, and analysing it again gives the same features")
    func microSavesPCM16() throws {
        guard MelPreset(rawValue: "micro") != nil else { return }  // the preset is not in this build
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in48.wav").path, saved = dir.appendingPathComponent("saved.wav").path
        let out = dir.appendingPathComponent("out.npy").path, again = dir.appendingPathComponent("again.npy").path
        try Self.writeTestAudio(input)
        let run = try CLI.meltap(["file", input, "-o", out, "--preset", "micro", "--sample-rate", "16000", "--save-audio", saved])
        #expect(run.status == 0, "\(run.stderr)")
        let reader = try AudioFileReader(path: saved)
        #expect(reader.formatDescription.contains("16-bit"), "\(reader.formatDescription)")
        let second = try CLI.meltap(["file", saved, "-o", again, "--preset", "micro"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(Self.bits(try NpyArray.load(path: out)) == Self.bits(try NpyArray.load(path: again)))
    }

    @Test("Errors say what to do: whisper forced to 48 kHz suggests --sample-rate 16000; bad rates, names and paths")
    func errors() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in48.wav").path, out = dir.appendingPathComponent("out.npy").path
        try Self.writeTestAudio(input)
        let whisper = try CLI.meltap(["file", input, "-o", out, "--preset", "whisper", "--sample-rate", "48000"])
        #expect(whisper.status != 0 && whisper.stderr.contains("--sample-rate 16000"), "\(whisper.stderr)")
        let rate = try CLI.meltap(["file", input, "-o", out, "--sample-rate", "10"])
        #expect(rate.status != 0 && rate.stderr.contains("Please give --sample-rate"), "\(rate.stderr)")
        let name = try CLI.meltap(["file", input, "-o", out, "--sample-rate", "16000", "--resampler", "soxr"])
        #expect(name.status != 0 && name.stderr.contains("sinc-best"), "\(name.stderr)")
        let path = try CLI.meltap(["file", input, "-o", out, "--save-audio", dir.appendingPathComponent("x.flac").path])
        #expect(path.status != 0 && path.stderr.contains("ending in .wav"), "\(path.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let help = try CLI.meltap(["file", "--help"])
        for choice in ["--sample-rate", "--resampler", "zita", "sinc-best", "sinc-medium", "sinc-fastest", "--save-audio"] {
            #expect(help.stdout.contains(choice), "--help does not mention \(choice)")
        }
    }
}

/// The resampler's processing path makes no heap call: the release bench converts 48 → 16 kHz
/// with every quality under the rtguard counter (`meltap-bench --resample 16000 --check-allocations`).
@Suite(.serialized) struct ResamplerAllocationTests {
    @Test func resamplerMakesNoHeapCalls() throws {
        let (status, output) = try RealtimeAllocationTests.benchUnderShim(
            ["--resample", "16000", "--seconds", "5", "--repetitions", "1", "--block", "128", "--check-allocations"])
        print(output)
        #expect(status == 0, "meltap-bench --resample --check-allocations failed:\n\(output)")
        let rows = output.split(separator: "\n").filter { $0.hasPrefix("sinc-") }
        #expect(rows.count == 3, "one row per quality:\n\(output)")
        #expect(rows.allSatisfy { $0.hasSuffix(" 0") }, "heap calls counted:\n\(output)")
    }
}
