// The offline driver, part 6: what it reports while it runs.

import MelDSP
import MelFiles
import MelResample

/// Receives a file analysis's progress, on the thread that runs it. `meltap file` draws a bar on
/// a terminal with it; a program that embeds the driver may show its own.
public protocol FileAnalysisProgress: AnyObject {
    /// Reading begins: the input holds `totalSamples` samples per channel (from its header; 0 or
    /// less when unknown) at `sampleRate` Hz.
    func started(totalSamples: Int64, sampleRate: Double)
    /// `samplesRead` samples per channel have been read and analysed so far (after every block).
    func advanced(samplesRead: Int64)
    /// The input has been read to its end and analysed; only writing the outputs remains.
    func finished()
}

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
