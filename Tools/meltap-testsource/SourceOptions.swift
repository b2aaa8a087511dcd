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
    var recordSeconds = 10.0
    var exitWhenRecorded = false
    var duration: Double?

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
                print("See the header of Tools/meltap-testsource/main.swift for usage."); exit(0)
            default: fail("unknown option \(argument)")
            }
        }
        if o.outputCount == 0 && o.inputCount == 0 { o.outputCount = 1 }
        return o
    }
}
