import Foundation
import Glibc
import MelFiles
import MelTransport
import MeltapClient
import MelSystem

/// Writes a subscriber's frames to a growing `.npy` and keeps the sidecar's facts.
///
/// Rows: with one channel, each frame is a row. With several, frames wait in `pending` (by
/// sequence) until every recorded channel has delivered that sequence; complete rows go out in
/// sequence order and incomplete rows older than a written one are dropped. Before row 0 that
/// happens when the recorder joined the stream between the channels of one sequence (nothing is
/// lost: the recording starts at row 0, `start`); after it, only when a channel lost frames
/// (recorded in `gaps`).
///
/// Flags: a sequence jump on a channel is a gap (`.gap` comes with every jump; on a channel's
/// first frame it speaks of frames lost before the recording, which leave no hole in the file).
/// `.xrun` and `.discontinuity` lose nothing: their frames are written, and the rows holding
/// them are listed in `xruns` and `discontinuities`.
public final class Recorder {
    public let path: String
    public let sidecarPath: String
    public let socketPath: String
    public let header: StreamHeader
    /// Recorded channel indices (0-based), in file order.
    public let channels: [Int]
    public let writer: NpyWriter
    /// The sidecar's fixed part (stream, channels, configuration); `recording` and `rows` are
    /// added on each write by `writeSidecar`.
    private let sidecar: FeatureSidecar
    /// The sidecar's `recording` section as it grows: start, end, gaps, flagged rows.
    private var recording = FeatureSidecar.Recording()
    /// Per recorded channel position: the last sequence received.
    private var lastSequence: [UInt64?]
    /// Multi-channel rows in assembly, by sequence.
    private var pending: [UInt64: PendingRow] = [:]
    private var nextRowSequence: UInt64?
    private var framesReceived = 0
    private let bandCount: Int
    /// Writes "\rmeltap: recording …" status lines to standard error (a terminal) at most 4 times a second.
    private let showsStatus: Bool

    /// Creates the `.npy` and the sidecar (refusing existing files unless `existing` is `.replace`).
    /// - Parameters:
    ///   - channels: the recorded channels, 0-based, in file order; each below `header.channelCount`.
    ///   - showsStatus: print a status line on standard error while recording (only if it is a terminal).
    /// - Throws: `FeatureFileError` saying what to do; nothing is left behind.
    public init(path: String, socketPath: String, header: StreamHeader, channels: [Int], existing: ExistingOutput,
                showsStatus: Bool = true) throws {
        self.path = path
        self.showsStatus = showsStatus && isatty(STDERR_FILENO) == 1
        self.socketPath = socketPath
        self.header = header
        self.channels = channels
        sidecarPath = Sidecar.path(forFeatureFile: path)
        bandCount = Int(header.bandCount)
        let trailing = channels.count == 1 ? [bandCount] : [channels.count, bandCount]
        sidecar = try Self.sidecar(header: header, socketPath: socketPath, channels: channels, rowShape: trailing)
        writer = try NpyWriter(path: path, trailingShape: trailing, mode: .growing, existing: existing)
        lastSequence = Array(repeating: nil, count: channels.count)
        do {
            try writeSidecar(rows: nil, existing: existing)
        } catch {
            writer.remove()  // the empty file this init just created
            throw error
        }
    }

    /// Records until `StopSignal.requested`, `duration` seconds, or the end of the stream; finishes
    /// the file and its sidecar.
    /// - Throws: `PipelineError` saying what happened and what the file holds, on a write error
    ///   (the rows written so far stay loadable) or a changed band count.
    @discardableResult
    public func record(from subscriber: MeltapSubscriber, duration: Double?) throws -> Summary {
        let started = monotonicNow()
        var lastPatch = started
        var lastStatus = 0.0
        var stopReason = "interrupted"
        func status(_ final: Bool = false) {
            guard showsStatus else { return }
            let now = monotonicNow()
            guard final || now - lastStatus >= 0.25 else { return }
            lastStatus = now
            let text = String(format: "\rmeltap: recording %@: %.1f s, %d frames, %d rows, %d gaps, %d xrun ranges\u{1B}[K",
                              path, now - started, framesReceived, writer.rowCount, recording.gaps.count, recording.xruns.count)
            FileHandle.standardError.write(Data(text.utf8))
            if final { FileHandle.standardError.write(Data("\n".utf8)) }
        }
        do {
            loop: while true {
                if StopSignal.requested { stopReason = "interrupted"; break }
                if let duration, monotonicNow() - started >= duration { stopReason = "duration"; break }
                let event: SubscriberEvent?
                do {
                    event = try subscriber.nextEvent()
                } catch let error as MeltapClientError where error.code == .timedOut {
                    event = .stats(subscriber.latestStats ?? StreamStats())  // nothing arrived: fall through to the patch
                }
                switch event {
                case nil:
                    stopReason = "stream ended"
                    FileHandle.standardError.write(Data("meltap: the server at \(socketPath) closed the stream; finishing \(path).\n".utf8))
                    break loop
                case .header(let newHeader):
                    if newHeader.bandCount != header.bandCount {
                        finishQuietly(reason: "band count changed")
                        throw PipelineError("the stream's band count changed from \(header.bandCount) to "
                                                + "\(newHeader.bandCount) (reconfigured); \(path) holds the frames before "
                                                + "the change. Start a new recording for the new configuration.")
                    }
                    recording.reconfigurations.append(.init(sampleRate: newHeader.sampleRate, frameRate: newHeader.frameRate,
                                                          atRow: writer.rowCount))
                case .frame(let frame):
                    try accept(frame)
                case .stats:
                    break
                }
                let now = monotonicNow()
                if now - lastPatch >= 0.5 {
                    try writer.patchHeader()
                    lastPatch = now
                }
                status()
            }
            let rows = try writer.finish()
            status(true)
            recording.end = .init(framesReceived: framesReceived, wallClock: isoNow(), reason: stopReason)
            try writeSidecar(rows: rows, existing: .replace)
            return Summary(rows: rows, framesReceived: framesReceived, gapCount: recording.gaps.count, stopReason: stopReason)
        } catch let error as FeatureFileError {
            status(true)
            writer.discard()  // growing mode: keeps the loadable rows
            recording.end = .init(framesReceived: framesReceived, wallClock: isoNow(),
                                  reason: "write error: \(error.message)")
            try? writeSidecar(rows: writer.patchedRowCount, existing: .replace)
            throw PipelineError(error.message)
        }
    }

    /// What a finished recording holds.
    public struct Summary: Sendable {
        /// Rows in the `.npy`.
        public var rows: Int
        /// Frames received for the recorded channels (a multi-channel row holds several).
        public var framesReceived: Int
        /// Sequence jumps: frames a channel lost while recording.
        public var gapCount: Int
        /// "interrupted", "duration" or "stream ended".
        public var stopReason: String
    }

    private func finishQuietly(reason: String) {
        let rows = (try? writer.finish()) ?? writer.patchedRowCount
        recording.end = .init(framesReceived: framesReceived, wallClock: isoNow(), reason: reason)
        try? writeSidecar(rows: rows, existing: .replace)
    }

    /// Writes the sidecar with the recording so far; `rows` once the file is finished.
    private func writeSidecar(rows: Int?, existing: ExistingOutput) throws {
        var current = sidecar
        current.rows = rows
        current.recording = recording
        try current.write(to: sidecarPath, existing: existing)
    }

    /// The sidecar's fixed part for `header`: the stream's configuration JSON split into the
    /// configuration proper and the input rate and resampler `meltap run` puts beside it.
    /// - Throws: `FeatureFileError` when the configuration JSON is not an object (a server this
    ///   version cannot describe), before any file is created.
    public static func sidecar(header: StreamHeader, socketPath: String, channels: [Int], rowShape: [Int]) throws -> FeatureSidecar {
        guard let configuration = try? JSONValue(json: header.configurationJSON), configuration.objectValue != nil else {
            throw FeatureFileError(message: "The stream at \(socketPath) describes its configuration in a form this meltap "
                                   + "cannot read (not a JSON object), so a recording could not say how its frames were "
                                   + "made. Record with the meltap version that serves the stream.")
        }
        let split = FeatureSidecar.splitStreamConfiguration(configuration)
        return FeatureSidecar(
            kind: .recording, meltapVersion: meltapVersion, rowShape: rowShape, rows: nil,
            sampleRate: header.sampleRate, inputSampleRate: split.inputSampleRate ?? header.sampleRate,
            resampler: split.resampler.map { .init(name: $0) }, frameRate: header.frameRate, firstSampleOfFrame0: nil,
            clamp: header.clampRule,
            channels: channels.map { index in
                let info = index < header.channels.count ? header.channels[index] : ChannelInfo(name: "in_\(index + 1)")
                return .init(channel: index + 1, port: info.name, source: info.source.isEmpty ? nil : info.source)
            },
            configuration: split.configuration,
            stream: .init(socket: socketPath, latencySamples: Int(header.latencySamples), channelCount: header.channelCount),
            recording: FeatureSidecar.Recording())
    }

    private func accept(_ frame: ReceivedFrame) throws {
        let metadata = frame.metadata
        guard let position = channels.firstIndex(of: Int(metadata.channel)) else { return }
        guard frame.values.count == bandCount else { return }  // cannot happen after a matching header
        framesReceived += 1
        // Lost frames show as a sequence jump (the frame after them also carries `.gap`). A
        // channel's first frame has nothing to jump from: frames lost before the recording are
        // no hole in the file, whatever its flags say.
        if let previous = lastSequence[position], metadata.sequence > previous + 1 {
            recording.gaps.append(.init(channel: Int(metadata.channel) + 1, fromSequence: previous + 1,
                                      toSequence: metadata.sequence, flags: metadata.flags.rawValue,
                                      atRow: writer.rowCount))
        }
        lastSequence[position] = metadata.sequence

        if channels.count == 1 {
            try appendRow(frame.values, sequence: metadata.sequence, frameTime: metadata.frameTime,
                          flags: [metadata.flags])
            return
        }
        if let next = nextRowSequence, metadata.sequence < next { return }  // its row is gone already
        var entry = pending[metadata.sequence] ?? PendingRow(channelCount: channels.count, bandCount: bandCount)
        entry.values.replaceSubrange(position * bandCount ..< (position + 1) * bandCount, with: frame.values)
        entry.flags[position] = metadata.flags
        if position == 0 { entry.frameTime = metadata.frameTime }
        entry.filled.insert(position)
        if entry.filled.count < channels.count {
            pending[metadata.sequence] = entry
            // Bound the wait (a channel that stopped delivering): keep about 10 s of rows.
            let limit = max(64, Int(header.frameRate * 10))
            if pending.count > limit, let oldest = pending.keys.min() { pending[oldest] = nil }
            return
        }
        pending[metadata.sequence] = nil
        // Rows before this one can no longer complete in order: drop them. Before row 0 they are
        // rows the recorder joined halfway (a channel's frame went out before it connected);
        // after it, rows of a channel's gap, already in `gaps`.
        for sequence in pending.keys where sequence < metadata.sequence { pending[sequence] = nil }
        nextRowSequence = metadata.sequence + 1
        try appendRow(entry.values, sequence: metadata.sequence, frameTime: entry.frameTime, flags: entry.flags)
    }

    /// Writes one row (frame `sequence` of every recorded channel, `flags` per file position);
    /// row 0 fixes the sidecar's `start`, flagged frames extend `xruns` and `discontinuities`.
    private func appendRow(_ values: [Float], sequence: UInt64, frameTime: Int64?, flags: [FrameFlags]) throws {
        let row = writer.rowCount
        try writer.appendRows(values)
        for (position, frameFlags) in flags.enumerated() {
            let channel = channels[position] + 1
            if frameFlags.contains(.xrun) {
                FeatureSidecar.Recording.extend(&recording.xruns, channel: channel, row: row, sequence: sequence)
            }
            if frameFlags.contains(.discontinuity) {
                FeatureSidecar.Recording.extend(&recording.discontinuities, channel: channel, row: row, sequence: sequence)
            }
        }
        if recording.start == nil {
            recording.start = .init(jackFrameTime: frameTime ?? 0, sequence: sequence, wallClock: isoNow())
            try writeSidecar(rows: nil, existing: .replace)
        }
    }
}

/// A multi-channel row waiting for the rest of its channels.
private struct PendingRow {
    /// `[channels × bands]`, channel-major in file order.
    var values: [Float]
    /// Each file position's frame flags.
    var flags: [FrameFlags]
    /// File positions that have delivered their frame.
    var filled: Set<Int> = []
    /// JACK frame time of the first recorded channel's frame (file position 0).
    var frameTime: Int64?

    init(channelCount: Int, bandCount: Int) {
        values = [Float](repeating: 0, count: channelCount * bandCount)
        flags = [FrameFlags](repeating: [], count: channelCount)
    }
}
