import Foundation

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("meltap-testsource: \(message)\n".utf8))
    exit(2)
}

/// Command-line options (see main.swift's header).
struct SourceOptions {
    var name = "testsource"
    var outputCount = 0
    var inputCount = 0
    var signalName = "noise"
    var seed: UInt64 = 1
    var frequency = 440.0
    var amplitude: Float = 0.5
    var patterns: [String] = []
    var waitConnected = false
    var settle = 0.3
    var recordPath: String?
    /// `--record-seconds`; nil: 10 s, or the whole file for `--signal file:` (`recordLength`).
    var recordSeconds: Double?
    var exitWhenRecorded = false
    var duration: Double?

    static let help = """
        USAGE: meltap-testsource [options]

        A JACK client for tests and the demo. It plays a generated signal (or a raw float32 file)
        into output ports and/or records input ports, and writes exactly what it sent or received
        with the JACK frame time of every block, so a test can rebuild the samples a meltap port saw
        at each frame time and compare live frames with an offline analysis. It never starts a JACK
        server: set JACK_DEFAULT_SERVER to the one to join.

        OPTIONS:
          --name NAME            The JACK client name (default testsource).
          --outputs N            Output ports out_1…out_N to play into (default 1 when there are no
                                 inputs, else 0).
          --inputs N             Input ports in_1…in_N to record (default 0).
          --signal KIND          What output k plays: sine (at the frequency × k), chirp (50 Hz up to
                                 0.45 × the sample rate over 2 s, offset by k × 0.25 s), noise (white,
                                 seeded seed + k; the default), or file:PATH (raw little-endian
                                 float32 samples at the server's rate, the same on every output).
          --seed S               Seed of the noise generator (default 1).
          --frequency HZ         Sine frequency of out_1, in Hz (default 440).
          --amplitude A          Peak amplitude, 0 to 1 (default 0.5).
          --connect REGEX        Connect out_k to the k-th input port whose name matches REGEX, and
                                 in_k to the k-th matching output port. May be repeated.
          --wait-connected       Play silence and record nothing until every port is connected, then
                                 wait the settle time and start. Without it, start at once.
          --settle SECONDS       The wait after --wait-connected, in seconds (default 0.3).
          --record PATH          Write what was sent and received to PATH (format below).
          --record-seconds S     How many seconds to play and record (default 10, or with file:PATH
                                 the whole file, however long); after that, outputs play silence.
          --exit-when-recorded   Exit once the record is full.
          --duration S           Exit after S seconds. Without it (and --exit-when-recorded), run
                                 until SIGINT or SIGTERM.
          -h, --help             Show this help.

        RECORD FILE (little-endian): "MTSR", u32 version 1, u32 channels (outputs then inputs),
        u32 sample rate, u64 block count, u64 samples per channel; then per block: i64 frame time,
        u64 first sample, u32 count, u32 0; then channels × samples float32, channel-major.

        EXAMPLE:
          JACK_DEFAULT_SERVER=test meltap-testsource --outputs 2 --signal chirp --connect 'meltap:in_.*'
        """

    static func parse(_ list: [String]) -> SourceOptions {
        var o = SourceOptions()
        var arguments = list[...]
        func value(_ option: String) -> String {
            guard let next = arguments.popFirst() else { fail("\(option) needs a value") }
            return next
        }
        func number<T: LosslessStringConvertible>(_ option: String) -> T {
            let text = value(option)
            guard let parsed = T(text) else { fail("\(option) needs a number, not \(text)") }
            return parsed
        }
        while let argument = arguments.popFirst() {
            switch argument {
            case "--name": o.name = value(argument)
            case "--outputs": o.outputCount = number(argument)
            case "--inputs": o.inputCount = number(argument)
            case "--signal": o.signalName = value(argument)
            case "--seed": o.seed = number(argument)
            case "--frequency": o.frequency = number(argument)
            case "--amplitude": o.amplitude = number(argument)
            case "--connect": o.patterns.append(value(argument))
            case "--wait-connected": o.waitConnected = true
            case "--settle": o.settle = number(argument)
            case "--record": o.recordPath = value(argument)
            case "--record-seconds": o.recordSeconds = number(argument)
            case "--exit-when-recorded": o.exitWhenRecorded = true
            case "--duration": o.duration = number(argument) as Double
            case "--help", "-h":
                print(SourceOptions.help); exit(0)
            default: fail("unknown option \(argument); see meltap-testsource --help")
            }
        }
        if o.outputCount == 0 && o.inputCount == 0 { o.outputCount = 1 }
        return o
    }
}
