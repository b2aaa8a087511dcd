// The offline driver: rows into the .npy, written as they come or kept for the end.

import Glibc
import MelDSP
import MelFiles

/// Writes a file analysis's rows into its `.npy` (atomically: a temporary file renamed by
/// `finish()`), or keeps them in memory (no path: `FileAnalyzer.analyse(samples:…)`).
///
/// Rows go straight to the file unless the whole file is needed first: the deferred clamp
/// (`OfflineFinisher`: top_db, Whisper's clamp, dB references at the file's maximum) and the
/// bands-first layout (written transposed) keep every row until `finish()`.
///
/// Ownership: owns its `NpyWriter`; call `finish()` on success or `discard()` otherwise.
final class RowWriter {
    /// nil in memory: every row is kept, and `keptRows` is the result after `finish()`.
    private let writer: NpyWriter?
    /// Values per row in the file: `trailingShape`'s product.
    private let rowLength: Int
    /// Channels per row.
    private let channelCount: Int
    /// Values per frame as analysed (with the deferred MFCC: the dB bands, `OfflineFinisher`).
    private let frameWidth: Int
    /// Values per frame in the file (`MelConfiguration.frameWidth`).
    private let outputWidth: Int
    /// Per row shape, without the frame axis: (bands) or (channels, bands).
    private let trailingShape: [Int]
    private let layout: FeatureAxisOrder
    /// Applies the global clamp at the end; nil when the clamp needs nothing of the whole file.
    private let finisher: OfflineFinisher?
    /// Whether rows are kept until `finish()`.
    private let keepsRows: Bool
    /// Every row so far when `keepsRows`, row-major, `frameWidth` values per channel; in memory,
    /// after `finish()`, the finished array in its layout.
    let keptRows: KeptRows

    /// - Parameters:
    ///   - path: the `.npy` to write, or nil to keep the array in memory (`keptRows`).
    ///   - expectedFrames: the frames the input's header promises, to size the kept rows up front
    ///     (a wrong guess only costs a regrowth); nil when unknown.
    /// - Throws: what `NpyWriter` throws when the file cannot be created.
    init(path: String?, existing: ExistingOutput, configuration: MelConfiguration, clamp: ClampRule,
         layout: FeatureAxisOrder, channelCount: Int, keepsChannelAxis: Bool, frameWidth: Int,
         expectedFrames: Int?) throws {
        self.channelCount = channelCount
        self.frameWidth = frameWidth
        self.outputWidth = configuration.frameWidth
        self.layout = layout
        trailingShape = keepsChannelAxis ? [channelCount, outputWidth] : [outputWidth]
        finisher = clamp == .deferred && OfflineFinisher.isNeeded(configuration)
            ? OfflineFinisher(configuration: configuration) : nil
        rowLength = trailingShape.reduce(1, *)
        keepsRows = path == nil || finisher != nil || layout == .bandsFirst
        let rowShape = trailingShape
        writer = try path.map { try NpyWriter(path: $0, trailingShape: rowShape, mode: .atomic, existing: existing) }
        keptRows = KeptRows(reserving: keepsRows ? ((expectedFrames ?? 0) + 4) * frameWidth * channelCount : 0)
    }

    /// The shape of the array for `frames` rows in this layout.
    func shape(frames: Int) -> [Int] { layout.shape(frames: frames, rowShape: trailingShape) }

    /// The shape of one row: (bands) or (channels, bands).
    var rowShape: [Int] { trailingShape }

    /// The kept rows when every row is kept, so that one channel's frames can be written there
    /// in place (`KeptRows.nextRow`); nil when rows go to the file as they come.
    var rowsInPlace: KeptRows? { keepsRows ? keptRows : nil }

    /// Writes (or keeps) whole rows, row-major.
    func append(_ rows: [Float]) throws {
        if keepsRows { rows.withUnsafeBufferPointer { keptRows.append($0) } } else { try writer?.appendRows(rows) }
    }

    /// Writes the kept rows, finished and arranged, and renames the file into place; in memory,
    /// leaves them finished and arranged in `keptRows`.
    /// - Returns: the frames written.
    func finish() throws -> Int {
        if keepsRows {
            finishKeptRows()
            let frames = keptRows.count / max(1, rowLength)
            if layout == .bandsFirst {
                keptRows.replace(with: layout.arrange(framesFirst: keptRows.array, frames: frames,
                                                      channels: channelCount, bands: outputWidth))
                writer?.finalShape = shape(frames: frames)
            }
            guard let writer else { return frames }
            try writer.appendRows(UnsafeBufferPointer(keptRows.values))  // large: no buffer copy
            keptRows.truncate(to: 0)
        }
        guard let writer else { return 0 }  // unreachable: without a file every row is kept
        return try writer.finish()  // frames: every layout appends rows of one frame's size
    }

    /// Removes the temporary file; nothing is left of this output.
    func discard() { writer?.discard() }

    /// Applies the global clamp to the kept rows. Channels are finished separately: the
    /// reference clamps each signal at its own maximum.
    private func finishKeptRows() {
        guard let finisher else { return }
        if channelCount == 1 {  // the rows are that channel's frames already
            keptRows.truncate(to: finisher.finish(inPlace: keptRows.values))
            return
        }
        let kept = keptRows.values
        let rowsCount = kept.count / (frameWidth * channelCount)
        var rows = [Float](repeating: 0, count: rowsCount * outputWidth * channelCount)
        for c in 0..<channelCount {
            var single = [Float](); single.reserveCapacity(rowsCount * frameWidth)
            for t in 0..<rowsCount {
                let base = (t * channelCount + c) * frameWidth
                single.append(contentsOf: kept[base..<(base + frameWidth)])
            }
            let done = finisher.finish(single)
            for t in 0..<rowsCount {
                let target = (t * channelCount + c) * outputWidth
                rows.replaceSubrange(target..<(target + outputWidth),
                                     with: done[(t * outputWidth)..<((t + 1) * outputWidth)])
            }
        }
        keptRows.replace(with: rows)
    }
}
