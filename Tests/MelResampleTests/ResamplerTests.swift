import Foundation
import MelResample
import Testing

/// A deterministic test signal: two sines and seeded noise, within ±1.
func testSignal(count: Int, seed: UInt64 = 3) -> [Float] {
    var state = seed
    return (0..<count).map { i in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let noise = Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
        return 0.4 * sinf(Float(i) * 0.013) + 0.3 * sinf(Float(i) * 0.71) + 0.2 * noise
    }
}

/// Resamples `input` split into blocks of the given lengths (cycled), then flushes.
func resample(_ input: [Float], with resampler: Resampler, blocks: [Int], flush: Bool = true) -> [Float] {
    var output: [Float] = []
    var scratch = [Float](repeating: .nan, count: resampler.outputCapacity(forInputCount: input.count)
                          + resampler.flushCapacity)
    input.withUnsafeBufferPointer { all in
        scratch.withUnsafeMutableBufferPointer { buffer in
            var position = 0
            var k = 0
            while position < all.count {
                let n = min(blocks[k % blocks.count], all.count - position)
                k += 1
                let capacity = resampler.outputCapacity(forInputCount: n)
                let produced = resampler.process(UnsafeBufferPointer(rebasing: all[position..<(position + n)]),
                                                 into: buffer.baseAddress!, capacity: capacity)
                #expect(produced <= capacity)
                output.append(contentsOf: buffer[0..<produced])
                position += n
            }
            if flush {
                while true {
                    let produced = resampler.flush(into: buffer.baseAddress!, capacity: resampler.flushCapacity)
                    if produced == 0 { break }
                    output.append(contentsOf: buffer[0..<produced])
                }
            }
        }
    }
    return output
}

/// Random block lengths from 1 to 5000, seeded.
func randomBlocks(seed: UInt64) -> [Int] {
    var generator = SeededGenerator(state: seed)
    return (0..<400).map { _ in Int.random(in: 1...5000, using: &generator) }
}

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state ^ (state >> 29)
    }
}

@Suite struct ResamplerTests {
    static let conversions: [(Double, Double)] = [(48000, 16000), (44100, 16000), (22050, 16000), (16000, 48000)]

    @Test("Chunk invariance: blocks of 1, 7, 64, 256, 4096 and random sizes give the same samples, bit for bit",
          arguments: ResamplerQuality.allCases)
    func chunkInvariance(quality: ResamplerQuality) throws {
        let input = testSignal(count: 48000)
        for (inputRate, outputRate) in Self.conversions {
            let resampler = try Resampler(inputRate: inputRate, outputRate: outputRate, quality: quality)
            let reference = resample(input, with: resampler, blocks: [256])
            for blocks in [[1], [7], [64], [4096], randomBlocks(seed: 11), [1, 4096, 3, 700]] {
                resampler.reset()
                let output = resample(input, with: resampler, blocks: blocks)
                #expect(output.count == reference.count,
                        "\(quality.rawValue) \(inputRate) → \(outputRate), blocks \(blocks.prefix(4)): \(output.count) samples, expected \(reference.count)")
                let differing = zip(output, reference).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(differing == 0,
                        "\(quality.rawValue) \(inputRate) → \(outputRate), blocks \(blocks.prefix(4)): \(differing) of \(reference.count) samples differ")
            }
        }
    }

    @Test("Output length after the flush is ⌈input · ratio⌉", arguments: ResamplerQuality.allCases)
    func outputLength(quality: ResamplerQuality) throws {
        for (inputRate, outputRate) in Self.conversions {
            for count in [1, 2, 3, 100, 4097, 48000, 66150] {
                let resampler = try Resampler(inputRate: inputRate, outputRate: outputRate, quality: quality)
                let output = resample(testSignal(count: count), with: resampler, blocks: [512])
                // Exactly librosa's length, in integers: ⌈count · out / in⌉.
                let expected = (count * Int(outputRate) + Int(inputRate) - 1) / Int(inputRate)
                #expect(output.count == expected,
                        "\(quality.rawValue) \(inputRate) → \(outputRate), \(count) in: \(output.count) out, expected \(expected)")
            }
        }
    }

    /// Sample 0 of the output sits on sample 0 of the input: an impulse at input 3000 (48 kHz)
    /// peaks at output 1000 (16 kHz). Nothing to trim.
    @Test("Time aligned: an impulse at input sample 3000 peaks at output sample 1000", arguments: ResamplerQuality.allCases)
    func timeAligned(quality: ResamplerQuality) throws {
        var input = [Float](repeating: 0, count: 9000)
        input[3000] = 1
        let resampler = try Resampler(inputRate: 48000, outputRate: 16000, quality: quality)
        let output = resample(input, with: resampler, blocks: [256])
        let peak = output.indices.max { abs(output[$0]) < abs(output[$1]) }
        #expect(peak == 1000, "peak at \(String(describing: peak))")
    }

    /// The latency `init` measures: the output lags the input by a fixed number of samples.
    /// zita's: its filter spans 2 · 64 · 3 = 384 input samples at 48 → 16 kHz, centred on the
    /// output instant, so it reads 192 past it.
    @Test("Look-ahead: 192 / 430 / 138 / 59 input samples (64 / 143 / 46 / 20 output samples) at 48 → 16 kHz")
    func delay() throws {
        let expected: [ResamplerQuality: Int] = [.zita: 192, .sincBest: 430, .sincMedium: 138, .sincFastest: 59]
        for quality in ResamplerQuality.allCases {
            let resampler = try Resampler(inputRate: 48000, outputRate: 16000, quality: quality)
            #expect(resampler.lookahead == expected[quality]!, "\(quality.rawValue): look-ahead \(resampler.lookahead)")
            // Streaming without a flush: what is out after n inputs is n · ratio − delay.
            let input = testSignal(count: 30000)
            let streamed = resample(input, with: resampler.resetting(), blocks: [128], flush: false)
            #expect(abs(Double(streamed.count) - (30000.0 / 3 - resampler.delay)) < 1,
                    "\(quality.rawValue): \(streamed.count) outputs after 30000 inputs")
        }
    }

    @Test("reset() starts a new stream: the same output as a fresh converter", arguments: ResamplerQuality.allCases)
    func resetMatchesFresh(quality: ResamplerQuality) throws {
        let input = testSignal(count: 20000, seed: 9)
        let used = try Resampler(inputRate: 44100, outputRate: 16000, quality: quality)
        _ = resample(testSignal(count: 5000, seed: 1), with: used, blocks: [333], flush: false)
        used.reset()
        let fresh = try Resampler(inputRate: 44100, outputRate: 16000, quality: quality)
        #expect(resample(input, with: used, blocks: [100]) == resample(input, with: fresh, blocks: [100]))
    }

    @Test("A ratio libsamplerate cannot do is refused with what to choose")
    func badRatio() {
        #expect {
            _ = try Resampler(inputRate: 48000, outputRate: 100)
        } throws: { error in
            let message = "\(error)"
            return message.contains("1/256") && message.contains("--sample-rate")
        }
    }

    @Test("A ratio zita-resampler cannot do is refused with what to choose instead",
          arguments: [(48000.0, 500.0), (44100.0, 16001.0), (48000.5, 16000.0)])
    func badZitaRatio(rates: (Double, Double)) {
        #expect {
            _ = try Resampler(inputRate: rates.0, outputRate: rates.1, quality: .zita)
        } throws: { error in
            let message = "\(error)"
            return message.contains("zita-resampler cannot convert") && message.contains("--resampler sinc-best")
        }
    }

    @Test("Every quality names itself as --resampler spells it")
    func names() {
        #expect(ResamplerQuality.allCases.map(\.rawValue) == ["zita", "sinc-best", "sinc-medium", "sinc-fastest"])
        #expect(ResamplerQuality.zita.libraryDescription.hasPrefix("zita-resampler 1.") && ResamplerQuality.zita.libraryDescription.hasSuffix("half-length 64"))
        #expect(ResamplerQuality.standard == .zita)
        for quality in ResamplerQuality.allCases { #expect(!quality.libraryDescription.isEmpty) }
    }
}

extension Resampler {
    func resetting() -> Resampler { reset(); return self }
}
