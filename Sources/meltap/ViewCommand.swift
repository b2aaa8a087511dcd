import ArgumentParser
import Foundation
import Glibc
import MelServer
import MeltapClient
import MelPipeline
import MelSystem

/// `meltap view`: a live spectrogram waterfall in the terminal.
struct ViewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "Show the frames of a running `meltap run` as a scrolling spectrogram in the terminal.",
        discussion: """
            Each line is one frame (about 20 lines a second: faster streams are averaged down), low bands on \
            the left, high bands on the right, stretched across the terminal. Colours follow the values in \
            dB (power and magnitude outputs are converted; dB, log, Whisper and MFCC outputs are shown as they \
            are) between a running minimum and maximum. The last line shows the frame rate, gaps, drops and \
            xruns. Ctrl-C quits and restores the terminal.

            Without a terminal (a pipe or a file), lines are drawn with the characters " .:-=+*#%@" and a \
            status line starting with "status:" follows every second.
            """)

    @Option(help: ArgumentHelp("The socket `meltap run` publishes on (it prints it at start). Without it, meltap.sock in the default socket directory, else the first stream socket there (meltap.NAME.sock, as meltap status finds them); the one taken is named on standard error.",
                               valueName: "path"))
    var socket: String?

    @Option(help: "The channel to show, 1 being the first input port (in_1).")
    var channel: Int = 1

    @Option(help: "Stop after this many seconds instead of waiting for Ctrl-C.")
    var duration: Double?

    @Option(help: "Columns to draw; without it, the terminal's width (80 when not a terminal).")
    var columns: Int?

    @Flag(help: "Use 24-bit colour even when COLORTERM does not announce it.")
    var truecolor = false

    func validate() throws {
        if channel < 1 { throw ValidationError("Please give --channel as 1 or more (1 is the first channel); got \(channel).") }
        if let duration, duration <= 0 { throw ValidationError("Please give a positive --duration in seconds.") }
        if let columns, columns < 8 || columns > 1000 { throw ValidationError("Please give --columns between 8 and 1000.") }
    }

    func run() throws {
        StopSignal.install()
        let socketPath = try SocketChoice.subscriberSocket(socket, command: "view")
        let subscriber: MeltapSubscriber
        do {
            subscriber = try MeltapSubscriber(socketPath: socketPath, channels: [channel - 1],
                                              receiveTimeout: .milliseconds(200))
        } catch {
            throw CleanExit.failure("\(error)")
        }
        guard channel <= subscriber.header.channelCount else {
            throw CleanExit.failure("channel \(channel) does not exist: the stream at \(socketPath) has "
                                    + "\(subscriber.header.channelCount) channel(s).")
        }
        let terminal = isatty(STDOUT_FILENO) == 1
        let colour = ProcessInfo.processInfo.environment["COLORTERM"].map { $0.contains("truecolor") || $0.contains("24bit") } ?? false
        var view = Waterfall(header: subscriber.header, columns: columns ?? Self.terminalColumns(terminal),
                             mode: terminal ? (truecolor || colour ? .trueColor : .ansi256) : .plain)
        view.run(subscriber, channel: UInt32(channel - 1), duration: duration)
    }

    static func terminalColumns(_ terminal: Bool) -> Int {
        var size = winsize()
        if terminal, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 8 { return Int(size.ws_col) }
        return 80
    }
}
