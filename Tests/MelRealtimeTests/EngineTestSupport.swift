import MelDSP
import MelRealtimeEmbedded
import MelTransport
import Testing

/// The librosa preset made small (n_fft 512, hop 128, 32 bands) so that a second of audio is a
/// few hundred frames: the flag logic does not depend on the size, and tests stay fast.
func smallLibrosa(_ sampleRate: Double) -> MelConfiguration {
    var configuration = MelPreset.librosa.configuration(sampleRate: sampleRate)
    configuration.fftLength = 512
    configuration.windowLength = 512
    configuration.hopLength = 128
    configuration.melBandCount = 32
    return configuration
}

extension EmbeddedDriver.Stream {
    static func small(at rate: Double? = nil) -> Self { Self(analysisSampleRate: rate) { smallLibrosa($0) } }
}

/// What `check` found on one channel of one stream.
struct CheckReport {
    var frames = 0
    var compared = 0
    /// Sequence numbers of the frames carrying each flag.
    var xrun: Set<UInt64> = []
    var discontinuity: Set<UInt64> = []
    var gap: Set<UInt64> = []
    var restart: Set<UInt64> = []
    var reconfigured: Set<UInt64> = []
}

/// Checks every promise the engine makes about one channel's frames:
/// - values: each frame equals, bit for bit, the offline analysis of its epoch's input (a fresh
///   analyzer over everything the driver fed since the stream started);
/// - soundness (streams at the server's rate): a frame without `.xrun` and `.discontinuity` holds
///   exactly the source's samples stamped `frameTime`, `frameTime + 1`, …, none damaged;
/// - neighbours: the sequence advances by 1 unless `.gap`; the frame time by hop × steps unless
///   a timeline flag (`.discontinuity`, `.serverRestart`, `.reconfigured`) says otherwise.
@discardableResult
func check(_ driver: EmbeddedDriver, stream: Int = 0, channel: Int, soundness: Bool = true,
           sourceLocation: SourceLocation = #_sourceLocation) throws -> CheckReport {
    var report = CheckReport()
    let frames = driver.frames(stream: stream, channel: channel)
    report.frames = frames.count
    var offline: [Int: [[Float]]] = [:]
    let timeline: FrameFlags = [.discontinuity, .serverRestart, .reconfigured]
    for (k, frame) in frames.enumerated() {
        let metadata = frame.metadata
        let flags = metadata.flags
        if flags.contains(.xrun) { report.xrun.insert(metadata.sequence) }
        if flags.contains(.discontinuity) { report.discontinuity.insert(metadata.sequence) }
        if flags.contains(.gap) { report.gap.insert(metadata.sequence) }
        if flags.contains(.serverRestart) { report.restart.insert(metadata.sequence) }
        if flags.contains(.reconfigured) { report.reconfigured.insert(metadata.sequence) }
        let epoch = driver.epochs[frame.epoch]
        let configuration = epoch.configurations[stream]
        if k > 0 {
            let previous = frames[k - 1].metadata
            let steps = metadata.sequence &- previous.sequence
            #expect(steps == 1 || (flags.contains(.gap) && steps > 1),
                    "sequence \(previous.sequence) → \(metadata.sequence) (flags \(flags.rawValue))",
                    sourceLocation: sourceLocation)
            if flags.isDisjoint(with: timeline) && configuration.sampleRate == epoch.inputRate {
                #expect(metadata.frameTime - previous.frameTime == Int64(configuration.hopLength) * Int64(steps),
                        "frame time \(previous.frameTime) → \(metadata.frameTime) over \(steps) frame(s), flags \(flags.rawValue)",
                        sourceLocation: sourceLocation)
            }
        }
        guard let first = epoch.firstSequence[stream][channel] else {
            Issue.record("epoch \(frame.epoch) has no first frame", sourceLocation: sourceLocation)
            continue
        }
        let index = Int(metadata.sequence - first)
        if offline[frame.epoch] == nil {
            offline[frame.epoch] = try driver.offlineFrames(stream: stream, epoch: frame.epoch, channel: channel)
        }
        let expected = offline[frame.epoch]!
        guard index < expected.count else {
            Issue.record("frame \(metadata.sequence) is index \(index) of epoch \(frame.epoch), offline has \(expected.count)",
                         sourceLocation: sourceLocation)
            continue
        }
        report.compared += 1
        if frame.values != expected[index] {
            Issue.record(Comment(rawValue: "frame \(metadata.sequence) (epoch \(frame.epoch), index \(index)) differs "
                                 + "from offline: \(frame.values.prefix(3)) vs \(expected[index].prefix(3))"),
                         sourceLocation: sourceLocation)
        }
        // Soundness: only at the server's rate, where analysis sample = fed sample.
        guard soundness, configuration.sampleRate == epoch.inputRate, flags.isDisjoint(with: [.xrun, .discontinuity]) else { continue }
        let start = index * configuration.hopLength - configuration.leftPadding
        for offset in 0..<configuration.frameLength where start + offset >= 0 {
            let fed = start + offset
            if epoch.damaged[fed] || epoch.stamps[fed] != metadata.frameTime + Int64(offset) {
                let what = epoch.damaged[fed] ? "damaged" : "stamped \(epoch.stamps[fed]), not \(metadata.frameTime + Int64(offset))"
                Issue.record(Comment(rawValue: "frame \(metadata.sequence) carries no flag but its sample \(offset) was \(what)"),
                             sourceLocation: sourceLocation)
                break
            }
        }
    }
    return report
}

/// Indices (= sequence numbers in epoch 0) of the first `count` frames of `configuration` that
/// satisfy `condition(first, span)`: first = the frame's first analysis sample, span = its window.
func frames(_ configuration: MelConfiguration, count: Int, where condition: (Int, Int) -> Bool) -> Set<UInt64> {
    Set((0..<count).filter { index in
        condition(index * configuration.hopLength - configuration.leftPadding, configuration.frameLength)
    }.map { UInt64($0) })
}

/// Frames whose windows overlap analysis samples [from, to).
func framesOverlapping(_ from: Int, _ to: Int, configuration: MelConfiguration, count: Int) -> Set<UInt64> {
    frames(configuration, count: count) { first, span in first < to && first + span > from }
}

/// Frames whose windows hold samples on both sides of sample index `jump` (`jump − 1` and `jump`).
func framesSpanning(_ jump: Int, configuration: MelConfiguration, count: Int) -> Set<UInt64> {
    frames(configuration, count: count) { first, span in first < jump && first + span > jump }
}

/// The sequence numbers received.
func sequences(_ frames: [EmbeddedDriver.Frame]) -> Set<UInt64> { Set(frames.map(\.metadata.sequence)) }
