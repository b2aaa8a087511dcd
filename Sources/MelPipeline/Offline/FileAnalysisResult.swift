// The offline driver: what an analysis reports when it is done.

import MelDSP
import MelFiles
import MelResample

/// What a finished file analysis wrote.
public struct FileAnalysisResult: Sendable {
    /// The `.npy` written, and its sidecar (`.json` beside it).
    public var featurePath: String
    public var sidecarPath: String
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
    /// The sidecar written.
    public var sidecar: FeatureSidecar
}
