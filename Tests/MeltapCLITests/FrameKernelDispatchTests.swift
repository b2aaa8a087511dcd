import Foundation
import Testing

/// Whether /proc/cpuinfo lists AVX2 (what `__builtin_cpu_supports("avx2")` checks).
private func cpuHasAVX2() -> Bool {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
    return info.split(separator: "\n").contains { $0.hasPrefix("flags") && $0.split(separator: " ").contains("avx2") }
}

/// The AVX2 frame kernels chosen at configuration (Sources/CVectorMath/frame_kernels.c) give the
/// same bits as the Swift loops they replace, end to end: `meltap file` on the fixture signal
/// with `MELTAP_KERNELS=baseline` and with `MELTAP_KERNELS=auto` (any value but `baseline`: the
/// CPU decides) writes byte-identical `.npy` files for every kind of frame the kernels touch
/// (window product, power spectrum, mel bank, Kaldi's frame preparation with and without energy). Skipped, saying so, on a CPU without AVX2, where both
/// runs would use the Swift loops. The kernel-level comparison is `MelDSPTests/FrameKernelTests`.
@Suite(.serialized, .enabled(if: cpuHasAVX2(), "this CPU has no AVX2: both runs would use the Swift loops"))
struct FrameKernelDispatchTests {
    @Test(arguments: [
        (16000, ["--preset", "whisper"]),
        (16000, ["--preset", "whisper", "--n-mels", "128", "--clamp", "running"]),
        (16000, ["--preset", "kaldi", "--n-mels", "80", "--window", "hamming", "--use-energy"]),
        (48000, ["--preset", "kaldi"]),
        (48000, ["--preset", "librosa", "--fft-precision", "single"]),
        (16000, ["--preset", "torchaudio"]),
    ])
    func avx2KernelsWriteTheBaselineBytes(sampleRate: Int, options: [String]) throws {
        let dir = try FileCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("signal.wav").path
        try FileCommandTests.writeSignal(sampleRate, to: wav)
        var outputs: [Data] = []
        for kernels in ["baseline", "auto"] {
            let out = dir.appendingPathComponent("\(kernels).npy").path
            let run = try FileCommandTests.meltap(["file", wav, "-o", out] + options,
                                                  environment: ["MELTAP_KERNELS": kernels])
            #expect(run.status == 0, "meltap file \(options) with \(kernels) kernels failed: \(run.stderr)")
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        #expect(outputs[0].count > 128, "\(options): the output holds no frames")
        #expect(outputs[0] == outputs[1], "\(options): the AVX2 kernels wrote other bytes than the Swift loops")
    }
}
