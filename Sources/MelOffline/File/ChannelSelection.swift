// The offline driver: which channels of a file are analysed, and one channel's samples
// out of an interleaved block.

import MelDSP
import MelFiles

/// Which channels of an audio file `FileAnalyzer` analyses.
public enum ChannelSelection: Sendable, Equatable {
    /// The file's only channel; a multichannel file is refused with advice (the default).
    case only
    /// One channel, 1 being the first (`--channel N`).
    case channel(Int)
    /// Every channel, in file order: rows of shape (channels, bands) (`--all-channels`).
    case all
    /// The mean of all channels, as `librosa.load(mono=True)` (`--mono`); a mono file's one channel.
    case average

    /// The 0-based channels analysed in a file of `channelCount` channels: one per output channel
    /// (`.average` gives one, the mix, listed as channel 0).
    /// - Throws: `MelConfigurationError` naming `input` and what to choose instead.
    func sources(channelCount: Int, input: String) throws -> [Int] {
        switch self {
        case .all:
            return Array(0..<channelCount)
        case .channel(let channel):
            guard channel >= 1, channel <= channelCount else {
                throw MelConfigurationError("\(input) has \(channelCount) channel(s); --channel \(channel) does not exist. Choose 1 to \(channelCount).")
            }
            return [channel - 1]
        case .average:
            return [0]
        case .only:
            guard channelCount == 1 else {
                throw MelConfigurationError("\(input) has \(channelCount) channels. Choose one with --channel N, all with --all-channels, or their average with --mono.")
            }
            return [0]
        }
    }

    /// Whether the analysed signal is a mix of several channels.
    func mixesDown(channelCount: Int) -> Bool { self == .average && channelCount > 1 }

    /// The sidecar's `channels` for a file of `channelCount` channels (numbered from 1).
    func sidecarChannels(channelCount: Int) -> [FeatureSidecar.Channel] {
        switch self {
        case .all: return (1...max(1, channelCount)).map { FeatureSidecar.Channel(channel: $0) }
        case .channel(let channel): return [FeatureSidecar.Channel(channel: channel)]
        case .average where channelCount > 1: return [FeatureSidecar.Channel(averageOf: Array(1...channelCount))]
        case .average, .only: return [FeatureSidecar.Channel(channel: 1)]
        }
    }

    /// Rows hold every channel: (channels, bands) instead of (bands).
    var keepsChannelAxis: Bool { self == .all }
}

/// One channel's samples out of a block of interleaved ones: the channel itself, or the mean of
/// all channels.
struct ChannelExtractor {
    /// Channels in the interleaved block.
    let channelCount: Int
    /// Mix every channel into one (`ChannelSelection.average` on a multichannel file).
    let mixesDown: Bool

    /// The `count` samples of channel `source` (0-based) of `interleaved`, contiguous: `interleaved`
    /// itself for a mono file, else copied (or mixed) into `scratch` (`count` samples or more).
    func samples(of source: Int, in interleaved: UnsafePointer<Float>, count: Int,
                 scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        if channelCount == 1 { return interleaved }
        if mixesDown {
            // Summed in file order, then divided: the order of the sums is part of the bits.
            let divisor = Float(channelCount)
            for i in 0..<count {
                let frameStart = interleaved + i * channelCount
                var sum: Float = 0
                for k in 0..<channelCount { sum += frameStart[k] }
                scratch[i] = sum / divisor
            }
        } else {
            for i in 0..<count { scratch[i] = interleaved[i * channelCount + source] }
        }
        return UnsafePointer(scratch)
    }
}
