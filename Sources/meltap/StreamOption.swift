import ArgumentParser
import MelDSP

/// One `meltap run --stream NAME=PRESET[@RATE][,option=value…]`: a named feature stream computed
/// from the same input ports as every other stream, served on its own socket.
///
/// Options are `meltap file`'s feature overrides without the dashes (`n-mels=80`, `fmax=-400`,
/// `use-energy`), parsed by the same `DSPOptions`, so values and their errors are the same.
struct StreamOption {
    /// `NAME`: letters, digits, `-` and `_`; part of the socket file name `<client>.<NAME>.sock`.
    var name: String
    /// `@RATE`: the analysis rate in Hz; nil for the preset's default (16000 for whisper and
    /// micro, else the server's rate).
    var sampleRate: Int?
    /// The preset and its overrides.
    var dsp: DSPOptions

    /// Option names accepted after the preset (`DSPOptions`' long names).
    static let optionNames = ["n-fft", "hop-length", "win-length", "window", "framing", "n-mels", "fmin", "fmax",
                              "mel-scale", "mel-norm", "power", "output", "n-mfcc", "top-db", "use-energy",
                              "fft-precision", "db-ref"]

    /// The analysis rate asked for: `@RATE`, else the preset's required rate, else nil.
    var requestedRate: Double? { sampleRate.map(Double.init) ?? dsp.preset.requiredSampleRate }

    /// Parses one `--stream` value.
    /// - Throws: `ValidationError` naming the stream and what to fix.
    static func parse(_ text: String) throws -> StreamOption {
        func fail(_ message: String) -> ValidationError {
            ValidationError("Please fix --stream \(text): \(message)")
        }
        guard let equals = text.firstIndex(of: "=") else {
            throw fail("write it as NAME=PRESET[@RATE][,option=value…], e.g. kws=kaldi@16000,n-mels=80.")
        }
        let name = String(text[..<equals])
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw fail("the stream name '\(name)' must be letters, digits, '-' or '_' (it becomes part of the socket file name).")
        }
        let fields = text[text.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let head = fields[0]
        var presetName = head
        var sampleRate: Int?
        if let at = head.firstIndex(of: "@") {
            presetName = String(head[..<at])
            let rateText = String(head[head.index(after: at)...])
            guard let rate = Int(rateText), (1000...768_000).contains(rate) else {
                throw fail("stream \(name): the rate after '@' must be in Hz from 1000 to 768000, e.g. @16000; got '\(rateText)'.")
            }
            sampleRate = rate
        }
        guard MelPreset(argument: presetName) != nil else {
            throw fail("stream \(name): unknown preset '\(presetName)'; choose one of "
                       + MelPreset.allValueStrings.joined(separator: ", ") + ".")
        }
        var arguments = ["--preset", presetName]
        for field in fields.dropFirst() {
            let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = parts[0]
            guard !key.isEmpty else { throw fail("stream \(name): an empty option (two commas, or a trailing comma).") }
            if key == "preset" || key == "sample-rate" {
                throw fail("stream \(name): give the \(key == "preset" ? "preset" : "rate") in NAME=PRESET@RATE, not as an option.")
            }
            guard optionNames.contains(key) else {
                throw fail("stream \(name): unknown option '\(key)'; the options are " + optionNames.joined(separator: ", ")
                           + " (meltap file's, without the dashes).")
            }
            if key == "use-energy" {
                switch parts.count == 1 ? "true" : parts[1] {
                case "true", "yes", "1": arguments.append("--use-energy")
                case "false", "no", "0": break
                default: throw fail("stream \(name): use-energy takes no value, or true/false; got '\(parts[1])'.")
                }
                continue
            }
            guard parts.count == 2, !parts[1].isEmpty else {
                throw fail("stream \(name): option \(key) needs a value, as \(key)=VALUE.")
            }
            arguments.append("--\(key)=\(parts[1])")
        }
        let dsp: DSPOptions
        do { dsp = try DSPOptions.parse(arguments) } catch {
            throw fail("stream \(name): \(DSPOptions.message(for: error))")
        }
        do { _ = try dsp.overrides() } catch {
            throw fail("stream \(name): \(DSPOptions.message(for: error))")
        }
        return StreamOption(name: name, sampleRate: sampleRate, dsp: dsp)
    }
}
