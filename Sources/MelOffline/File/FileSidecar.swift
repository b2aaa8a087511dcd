// The offline driver: the sidecar a file analysis writes, and how an existing one differs
// from what these options would write (dataset mode's resume check).

import Foundation
import MelDSP
import MelFiles
import MelResample

extension FeatureSidecar {
    /// The sidecar of a file analysis (`kind: file`): everything needed to read the `.npy` and to
    /// reproduce it.
    /// - Parameters:
    ///   - stream: the analysis (rates, resampler, clamp rule) as the file driver describes it.
    ///   - rowShape: one row's shape, (bands) or (channels, bands); `frames` rows were written.
    ///   - configurationJSON: `stream.configuration` encoded, as the sidecar stores it.
    ///   - sampleFrames: samples per channel read from `reader`.
    static func fileAnalysis(stream: StreamDescription, options: FileAnalysisOptions, input: String,
                             reader: AudioFileReader, sampleFrames: Int64, configurationJSON: JSONValue,
                             rowShape: [Int], frames: Int) -> FeatureSidecar {
        FeatureSidecar(
            kind: .file, meltapVersion: MelOffline.meltapVersion, rowShape: rowShape, rows: frames,
            sampleRate: stream.sampleRate, inputSampleRate: stream.inputSampleRate,
            resampler: stream.resampler.map {
                .init(name: $0, library: ResamplerQuality(rawValue: $0)?.libraryVersion,
                      lookaheadInputSamples: stream.resamplerLookahead)
            },
            frameRate: stream.configuration.frameRate, firstSampleOfFrame0: -stream.configuration.leftPadding,
            clamp: stream.clampRule.userName, channels: options.channels.sidecarChannels(channelCount: reader.channelCount),
            configuration: configurationJSON,
            file: .init(path: URL(fileURLWithPath: input).standardizedFileURL.path,
                        format: reader.formatDescription, channelCount: reader.channelCount, sampleFrames: sampleFrames),
            axisOrder: options.layout)
    }
}

extension FileAnalysisOptions {
    /// What differs between these options and those an existing sidecar records, in words; nil
    /// when they are the same (the configuration at the sidecar's input rate, the clamp rule, the
    /// channels, the axis order and the resampler).
    public func difference(from sidecar: FeatureSidecar) -> String? {
        let analysisRate = analysisRate(inputRate: sidecar.inputSampleRate)
        guard let configuration = try? configuration(analysisRate: analysisRate),
              let expected = try? JSONValue(encoding: configuration) else {
            return "this run's configuration cannot be resolved for \(Int(sidecar.inputSampleRate)) Hz"
        }
        var differences: [String] = []
        if expected != sidecar.configuration {
            let old = sidecar.configuration.objectValue ?? [:], new = expected.objectValue ?? [:]
            // The preset first: it explains the rest.
            let keys = Set(old.keys).union(new.keys).sorted { ($0 == "preset" ? 0 : 1, $0) < ($1 == "preset" ? 0 : 1, $1) }
                .filter { old[$0] != new[$0] }
            differences += keys.prefix(4).map { "\($0) \(Self.text(old[$0])) then, \(Self.text(new[$0])) now" }
        }
        if sidecar.clamp != clamp.userName { differences.append("clamp \(sidecar.clamp) then, \(clamp.userName) now") }
        if sidecar.channels != channels.sidecarChannels(channelCount: sidecar.file?.channelCount ?? 1) {
            differences.append("other channels")
        }
        let axisOrder = sidecar.axisOrder ?? .framesFirst
        if axisOrder != layout { differences.append("--layout \(axisOrder.rawValue) then, \(layout.rawValue) now") }
        if (sidecar.resampler != nil) != (analysisRate != sidecar.inputSampleRate)
            || (sidecar.resampler != nil && sidecar.resampler?.name != resampler.rawValue) {
            differences.append("another resampler")
        }
        return differences.isEmpty ? nil : differences.joined(separator: "; ")
    }

    /// A sidecar value in a few words.
    private static func text(_ value: JSONValue?) -> String {
        switch value {
        case nil, .null?: return "absent"
        case .bool(let b)?: return "\(b)"
        case .number(let n)?: return n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : "\(n)"
        case .string(let s)?: return s
        default: return "(a structure)"
        }
    }
}
