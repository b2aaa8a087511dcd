// The offline driver: what it reports while it runs.

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
