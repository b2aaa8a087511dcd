import Foundation
import MelDSP
import MelResample
import Testing

/// The whole input side of the analysis — resampler, then analyzer — fed in blocks of any size
/// gives the same frames, bit for bit, as the JACK callback (any period) and `meltap file`
/// (4096-sample blocks) both rely on.
@Suite struct ResampledFramesTests {
    /// Frames of `input` at 48 kHz resampled to 16 kHz, fed in blocks cycling through `blocks`,
    /// then the resampler's and the analyzer's tails flushed.
    static func frames(_ input: [Float], preset: MelPreset, blocks: [Int]) throws -> [Float] {
        let configuration = try MelOverrides().resolve(preset: preset, sampleRate: 16000)
        let analyzer = try MelAnalyzer(configuration: configuration, clampRule: .running)
        let resampler = try Resampler(inputRate: 48000, outputRate: 16000)
        let capacity = max(resampler.outputCapacity(forInputCount: blocks.max()!), resampler.flushCapacity)
        var scratch = [Float](repeating: 0, count: capacity)
        var frame = [Float](repeating: 0, count: analyzer.frameWidth)
        var result: [Float] = []
        func analyse(_ samples: UnsafePointer<Float>, _ count: Int) {
            var offset = 0
            while offset < count {
                let step = frame.withUnsafeMutableBufferPointer {
                    analyzer.process(UnsafeBufferPointer(start: samples + offset, count: count - offset), into: $0.baseAddress!)
                }
                offset += step.consumed
                if step.frameIndex >= 0 { result += frame }
            }
        }
        try input.withUnsafeBufferPointer { all in
            try scratch.withUnsafeMutableBufferPointer { buffer in
                var position = 0, k = 0
                while position < all.count {
                    let n = min(blocks[k % blocks.count], all.count - position)
                    k += 1
                    let made = resampler.process(UnsafeBufferPointer(rebasing: all[position..<(position + n)]),
                                                 into: buffer.baseAddress!, capacity: capacity)
                    analyse(buffer.baseAddress!, made)
                    position += n
                }
                while case let made = resampler.flush(into: buffer.baseAddress!, capacity: capacity), made > 0 {
                    analyse(buffer.baseAddress!, made)
                }
                while try frame.withUnsafeMutableBufferPointer({ try analyzer.flush(into: $0.baseAddress!) }) >= 0 {
                    result += frame
                }
            }
        }
        return result
    }

    @Test("Resampled frames are chunk-invariant: blocks of 1, 7, 64, 256, 4096 and random sizes",
          arguments: [MelPreset.whisper, .kaldi, .librosa])
    func chunkInvariance(preset: MelPreset) throws {
        let input = testSignal(count: 48000 * 2, seed: 5)
        let reference = try Self.frames(input, preset: preset, blocks: [256])
        #expect(!reference.isEmpty)
        for blocks in [[1], [7], [64], [4096], randomBlocks(seed: 23)] {
            let frames = try Self.frames(input, preset: preset, blocks: blocks)
            #expect(frames.count == reference.count, "\(preset) blocks \(blocks.prefix(3)): \(frames.count) values, expected \(reference.count)")
            let differing = zip(frames, reference).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(preset) blocks \(blocks.prefix(3)): \(differing) of \(reference.count) values differ")
        }
    }
}
