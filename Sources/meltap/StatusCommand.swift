import ArgumentParser
import Foundation
import Glibc
import MelPipeline
import MelServer
import MelSystem

/// `meltap status`: asks running `meltap run` instances how they are doing, over their sockets.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show how running meltap instances are doing: uptime, streams, frame rates, gaps, drops, xruns, subscribers, callback timing and CPU.",
        discussion: """
            meltap status connects to a running `meltap run` on its socket and asks for its status \
            (a status message of the wire format, docs/wire-format.md); the instance goes on \
            serving its subscribers meanwhile. Every stream's socket answers for the whole instance.

            It prints the uptime; every stream with its preset, analysis rate and resampler, frames, \
            drops and subscribers; per input channel the ports connected to it, the frame rate over the last second, gaps (and \
            the frames lost in them), and frames flagged xrun or discontinuity; the JACK callback's \
            duration at p50, p99, p99.9 and maximum, in microseconds and as a share of the period; \
            and the process's CPU share since it started. --json prints the status document itself.

            Examples:
              meltap status
              meltap status --socket /run/user/1000/meltap/box.kws.sock
              meltap status --all --json
            """)

    @Option(help: ArgumentHelp(
        "The socket of the instance to ask. Without it (and without --all), the default socket of a client named meltap: meltap.sock in the default socket directory (\(SocketDirectory.rule)); when that does not exist (an instance with --stream serves meltap.NAME.sock), every socket in that directory, as --all.",
        valueName: "path"))
    var socket: String?

    @Flag(help: "Ask every instance with a socket in the socket directory (--socket-dir, or the default one), once per instance.")
    var all = false

    @Option(help: ArgumentHelp("The directory --all looks in. Without it, the default socket directory: \(SocketDirectory.rule).",
                               valueName: "dir"))
    var socketDir: String?

    @Flag(help: "Print the status as JSON (one object; with --all, an array of them) instead of text.")
    var json = false

    @Option(help: ArgumentHelp("Seconds to wait for each answer.", valueName: "seconds"))
    var timeout: Double = 5

    func validate() throws {
        if socket != nil && all { throw ValidationError("Please give either --socket or --all, not both.") }
        if socketDir != nil && !all { throw ValidationError("Please use --socket-dir with --all (or give --socket PATH).") }
        if !(0.1...600).contains(timeout) { throw ValidationError("Please give --timeout in seconds from 0.1 to 600; got \(timeout).") }
    }

    func run() throws {
        let sockets: [String]
        let defaultSocket = FramePublisher.defaultSocketDirectory + "/meltap.sock"
        let all = self.all || (socket == nil && access(defaultSocket, F_OK) != 0)
        if all {
            let directory = socketDir ?? FramePublisher.defaultSocketDirectory
            sockets = SocketChoice.sockets(in: directory)
            if sockets.isEmpty {
                throw PipelineError("No meltap sockets in \(directory): no instance is running there. "
                                    + "Start one with `meltap run`, or give --socket-dir or --socket.")
            }
        } else {
            sockets = [socket ?? defaultSocket]
        }
        var reports: [LiveStatus] = []
        var failures: [String] = []
        var seen = Set<Int32>()
        for path in sockets {
            do {
                let status = try LiveStatus.request(socketPath: path, timeout: timeout)
                // Every stream's socket answers for the whole instance: show it once.
                if seen.insert(status.pid).inserted { reports.append(status) }
            } catch {
                failures.append("\(path): \(error)")
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            let data = all ? try encoder.encode(reports) : try reports.first.map { try encoder.encode($0) } ?? Data()
            if !data.isEmpty { print(String(decoding: data, as: UTF8.self)) }
        } else {
            for (index, report) in reports.enumerated() {
                if index > 0 { print("") }
                print(report.text)
            }
        }
        for failure in failures { printError("meltap status: \(failure)") }
        if !failures.isEmpty { throw ExitCode(1) }
    }
}
