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

/// Draws frames as lines; owns the running range and the counters for the status line.
struct Waterfall {
    enum Mode { case plain, ansi256, trueColor }

    let mode: Mode
    let columns: Int
    /// Frames averaged into one line (frame rate / 20, at least 1).
    let decimation: Int
    /// Values are power or magnitude: shown as 10·log10.
    var convertToDecibels: Bool
    var header: StreamHeader
    private var sum: [Double] = []
    private var summed = 0
    /// Running range of the line values in dB, following the signal slowly.
    private var low = Double.nan
    private var high = Double.nan
    private var gaps = 0
    private var xrunFlags = 0
    private var lastSequence: UInt64?
    private var framesInSecond = 0
    private var secondStart = monotonicNow()
    private var frameRate = 0.0
    private var lastStatus = 0.0
    /// 0-based channel shown.
    private var channel: UInt32 = 0

    init(header: StreamHeader, columns: Int, mode: Mode) {
        self.header = header
        self.columns = columns
        self.mode = mode
        decimation = max(1, Int((header.frameRate / 20).rounded()))
        convertToDecibels = Self.isLinear(header)
    }

    /// True for power/magnitude outputs, read from the configuration JSON's "output".
    static func isLinear(_ header: StreamHeader) -> Bool {
        let object = (try? JSONSerialization.jsonObject(with: Data(header.configurationJSON))) as? [String: Any]
        let output = object?["output"] as? String ?? "power"
        return output == "power" || output == "pcen"
    }

    mutating func run(_ subscriber: MeltapSubscriber, channel: UInt32, duration: Double?) {
        self.channel = channel
        let started = monotonicNow()
        if mode != .plain { write("\u{1B}[?25l") }  // hide the cursor
        defer {
            if mode != .plain { write("\r\u{1B}[0m\u{1B}[2K\u{1B}[?25h") }
            status(subscriber, force: true)
            write("\n")
        }
        while !StopSignal.requested {
            if let duration, monotonicNow() - started >= duration { break }
            let event: SubscriberEvent?
            do {
                event = try subscriber.nextEvent()
            } catch let error as MeltapClientError where error.code == .timedOut {
                status(subscriber, force: false)
                continue
            } catch {
                write("\nmeltap: \(error)\n")
                return
            }
            guard let event else {
                write("\nmeltap: the server closed the stream.\n")
                return
            }
            switch event {
            case .header(let newHeader):
                header = newHeader
                convertToDecibels = Self.isLinear(newHeader)
                sum = []
                summed = 0
            case .frame(let frame):
                guard frame.metadata.channel == channel else { continue }
                count(frame.metadata)
                add(frame.values)
            case .stats:
                break
            }
            status(subscriber, force: false)
        }
    }

    private mutating func count(_ metadata: FrameMetadata) {
        if metadata.flags.contains(.gap) || (lastSequence.map { metadata.sequence != $0 + 1 } ?? false) { gaps += 1 }
        if metadata.flags.contains(.xrun) { xrunFlags += 1 }
        lastSequence = metadata.sequence
        framesInSecond += 1
        let now = monotonicNow()
        if now - secondStart >= 1 {
            frameRate = Double(framesInSecond) / (now - secondStart)
            framesInSecond = 0
            secondStart = now
        }
    }

    private mutating func add(_ values: [Float]) {
        if sum.count != values.count { sum = Array(repeating: 0, count: values.count); summed = 0 }
        for (index, value) in values.enumerated() {
            let level = convertToDecibels ? 10 * log10(max(Double(value), 1e-10)) : Double(value)
            sum[index] += level.isFinite ? level : 0
        }
        summed += 1
        guard summed >= decimation, !sum.isEmpty else { return }
        let line = sum.map { $0 / Double(summed) }
        sum = Array(repeating: 0, count: sum.count)
        summed = 0
        draw(line)
    }

    /// One line: each column shows the largest value of the bands it covers.
    private mutating func draw(_ line: [Double]) {
        let bands = line.count
        var cells = [Double](repeating: 0, count: columns)
        for column in 0..<columns {
            let first = column * bands / columns
            let last = max(first + 1, (column + 1) * bands / columns)
            cells[column] = line[first..<min(last, bands)].max() ?? 0
        }
        let lineLow = line.min() ?? 0, lineHigh = line.max() ?? 0
        if low.isNaN { low = lineLow; high = lineHigh }
        // Widen at once, narrow slowly (about 5 s at 20 lines/s).
        low = lineLow < low ? lineLow : low + (lineLow - low) * 0.01
        high = lineHigh > high ? lineHigh : high + (lineHigh - high) * 0.01
        let span = max(high - low, 1e-6)
        var text = ""
        text.reserveCapacity(columns * 12)
        if mode != .plain { text += "\r\u{1B}[2K" }  // over the status line
        let ramp = Array(" .:-=+*#%@")
        var previous = -1
        for cell in cells {
            let level = min(max((cell - low) / span, 0), 1)
            switch mode {
            case .plain:
                text.append(ramp[min(ramp.count - 1, Int(level * Double(ramp.count)))])
            case .ansi256:
                let code = Self.palette256(level)
                if code != previous { text += "\u{1B}[48;5;\(code)m"; previous = code }
                text += " "
            case .trueColor:
                let (r, g, b) = Self.rgb(level)
                text += "\u{1B}[48;2;\(r);\(g);\(b)m "
            }
        }
        if mode != .plain { text += "\u{1B}[0m" }
        write(text + "\n")
        if mode != .plain { lastStatus = 0 }  // the status line was overwritten: redraw it now
    }

    private mutating func status(_ subscriber: MeltapSubscriber, force: Bool) {
        let now = monotonicNow()
        let interval = mode == .plain ? 1.0 : 0.25
        guard force || now - lastStatus >= interval else { return }
        lastStatus = now
        let stats = subscriber.latestStats
        let drops = stats.map { "\($0.drops) ring, \($0.subscriberDrops) subscriber" } ?? "-"
        let xruns = stats.map { String($0.xruns) } ?? String(xrunFlags)
        var range = "-"
        if !low.isNaN { range = String(format: "%.1f…%.1f%@", low, high, convertToDecibels ? " dB" : "") }
        let text = String(format: "status: in_%d %.1f frames/s, gaps %d, drops %@, xruns %@, range %@",
                          Int(channel) + 1, frameRate, gaps, drops, xruns, range)
        if mode == .plain {
            write(text + "\n")
        } else {
            write("\r\u{1B}[2K\u{1B}[7m" + String(text.prefix(columns)) + "\u{1B}[0m")
        }
    }

    /// A dark-blue → purple → orange → yellow ramp (like "magma"), in the 6×6×6 cube of 256 colours.
    static func palette256(_ level: Double) -> Int {
        let (r, g, b) = rgb(level)
        func step(_ value: Int) -> Int { min(5, (value * 6) / 256) }
        return 16 + 36 * step(r) + 6 * step(g) + step(b)
    }

    static func rgb(_ level: Double) -> (Int, Int, Int) {
        let stops: [(Double, Double, Double)] = [(0, 0, 4), (80, 18, 123), (183, 55, 121), (252, 137, 97), (252, 253, 191)]
        let position = level * Double(stops.count - 1)
        let index = min(stops.count - 2, Int(position))
        let fraction = position - Double(index)
        let a = stops[index], b = stops[index + 1]
        return (Int(a.0 + (b.0 - a.0) * fraction), Int(a.1 + (b.1 - a.1) * fraction), Int(a.2 + (b.2 - a.2) * fraction))
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
