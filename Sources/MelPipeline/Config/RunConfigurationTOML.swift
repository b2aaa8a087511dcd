import MelDSP
import MelResample
import TOMLKit

/// A configuration file that cannot be used: the file, the line (1-based; 0 when the problem has
/// no one line), the dotted key, and what to do.
public struct RunConfigurationError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var key: String
    public var message: String

    public init(file: String, line: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// "FILE:LINE: KEY: message", as compilers write it.
    public var description: String {
        "\(file):\(line > 0 ? "\(line):" : "") \(key.isEmpty ? "" : "\(key): ")\(message)"
    }
}

extension RunConfiguration {
    /// The keys of each table, in the order `toml()` writes them.
    static let clientKeys = ["name", "inputs", "connect", "start-server", "duration", "ring-frames", "xrun-hold",
                             "consumer-poll", "resampler", "dump-frames"]
    static let socketKeys = ["path", "dir", "mode", "max-subscribers", "slow-subscriber"]
    static let metricsKeys = ["listen"]
    static let featureKeys = ["preset", "sample-rate"] + FeatureOption.names
    static let streamKeys = ["name"] + featureKeys

    /// Reads a `meltap run` configuration file (docs/config.md).
    /// - Parameter path: shown in errors as given.
    /// - Throws: `RunConfigurationError` naming the line and key of the first problem: a syntax
    ///   error, an unknown table or key, a value of the wrong type, or a value out of range.
    public static func load(path: String) throws(RunConfigurationError) -> RunConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw RunConfigurationError(file: path, line: 0, key: "",
                                        message: "Cannot read the configuration file (\(error.localizedDescription)). Check the path.")
        }
        return try parse(text, file: path)
    }

    /// Parses configuration text; `file` names it in errors.
    public static func parse(_ text: String, file: String) throws(RunConfigurationError) -> RunConfiguration {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw RunConfigurationError(file: file, line: error.source.begin.line, key: "",
                                        message: "This is not valid TOML: \(error.description) (column \(error.source.begin.column)).")
        } catch {
            throw RunConfigurationError(file: file, line: 0, key: "", message: "This is not valid TOML: \(error).")
        }
        let lines = TOMLLineIndex(text)
        func fail(_ key: String, _ message: String) -> RunConfigurationError {
            RunConfigurationError(file: file, line: lines.line(of: key), key: key, message: message)
        }
        let reader = Reader(fail: fail)
        var c = RunConfiguration()
        do {
            for key in table.keys where !["client", "sockets", "metrics", "features", "stream"].contains(key) {
                throw fail(key, "Unknown key or table '\(key)'. The tables are [client], [sockets], [metrics], [features] and [[stream]] (docs/config.md).")
            }
            if let client = try reader.table(table["client"], "client", allowed: clientKeys) {
                c.clientName = try reader.string(client["name"], "client.name")
                c.inputs = try reader.int(client["inputs"], "client.inputs")
                c.connect = try reader.strings(client["connect"], "client.connect")
                c.startServer = try reader.bool(client["start-server"], "client.start-server")
                c.duration = try reader.number(client["duration"], "client.duration")
                c.ringFrames = try reader.int(client["ring-frames"], "client.ring-frames")
                c.xrunHold = try reader.number(client["xrun-hold"], "client.xrun-hold")
                c.consumerPoll = try reader.number(client["consumer-poll"], "client.consumer-poll")
                c.resampler = try reader.choice(client["resampler"], "client.resampler", ResamplerQuality.self)
                c.dumpFrames = try reader.string(client["dump-frames"], "client.dump-frames")
            }
            if let sockets = try reader.table(table["sockets"], "sockets", allowed: socketKeys) {
                c.socket = try reader.string(sockets["path"], "sockets.path")
                c.socketDirectory = try reader.string(sockets["dir"], "sockets.dir")
                c.socketMode = try reader.string(sockets["mode"], "sockets.mode")
                c.maxSubscribers = try reader.int(sockets["max-subscribers"], "sockets.max-subscribers")
                c.slowSubscriber = try reader.string(sockets["slow-subscriber"], "sockets.slow-subscriber")
            }
            if let metrics = try reader.table(table["metrics"], "metrics", allowed: metricsKeys) {
                c.metricsAddress = try reader.string(metrics["listen"], "metrics.listen")
            }
            if let features = try reader.table(table["features"], "features", allowed: featureKeys) {
                c.features = try reader.features(features, "features")
            }
            if let value = table["stream"] {
                guard let array = value.array, array.allSatisfy({ $0.table != nil }) else {
                    throw fail("stream", "Please write streams as [[stream]] tables, one per stream (docs/config.md).")
                }
                for index in 0..<array.count {
                    let key = "stream[\(index)]"
                    let stream = try reader.table(array[index], key, allowed: streamKeys)!
                    guard let name = try reader.string(stream["name"], "\(key).name") else {
                        throw fail(key, "Please give every [[stream]] a name (name = \"kws\"); it names the socket CLIENT.NAME.sock.")
                    }
                    var features = try reader.features(stream, key)
                    if features.preset == nil { features.preset = .librosa }
                    c.streams.append(StreamSettings(name: name, features: features))
                }
            }
        } catch let error as RunConfigurationError {
            throw error
        } catch {
            throw RunConfigurationError(file: file, line: 0, key: "", message: "\(error)")
        }
        if let problem = c.problems().first { throw fail(problem.key, problem.message) }
        return c
    }

    /// Typed reads of TOML values; every error names the key.
    struct Reader {
        let fail: (String, String) -> RunConfigurationError

        func table(_ value: TOMLValueConvertible?, _ key: String, allowed: [String]) throws -> TOMLTable? {
            guard let value else { return nil }
            guard let table = value.table else {
                throw fail(key, "Please write \(key) as a table ([\(key)]), not a value of type \(value.type).")
            }
            for name in table.keys where !allowed.contains(name) {
                throw fail("\(key).\(name)", "Unknown key '\(name)' in [\(key.hasPrefix("stream[") ? "[stream]" : key)]. "
                           + "The keys there are \(allowed.joined(separator: ", ")).")
            }
            return table
        }

        func string(_ value: TOMLValueConvertible?, _ key: String) throws -> String? {
            guard let value else { return nil }
            guard let string = value.string else { throw fail(key, "Please give \(key) as a string in quotes; got a value of type \(value.type).") }
            return string
        }

        func int(_ value: TOMLValueConvertible?, _ key: String) throws -> Int? {
            guard let value else { return nil }
            guard let int = value.int else { throw fail(key, "Please give \(key) as a whole number; got a value of type \(value.type).") }
            return int
        }

        /// A float or an integer.
        func number(_ value: TOMLValueConvertible?, _ key: String) throws -> Double? {
            guard let value else { return nil }
            if let double = value.double { return double }
            if let int = value.int { return Double(int) }
            throw fail(key, "Please give \(key) as a number; got a value of type \(value.type).")
        }

        func bool(_ value: TOMLValueConvertible?, _ key: String) throws -> Bool? {
            guard let value else { return nil }
            guard let bool = value.bool else { throw fail(key, "Please give \(key) as true or false; got a value of type \(value.type).") }
            return bool
        }

        func strings(_ value: TOMLValueConvertible?, _ key: String) throws -> [String]? {
            guard let value else { return nil }
            if let string = value.string { return [string] }
            guard let array = value.array else {
                throw fail(key, "Please give \(key) as a list of strings, e.g. [\"system:capture_.*\"]; got a value of type \(value.type).")
            }
            return try (0..<array.count).map { index in
                guard let string = array[index].string else {
                    throw fail(key, "Please give \(key) as a list of strings; item \(index + 1) is of type \(array[index].type).")
                }
                return string
            }
        }

        func choice<T: RawRepresentable & CaseIterable>(_ value: TOMLValueConvertible?, _ key: String, _: T.Type) throws -> T?
        where T.RawValue == String {
            try choice(value, key, among: T.allCases.map(\.rawValue)).flatMap(T.init(rawValue:))
        }

        /// One of `words`.
        func choice(_ value: TOMLValueConvertible?, _ key: String, among words: [String]) throws -> String? {
            guard let text = try string(value, key) else { return nil }
            guard words.contains(text) else {
                throw fail(key, "Unknown value '\(text)'; choose one of " + words.map { "\"\($0)\"" }.joined(separator: ", ") + ".")
            }
            return text
        }

        /// `preset`, `sample-rate` and the feature options of `[features]` or a `[[stream]]`.
        func features(_ table: TOMLTable, _ key: String) throws -> FeatureSettings {
            var f = FeatureSettings()
            f.preset = try choice(table["preset"], "\(key).preset", MelPreset.self)
            f.sampleRate = try int(table["sample-rate"], "\(key).sample-rate")
            for option in FeatureOption.all {
                let name = "\(key).\(option.name)"
                guard let value = table[option.name] else { continue }
                let typed: FeatureOption.Value
                switch option.kind {
                case .integer: typed = .integer(try int(value, name)!)
                case .number: typed = .number(try number(value, name)!)
                case .choice: typed = .text(try choice(value, name, among: option.kind.words)!)
                case .flag: typed = .flag(try bool(value, name)!)
                case .numberOrWord:
                    if let text = value.string { typed = .text(text) } else { typed = .number(try number(value, name)!) }
                }
                if let problem = option.apply(typed, to: &f.overrides, spelledAs: option.name) { throw fail(name, problem) }
            }
            return f
        }
    }

    // MARK: Writing

    /// The configuration as a TOML file that `parse` reads back to an equal value: the tables in
    /// a fixed order, keys that are nil left out.
    public func toml() -> String {
        var out = "# meltap run configuration (docs/config.md).\n"
        func section(_ header: String, _ entries: [(String, String?)]) {
            let present = entries.compactMap { key, value in value.map { "\(key) = \($0)" } }
            guard !present.isEmpty else { return }
            out += "\n\(header)\n" + present.joined(separator: "\n") + "\n"
        }
        section("[client]", [
            ("name", clientName.map(TOMLText.string)),
            ("inputs", inputs.map(String.init)),
            ("connect", connect.map { "[" + $0.map(TOMLText.string).joined(separator: ", ") + "]" }),
            ("start-server", startServer.map(String.init)),
            ("duration", duration.map(TOMLText.number)),
            ("ring-frames", ringFrames.map(String.init)),
            ("xrun-hold", xrunHold.map(TOMLText.number)),
            ("consumer-poll", consumerPoll.map(TOMLText.number)),
            ("resampler", resampler.map { TOMLText.string($0.rawValue) }),
            ("dump-frames", dumpFrames.map(TOMLText.string)),
        ])
        section("[sockets]", [
            ("path", socket.map(TOMLText.string)),
            ("dir", socketDirectory.map(TOMLText.string)),
            ("mode", socketMode.map(TOMLText.string)),
            ("max-subscribers", maxSubscribers.map(String.init)),
            ("slow-subscriber", slowSubscriber.map(TOMLText.string)),
        ])
        section("[metrics]", [("listen", metricsAddress.map(TOMLText.string))])
        section("[features]", Self.entries(features))
        for stream in streams {
            out += "\n[[stream]]\nname = \(TOMLText.string(stream.name))\n"
            out += Self.entries(stream.features).compactMap { key, value in value.map { "\(key) = \($0)\n" } }.joined()
        }
        return out
    }

    static func entries(_ f: FeatureSettings) -> [(String, String?)] {
        [
            ("preset", f.preset.map { TOMLText.string($0.rawValue) }),
            ("sample-rate", f.sampleRate.map(String.init)),
        ] + FeatureOption.values(of: f.overrides).map { option, value in (option.name, TOMLText.value(value)) }
    }
}

/// TOML spellings of values.
enum TOMLText {
    /// A feature option's value: numbers as `number`, words as strings.
    static func value(_ value: FeatureOption.Value) -> String {
        switch value {
        case .integer(let int): return String(int)
        case .number(let double): return number(double)
        case .text(let text): return string(text)
        case .flag(let bool): return String(bool)
        }
    }

    /// A basic string with `"`, `\` and control characters escaped.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16, uppercase: true)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// A float that reads back to the same Double: Swift's shortest round-trip spelling, with
    /// ".0" added to whole numbers so TOML reads a float.
    static func number(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) + ".0" }
        return "\(value)"
    }
}
