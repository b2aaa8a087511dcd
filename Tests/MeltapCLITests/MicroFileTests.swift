import Foundation
import MelDSP
import MelFiles
import Testing

/// `meltap file --preset micro` end to end: an int16 WAV of each golden vector in, the exact
/// uint16 frames of pymicro-features out (as float32 u16 × 0.0390625), and a sidecar naming the
/// preset and the scale. scripts/test runs this on the release binary, whose optimiser the
/// debug-built parity tests do not see (it once folded a libm call in the start-up tables).
@Suite(.serialized) struct MicroFileTests {
    static let vectors = FileCommandTests.fixtures.appendingPathComponent("micro")

    /// Every `<name>_int16.npy` in Fixtures/micro.
    static let names = ((try? FileManager.default.contentsOfDirectory(atPath: vectors.path)) ?? [])
        .filter { $0.hasSuffix("_int16.npy") }.map { String($0.dropLast("_int16.npy".count)) }.sorted()

    @Test func everyVectorIsFound() {
        #expect(Self.names.count == 8, "Fixtures/micro should hold 8 vectors: \(Self.names)")
    }

    @Test(arguments: names)
    func framesEqualPymicroFeatures(vector: String) throws {
        let dir = try FileCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("in.wav").path, out = dir.appendingPathComponent("out.npy").path
        let input = try NpyArray.load(path: Self.vectors.appendingPathComponent("\(vector)_int16.npy").path)
        let writer = try AudioFileWriter(path: wav, sampleRate: 16000, channelCount: 1, format: .wavPCM16)
        try writer.write(interleaved: input.doubles.map { Float($0) / 32768 })
        try writer.close()

        let run = try FileCommandTests.meltap(["file", wav, "-o", out, "--preset", "micro", "--no-progress"])
        #expect(run.status == 0, "meltap failed: \(run.stderr)")
        let observed = try NpyArray.load(path: out)
        let expected = try NpyArray.load(path: Self.vectors.appendingPathComponent("\(vector)_u16.npy").path)
        #expect(observed.shape == expected.shape)
        let first = zip(observed.values, expected.doubles).enumerated().first { $0.element.0 != Float($0.element.1) * 0.0390625 }
        if let first {
            let (frame, channel) = (first.offset / 40, first.offset % 40)
            let want = first.element.1, got = first.element.0
            let message = "\(vector): first difference at frame \(frame) channel \(channel): "
                + "expected u16 \(want) (\(Float(want) * 0.0390625)), observed \(got)"
            Issue.record(Comment(rawValue: message))
        }

        let sidecar = try FeatureSidecar.read(path: dir.appendingPathComponent("out.json").path)
        #expect(sidecar.preset == "micro")
        #expect(sidecar.outputScale == 0.0390625)
        #expect(sidecar.configuration["output"]?.stringValue == "micro")
        #expect(sidecar.firstSampleOfFrame0 == 0)
    }
}
