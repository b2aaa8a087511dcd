// Shared by the JACK test suites (MelJackTests, MeltapCLITests): the format meltap-testsource
// records, and the offline reference a live frame is compared with.
import Foundation
import MelDSP

/// A `meltap-testsource --record` file: samples by JACK frame time.
public struct SourceRecord {
    public var channels: Int
    public var sampleRate: Int
    public var blocks: [(frameTime: Int64, first: Int, count: Int)]
    public var samples: [[Float]]

    public init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var reader = ByteReader(data: data)
        guard reader.bytes(4) == Array("MTSR".utf8), reader.u32() == 1 else { throw HarnessError("\(path) is not a source record") }
        channels = Int(reader.u32())
        sampleRate = Int(reader.u32())
        let blockCount = Int(reader.u64())
        let count = Int(reader.u64())
        blocks = (0..<blockCount).map { _ in
            let time = Int64(bitPattern: reader.u64())
            let first = Int(reader.u64())
            let n = Int(reader.u32())
            _ = reader.u32()
            return (time, first, n)
        }
        samples = (0..<channels).map { _ in (0..<count).map { _ in Float(bitPattern: reader.u32()) } }
    }

    /// A run of blocks whose frame times follow each other without a jump. jack2 moves the
    /// frame time at a buffer-size change to previous start + new period (so it can go
    /// backwards), and a missed cycle skips ahead; each such jump starts a new epoch.
    public struct Epoch {
        public var start: Int64
        public var end: Int64
        public var firstSample: Int
    }

    public var epochs: [Epoch] {
        var result: [Epoch] = []
        for block in blocks {
            if var last = result.last, last.end == block.frameTime,
               last.firstSample + Int(last.end - last.start) == block.first {
                last.end += Int64(block.count)
                result[result.count - 1] = last
            } else {
                result.append(Epoch(start: block.frameTime, end: block.frameTime + Int64(block.count), firstSample: block.first))
            }
        }
        return result
    }

    /// The `count` samples of `channel` from JACK frame time `time`, read within the epoch that
    /// holds `time` (the latest one starting at or before it): 0 before the record (and after it,
    /// with `silenceAfter`), where the source played silence; nil when a sample falls outside that
    /// epoch or in unknown territory.
    public func window(channel: Int, from time: Int64, count: Int, silenceBefore: Bool, silenceAfter: Bool) -> [Float]? {
        let epochs = self.epochs
        guard let firstEpoch = epochs.first else { return nil }
        let index = epochs.lastIndex(where: { $0.start <= time })
        var result: [Float] = []
        result.reserveCapacity(count)
        for i in 0..<count {
            let t = time + Int64(i)
            let epoch = epochs[index ?? 0]
            if index == nil && t < firstEpoch.start {
                guard silenceBefore else { return nil }
                result.append(0)
            } else if t >= epoch.start && t < epoch.end {
                result.append(samples[channel][epoch.firstSample + Int(t - epoch.start)])
            } else if t >= epoch.end && (index ?? 0) == epochs.count - 1 && silenceAfter {
                result.append(0)
            } else {
                return nil
            }
        }
        return result
    }

    /// The sample at JACK frame time `time`: 0 before the record (silence was played), nil after
    /// it or in a hole between recorded blocks.
    public func sample(channel: Int, at time: Int64) -> Float? {
        guard let firstBlock = blocks.first, let lastBlock = blocks.last else { return nil }
        if time < firstBlock.frameTime { return 0 }
        if time >= lastBlock.frameTime + Int64(lastBlock.count) { return nil }
        var low = 0, high = blocks.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if blocks[middle].frameTime <= time { low = middle } else { high = middle - 1 }
        }
        let block = blocks[low]
        guard time < block.frameTime + Int64(block.count) else { return nil }
        return samples[channel][block.first + Int(time - block.frameTime)]
    }
}

public struct ByteReader {
    public let data: Data
    public var offset = 0
    public init(data: Data) { self.data = data }
    public var remaining: Int { data.count - offset }
    public mutating func bytes(_ n: Int) -> [UInt8] {
        defer { offset += n }
        return Array(data[data.startIndex + offset ..< data.startIndex + offset + n])
    }
    public mutating func u32() -> UInt32 {
        let b = bytes(4)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
    public mutating func u64() -> UInt64 { UInt64(u32()) | UInt64(u32()) << 32 }
}

// MARK: Offline reference

/// One frame computed offline from `window` (n_fft samples starting at the frame's first
/// sample): the samples are placed where centred framing puts frame 4 (after n_fft/2 zeros), so
/// the analyzer computes it with exactly the arithmetic of any interior frame.
public func offlineFrame(window: [Float], analyzer: MelAnalyzer) throws -> [Float] {
    analyzer.reset()
    let configuration = analyzer.configuration
    let lead = -analyzer.firstSample(ofFrame: 0)
    let target = lead / configuration.hopLength + (lead % configuration.hopLength == 0 ? 0 : 1)
    let offset = target * configuration.hopLength - lead  // where the target frame's first sample sits
    var samples = [Float](repeating: 0, count: offset)
    samples += window
    var frame = [Float](repeating: 0, count: max(1, analyzer.frameWidth))
    var result: [Float]?
    try samples.withUnsafeBufferPointer { input in
        var position = 0
        while position < input.count {
            let step = frame.withUnsafeMutableBufferPointer {
                analyzer.process(UnsafeBufferPointer(rebasing: input[position...]), into: $0.baseAddress!)
            }
            if step.consumed == 0 && step.frameIndex < 0 { throw HarnessError("analyzer made no progress") }
            position += step.consumed
            if step.frameIndex == target { result = Array(frame.prefix(analyzer.frameWidth)) }
        }
    }
    guard let result else { throw HarnessError("frame \(target) was not produced from \(samples.count) samples") }
    return result
}

/// Appended to "jackd did not start" errors: the one cause a test run can leave behind.
public let jackStartHint = " (if jackd says \"Too many servers already active\", servers killed earlier still hold "
    + "JACK's 8 registry slots: run scripts/jack-reclaim-shm, as scripts/test does)"
