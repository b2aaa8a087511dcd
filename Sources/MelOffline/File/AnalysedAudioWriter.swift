// The offline driver: the samples the analysis saw, saved as WAV (`--save-audio`).

import Foundation
import MelFiles

/// Writes the samples every analysed channel fed its analyzer, interleaved, at the analysis rate:
/// after resampling and mixing, so that a reference library can be run on exactly these samples.
///
/// Ownership: owns its `AudioFileWriter`; call `close()` on success, `discard()` otherwise
/// (which closes it and removes the file).
final class AnalysedAudioWriter {
    private let writer: AudioFileWriter
    /// Per channel, the samples not yet written (channels run ahead of one another within a block).
    private var pending: [[Float]]

    /// - Parameter int16: 16-bit PCM (the int16 samples the micro and openwakeword presets
    ///   analyse, `MelConfiguration.analysesInt16Samples`) instead of 32-bit float.
    init(path: String, sampleRate: Int, channelCount: Int, int16: Bool, existing: ExistingOutput) throws {
        writer = try AudioFileWriter(path: path, sampleRate: sampleRate, channelCount: channelCount,
                                     format: int16 ? .wavPCM16 : .wavFloat, existing: existing)
        pending = [[Float]](repeating: [], count: channelCount)
    }

    /// Keeps `samples` of `channel`.
    func append(_ samples: UnsafeBufferPointer<Float>, channel: Int) {
        pending[channel].append(contentsOf: samples)
    }

    /// Writes the samples every channel has, interleaved.
    func writeComplete() throws {
        let channelCount = pending.count
        let count = pending.map(\.count).min() ?? 0
        guard count > 0 else { return }
        var samples = [Float](repeating: 0, count: count * channelCount)
        for c in 0..<channelCount {
            for i in 0..<count { samples[i * channelCount + c] = pending[c][i] }
            pending[c].removeFirst(count)
        }
        try writer.write(interleaved: samples)
    }

    func close() throws { try writer.close() }

    /// Closes the file and removes it.
    func discard() {
        try? writer.close()
        try? FileManager.default.removeItem(atPath: writer.path)
    }
}
