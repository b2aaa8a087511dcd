import ArgumentParser
import Foundation
import Glibc
import MelFiles
import MelServer
import MeltapClient
import MelPipeline

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
        "The socket `meltap run` publishes on (it prints it at start). Without it, meltap.sock in the default socket directory, else the first stream socket there (meltap.NAME.sock, as meltap status finds them); the one taken is named on standard error.",
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
        StopSignal.install()
        let existing: ExistingOutput = force ? .replace : .refuse
        do {
            try OutputPath.check(output, existing: existing)  // before connecting: a refusal costs nothing
            try OutputPath.check(Sidecar.path(forFeatureFile: output), existing: existing)
        } catch let error as FeatureFileError {
            throw CleanExit.failure(error.message)
        }
        let socketPath = try SocketChoice.subscriberSocket(socket, command: "record")
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
        print("meltap: recording \(recorded.map { "in_\($0 + 1)" }.joined(separator: ", ")) from \(socketPath) to \(output)")
        fflush(nil)
        do {
            let summary = try recorder.record(from: subscriber, duration: duration)
            print("meltap: recorded \(summary.rows) rows (\(summary.framesReceived) frames, \(summary.gapCount) gaps) to \(output)")
        } catch let error as PipelineError {
            throw CleanExit.failure(error.description)
        }
    }
}
