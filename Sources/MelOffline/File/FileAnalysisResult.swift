// The offline driver: what an analysis reports when it is done.

import Foundation
import MelDSP
import MelFiles
import MelResample

/// What a finished file analysis wrote.
public struct FileAnalysisResult: Sendable {
    /// The `.npy` written, and its sidecar (`.json` beside it).
    public var featurePath: String
    public var sidecarPath: String
    /// The WAV of the analysed samples (`FileAnalysisOptions.saveAudioPath`), nil when none.
    public var audioPath: String?
    /// The array's shape in its layout: (frames, bands), (frames, channels, bands), or bands first.
    public var shape: [Int]
    /// Frames (rows of the frames-first array) written.
    public var frames: Int
    /// The rate the analysis ran at, and the input's own, in Hz.
    public var analysisRate: Double
    public var inputRate: Double
    /// The resampler used, nil when the input was at the analysis rate.
    public var resampler: ResamplerQuality?
    /// Seconds of audio read: the input's samples per channel over its own rate.
    public var audioSeconds: Double
    /// The resolved configuration.
    public var configuration: MelConfiguration
    /// The analysis as a stream: configuration, rates, resampler, channels, clamp rule.
    public var stream: StreamDescription
    /// The sidecar written.
    public var sidecar: FeatureSidecar
}

extension FileAnalysisResult {
    /// `meltap file`'s summary line: what was written, at which rate, from how much audio, and
    /// how fast (`seconds` of wall-clock time).
    public func report(seconds: Double) -> String {
        "Wrote \(featurePath): \(shape.map(String.init).joined(separator: " × ")) float32, "
            + "\(configuration.preset) preset, \(configuration.output.rawValue) output at \(Int(analysisRate)) Hz"
            + (resampler.map { " (resampled from \(Int(inputRate)) Hz, \($0.rawValue))" } ?? "")
            + (audioPath.map { " and the analysed audio to \($0)" } ?? "")
            + ", from \(String(format: "%.2f", audioSeconds)) s of audio in \(String(format: "%.2f", seconds)) s "
            + "(\(String(format: "%.0f", audioSeconds / max(seconds, 1e-9)))× real time)."
    }
}
