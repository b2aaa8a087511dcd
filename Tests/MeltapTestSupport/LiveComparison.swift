// Live frames against the offline analysis of the samples the source sent, with every check the
// flags promise between neighbours.
import Foundation
import MelDSP
import MelTransport
import MeltapClient
import Testing

/// A frame seen live: from a `--dump-frames` file or a subscriber.
public protocol LiveFrame {
    var metadata: FrameMetadata { get }
    var values: [Float] { get }
}

extension FrameDump.Frame: LiveFrame {}
extension ReceivedFrame: LiveFrame {}

/// One frame from a `meltap run --dump-frames` file.
public typealias DumpedFrame = FrameDump.Frame

/// A `meltap run --dump-frames` file, read with MelTransport's codec.
public struct DumpFile {
    public var width: Int
    public var channels: Int
    public var sampleRate: Double
    public var frames: [DumpedFrame]

    public init(path: String) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        do {
            let (header, frames) = try FrameDump.decode(bytes)
            (width, channels, sampleRate, self.frames) = (header.width, header.channelCount, header.sampleRate, frames)
        } catch {
            throw HarnessError("\(path): \(error)")
        }
    }

    public func frames(channel: Int) -> [DumpedFrame] { frames.filter { $0.metadata.channel == UInt32(channel) } }
}

/// The configuration `meltap run --preset librosa` uses.
public func librosaConfiguration(sampleRate: Double = 48000) -> MelConfiguration {
    MelPreset.librosa.configuration(sampleRate: sampleRate)
}

/// Compares one channel's live frames with offline frames computed from the samples the source
/// recorded at the same JACK frame times. Every live frame without a flag whose n_fft samples are
/// all known is recomputed from exactly those samples (frame-local: valid for outputs without
/// state across frames, like the librosa preset's power) and must be identical in every bit.
/// Flagged frames are skipped, exactly those: `.xrun` and `.discontinuity` say the window's
/// samples are not (or not at those times) what the source sent; `.gap`, `.serverRestart` and
/// `.reconfigured` mark a stream boundary.
/// Also checks the flags' promises between neighbours: the sequence number advances by 1 unless
/// the frame carries `.gap`, and frame time advances by hop_length per sequence step unless it
/// carries `.discontinuity` (or `.serverRestart` / `.reconfigured`, which come with it).
/// `silenceBefore` / `silenceAfter`: the source played zeros before / after its record.
/// Returns the number of frames compared; records an issue for each mismatch.
@discardableResult
public func compareLiveWithOffline<Frame: LiveFrame>(
    live: [Frame], record: SourceRecord, recordChannel: Int, silenceBefore: Bool, silenceAfter: Bool,
    configuration: MelConfiguration, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
    guard !live.isEmpty else {
        Issue.record("no live frames on this channel", sourceLocation: sourceLocation)
        return 0
    }
    let analyzer = try MelAnalyzer(configuration: configuration, clampRule: .running)
    let fftLength = configuration.fftLength
    let flagged: FrameFlags = [.gap, .serverRestart, .reconfigured, .xrun, .discontinuity]
    let timeline: FrameFlags = [.discontinuity, .serverRestart, .reconfigured]
    var skippedXrun = 0, skippedDiscontinuity = 0
    var compared = 0
    var mismatches = 0
    for (k, frame) in live.enumerated() {
        if k > 0 {
            let previous = live[k - 1].metadata
            #expect(frame.metadata.channel == previous.channel,
                    "frames of channels \(previous.channel) and \(frame.metadata.channel) mixed in one comparison",
                    sourceLocation: sourceLocation)
            let steps = frame.metadata.sequence &- previous.sequence
            #expect(steps == 1 || (frame.metadata.flags.contains(.gap) && steps > 1 && steps < 1 << 32),
                    "sequence \(previous.sequence) → \(frame.metadata.sequence) (flags \(frame.metadata.flags.rawValue))",
                    sourceLocation: sourceLocation)
            if frame.metadata.flags.isDisjoint(with: timeline) {
                #expect(frame.metadata.frameTime - previous.frameTime == Int64(configuration.hopLength) * Int64(steps),
                        Comment(rawValue: "frame time \(previous.frameTime) → \(frame.metadata.frameTime) over "
                                + "\(steps) frame(s) without .discontinuity"), sourceLocation: sourceLocation)
            }
        }
        if frame.metadata.flags.contains(.xrun) { skippedXrun += 1 }
        if frame.metadata.flags.contains(.discontinuity) { skippedDiscontinuity += 1 }
        guard frame.metadata.flags.isDisjoint(with: flagged) else { continue }
        guard let window = record.window(channel: recordChannel, from: frame.metadata.frameTime, count: fftLength,
                                         silenceBefore: silenceBefore, silenceAfter: silenceAfter),
              window.contains(where: { $0 != 0 }) else { continue }
        compared += 1
        let expected = try offlineFrame(window: window, analyzer: analyzer)
        if frame.values != expected {
            mismatches += 1
            if ProcessInfo.processInfo.environment["MELTAP_TEST_KEEP"] != nil {
                print("MISMATCH seq \(frame.metadata.sequence) time \(frame.metadata.frameTime) flags \(frame.metadata.flags.rawValue)")
            }
            if mismatches <= 3 {
                let worst = zip(frame.values, expected).map { abs($0 - $1) }.max() ?? 0
                let message = "frame \(frame.metadata.sequence) (time \(frame.metadata.frameTime)) differs: live "
                    + "\(frame.values.prefix(3)), offline \(expected.prefix(3)), max |Δ| \(worst)"
                Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
            }
        }
    }
    #expect(mismatches == 0, "\(mismatches) of \(compared) frames differ", sourceLocation: sourceLocation)
    print("FLAGS: skipped \(skippedXrun) .xrun and \(skippedDiscontinuity) .discontinuity frames of \(live.count); compared \(compared)")
    return compared
}
