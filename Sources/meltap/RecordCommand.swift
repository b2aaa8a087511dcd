import ArgumentParser
import Foundation
import Glibc
import MelFiles
import MelServer
import MeltapClient
import Synchronization

/// `meltap record`: subscribes to a running `meltap run` and writes its frames to a growing .npy
/// file (crash-safe: loadable at any moment) with a JSON sidecar.
struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record the frames a running `meltap run` publishes to a .npy file.",
        discussion: """
            meltap record connects to the socket of a running `meltap run` and appends every frame to OUT.npy \
            as it arrives. The file is written in place and its header is updated at least once a second, so \
            numpy.load reads it at any moment, even after the recorder is killed (all but at most the last \
            second are kept). Ctrl-C or SIGTERM, or the end of --duration, finishes the file cleanly.

            Shapes: one recorded channel gives (frames, bands). Several give (frames, channels, bands): a row \
            holds one frame sequence of every recorded channel, in the order given to --channels, and is written \
            only once every recorded channel has delivered its frame for that sequence. Row 0 is the first \
            sequence every recorded channel delivered; after it, rows are consecutive sequences except where a \
            channel lost frames (such rows are left out and listed in the sidecar's gaps).

            Beside OUT.npy, OUT.json describes the recording: the stream header (sample rate, hop length, the \
            full configuration), the sequence, JACK frame time and wall-clock time of row 0, every gap (frames a \
            channel lost: sequence jumps), and the rows whose frames are flagged xrun (window overlaps an xrun) \
            or discontinuity (the input timeline jumps inside the window). It is written when recording starts, \
            when row 0 is written, and at the end.

            Example:
              meltap record --socket /run/user/1000/meltap/meltap.sock -o take1.npy --duration 60
            """)

    @Option(help: ArgumentHelp(
        "The socket `meltap run` publishes on (it prints it at start). Without it, the default path for the client name meltap.",
        valueName: "path"))
    var socket: String?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The .npy file to write; the sidecar goes beside it with .json.", valueName: "path"))
    var output: String

    @Option(help: "Stop after this many seconds instead of waiting for Ctrl-C.")
    var duration: Double?

    @Flag(help: "Replace an output file (the .npy or its .json sidecar) that already exists. Without it, meltap refuses to overwrite anything. A symbolic link at an output path is refused either way: meltap never writes through links.")
    var force = false

    @Option(help: ArgumentHelp(
        "The channels to record, 1 being the first input port (in_1), separated by commas, e.g. 1,2. Without it, every channel of the stream.",
        valueName: "list"))
    var channels: String?

    func validate() throws {
        if !output.hasSuffix(".npy") {
            throw ValidationError("Please give an output path ending in .npy (a NumPy array file); got '\(output)'.")
        }
        if let duration, duration <= 0 { throw ValidationError("Please give a positive --duration in seconds.") }
        _ = try parsedChannels()
    }

    /// The requested channels as 0-based indices, or nil for all.
    func parsedChannels() throws -> [Int]? {
        guard let channels else { return nil }
        var result: [Int] = []
        for part in channels.split(separator: ",", omittingEmptySubsequences: false) {
            guard let number = Int(part.trimmingCharacters(in: .whitespaces)), number >= 1 else {
                throw ValidationError("Please give --channels as numbers from 1 separated by commas, e.g. 1,2; got '\(channels)'.")
            }
            guard !result.contains(number - 1) else {
                throw ValidationError("Channel \(number) appears twice in --channels '\(channels)'.")
            }
            result.append(number - 1)
        }
        return result
    }

    func run() throws {
        LiveStop.install()
        let existing: ExistingOutput = force ? .replace : .refuse
        do {
            try OutputPath.check(output, existing: existing)  // before connecting: a refusal costs nothing
            try OutputPath.check(Sidecar.path(forFeatureFile: output), existing: existing)
        } catch let error as FeatureFileError {
            throw CleanExit.failure(error.message)
        }
        let socketPath: String
        do {
            socketPath = try socket ?? FramePublisher.defaultSocketPath(clientName: "meltap")
        } catch {
            throw CleanExit.failure("\(error)")
        }
        let wanted = try parsedChannels()
        let subscriber: MeltapSubscriber
        do {
            subscriber = try MeltapSubscriber(socketPath: socketPath, channels: wanted, receiveTimeout: .milliseconds(200))
        } catch {
            throw CleanExit.failure("\(error)")
        }
        let header = subscriber.header
        let recorded = wanted ?? Array(0..<header.channelCount)
        if let missing = recorded.first(where: { $0 >= header.channelCount }) {
            throw CleanExit.failure("channel \(missing + 1) does not exist: the stream at \(socketPath) has "
                                    + "\(header.channelCount) channel(s). Give --channels between 1 and \(header.channelCount).")
        }
        let recorder: Recorder
        do {
            recorder = try Recorder(path: output, socketPath: socketPath, header: header, channels: recorded,
                                    existing: existing)
        } catch let error as FeatureFileError {
            throw CleanExit.failure(error.message)
        }
        try recorder.record(from: subscriber, duration: duration)
    }
}

// MARK: Recorder

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
final class Recorder {
    let path: String
    let sidecarPath: String
    let socketPath: String
    let header: StreamHeader
    /// Recorded channel indices (0-based), in file order.
    let channels: [Int]
    let writer: NpyWriter
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
    private let isTerminal = isatty(STDERR_FILENO) == 1

    init(path: String, socketPath: String, header: StreamHeader, channels: [Int], existing: ExistingOutput) throws {
        self.path = path
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

    /// Records until a stop signal, `duration` seconds, or the end of the stream; finishes the
    /// file. Throws `ExitCode.failure` (after saying why) on a write error or a changed band count.
    func record(from subscriber: MeltapSubscriber, duration: Double?) throws {
        let started = monotonicNow()
        var lastPatch = started
        var lastStatus = 0.0
        var stopReason = "interrupted"
        func status(_ final: Bool = false) {
            guard isTerminal else { return }
            let now = monotonicNow()
            guard final || now - lastStatus >= 0.25 else { return }
            lastStatus = now
            let text = String(format: "\rmeltap: recording %@: %.1f s, %d frames, %d rows, %d gaps, %d xrun ranges\u{1B}[K",
                              path, now - started, framesReceived, writer.rowCount, recording.gaps.count, recording.xruns.count)
            FileHandle.standardError.write(Data(text.utf8))
            if final { FileHandle.standardError.write(Data("\n".utf8)) }
        }
        print("meltap: recording \(channels.map { "in_\($0 + 1)" }.joined(separator: ", ")) from \(socketPath) to \(path)")
        fflush(nil)
        do {
            loop: while true {
                if LiveStop.requested { stopReason = "interrupted"; break }
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
                    printError("meltap: the server at \(socketPath) closed the stream; finishing \(path).")
                    break loop
                case .header(let newHeader):
                    if newHeader.bandCount != header.bandCount {
                        finishQuietly(reason: "band count changed")
                        throw CleanExit.failure("the stream's band count changed from \(header.bandCount) to "
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
            print("meltap: recorded \(rows) rows (\(framesReceived) frames, \(recording.gaps.count) gaps) to \(path)")
        } catch let error as FeatureFileError {
            status(true)
            writer.discard()  // growing mode: keeps the loadable rows
            recording.end = .init(framesReceived: framesReceived, wallClock: isoNow(),
                                  reason: "write error: \(error.message)")
            try? writeSidecar(rows: writer.patchedRowCount, existing: .replace)
            throw CleanExit.failure(error.message)
        }
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
    static func sidecar(header: StreamHeader, socketPath: String, channels: [Int], rowShape: [Int]) throws -> FeatureSidecar {
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

// MARK: Helpers shared by record and view

/// Seconds on CLOCK_MONOTONIC.
func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// The current wall-clock time in ISO 8601 with milliseconds and zone, e.g. 2025-01-31T12:00:00.123Z.
func isoNow() -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date())
}

/// A stop request from SIGINT/SIGTERM, polled by `record` and `view` (whose reads time out
/// often enough to notice it).
enum LiveStop {
    /// Set by the signal handler; the only thing it touches.
    static var requested: Bool { liveStopFlag.load(ordering: .relaxed) }

    /// Installs the handlers and unblocks the signals (a parent may have started us with them blocked).
    static func install() {
        _ = liveStopFlag.load(ordering: .relaxed)  // initialise the global before any handler runs
        signal(SIGINT, liveStopHandler)
        signal(SIGTERM, liveStopHandler)
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }
}

private let liveStopFlag = Atomic<Bool>(false)

/// Async-signal-safe: one atomic store.
private func liveStopHandler(_ signal: Int32) {
    liveStopFlag.store(true, ordering: .relaxed)
}
