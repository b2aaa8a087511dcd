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
    private(set) var keptRows: [Float] = []

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
        if keepsRows, let expectedFrames {
            keptRows = RowWriter.reservedRows(capacity: (expectedFrames + 4) * frameWidth * channelCount)
        }
    }

    /// An empty array with room for `capacity` values. From 4 MiB on, its pages are advised as
    /// transparent huge pages (madvise(2), `MADV_HUGEPAGE`; the kernel's default mode is
    /// `madvise`): a 600 s Whisper file keeps 19 MB of rows, and first touching them 4 KiB at a
    /// time was about 4 100 page faults, 11 % of `meltap file`'s CPU time in a KVM guest (task
    /// clock 85.0 → 75.5 ms, docs/performance.md).
    /// Advice only: where the kernel gives no huge pages, nothing changes.
    static func reservedRows(capacity: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            initialized = 0
            let bytes = buffer.count * MemoryLayout<Float>.stride
            guard bytes >= 4 << 20, let base = buffer.baseAddress else { return }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let start = (Int(bitPattern: base) + page - 1) / page * page
            let end = (Int(bitPattern: base) + bytes) / page * page
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE)
        }
    }

    /// The shape of the array for `frames` rows in this layout.
    func shape(frames: Int) -> [Int] { layout.shape(frames: frames, rowShape: trailingShape) }

    /// The shape of one row: (bands) or (channels, bands).
    var rowShape: [Int] { trailingShape }

    /// Writes (or keeps) whole rows, row-major.
    func append(_ rows: [Float]) throws {
        if keepsRows { keptRows.append(contentsOf: rows) } else { try writer?.appendRows(rows) }
    }

    /// Writes the kept rows, finished and arranged, and renames the file into place; in memory,
    /// leaves them finished and arranged in `keptRows`.
    /// - Returns: the frames written.
    func finish() throws -> Int {
        if keepsRows {
            finishKeptRows()
            let frames = keptRows.count / max(1, rowLength)
            if layout == .bandsFirst {
                keptRows = layout.arrange(framesFirst: keptRows, frames: frames, channels: channelCount,
                                          bands: outputWidth)
                writer?.finalShape = shape(frames: frames)
            }
            guard let writer else { return frames }
            try writer.appendRows(keptRows)  // large: straight from the array, no buffer copy
            keptRows = []
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
            finisher.finish(inPlace: &keptRows)
            return
        }
        let rowsCount = keptRows.count / (frameWidth * channelCount)
        var rows = [Float](repeating: 0, count: rowsCount * outputWidth * channelCount)
        for c in 0..<channelCount {
            var single = [Float](); single.reserveCapacity(rowsCount * frameWidth)
            for t in 0..<rowsCount {
                let base = (t * channelCount + c) * frameWidth
                single.append(contentsOf: keptRows[base..<(base + frameWidth)])
            }
            let done = finisher.finish(single)
            for t in 0..<rowsCount {
                let target = (t * channelCount + c) * outputWidth
                rows.replaceSubrange(target..<(target + outputWidth),
                                     with: done[(t * outputWidth)..<((t + 1) * outputWidth)])
            }
        }
        keptRows = rows
    }
}
