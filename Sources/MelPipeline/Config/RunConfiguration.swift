import MelDSP
import MelJack
import MelResample
import MelServer

/// Everything `meltap run` takes on its command line, as one value: what a `--config` TOML file
/// holds (docs/config.md), what the command line overrides, and what `--print-config` prints.
///
/// Every field is optional: nil means "not given here", so a file and a command line can be
/// layered (`overlaid(by:)`) before the defaults fill the rest (`withDefaults()`). Keys in the file
/// are the command line's long option names without the dashes; times are in the units the
/// options use (seconds for `duration`, milliseconds for `xrun-hold` and `consumer-poll`).
public struct RunConfiguration: Equatable, Sendable {
    // [client]
    /// `name`: the JACK client name.
    public var clientName: String?
    /// `inputs`: input ports (channels), 1 to 64.
    public var inputs: Int?
    /// `connect`: regular expressions of output ports to connect to meltap's inputs.
    public var connect: [String]?
    /// `start-server`: start a private dummy jackd for the run.
    public var startServer: Bool?
    /// `duration`: seconds to run; nil runs until SIGINT/SIGTERM.
    public var duration: Double?
    /// `ring-frames`: frames the realtime ring holds.
    public var ringFrames: Int?
    /// `xrun-hold`: milliseconds each frame is held in the realtime thread, 0 to 2000.
    public var xrunHold: Double?
    /// `consumer-poll`: milliseconds between the consumer's looks at the ring (0.1 to 1000); nil:
    /// woken by the callback.
    public var consumerPoll: Double?
    /// `resampler`: the converter every resampled stream uses.
    public var resampler: ResamplerQuality?
    /// `dump-frames`: a frame dump file (meant for tests).
    public var dumpFrames: String?

    // [sockets]
    /// `path`: the one stream's socket (`--socket`).
    public var socket: String?
    /// `dir`: the directory of the sockets (`--socket-dir`).
    public var socketDirectory: String?
    /// `mode`: permission bits of the socket files, octal text such as "660".
    public var socketMode: String?
    /// `max-subscribers`: 1 to 4096.
    public var maxSubscribers: Int?
    /// `slow-subscriber`: "drop" or "disconnect".
    public var slowSubscriber: String?

    // [metrics]
    /// `listen`: ADDRESS:PORT of the Prometheus endpoint (`--metrics`); nil: no endpoint.
    public var metricsAddress: String?

    /// `[features]`: the one stream's preset, rate and overrides when there is no `[[stream]]`.
    public var features: FeatureSettings
    /// `[[stream]]`: named streams; empty for the one stream of `features`.
    public var streams: [StreamSettings]

    public init() {
        features = FeatureSettings()
        streams = []
    }

    /// A preset, an analysis rate and the feature overrides: `[features]` and each `[[stream]]`.
    public struct FeatureSettings: Equatable, Sendable {
        /// `preset`.
        public var preset: MelPreset?
        /// `sample-rate`: the analysis rate in Hz; nil: the preset's default (16000 for whisper and
        /// micro, else the server's rate).
        public var sampleRate: Int?
        /// `n-fft`, `hop-length`, … as `meltap file`'s options without the dashes.
        public var overrides: MelOverrides

        public init(preset: MelPreset? = nil, sampleRate: Int? = nil, overrides: MelOverrides = MelOverrides()) {
            self.preset = preset
            self.sampleRate = sampleRate
            self.overrides = overrides
        }

        /// `other`'s values where it has them, else ours.
        public func overlaid(by other: FeatureSettings) -> FeatureSettings {
            var merged = self
            merged.preset = other.preset ?? preset
            merged.sampleRate = other.sampleRate ?? sampleRate
            merged.overrides = overrides.overlaid(by: other.overrides)
            return merged
        }

        /// The analysis rate asked for: `sample-rate`, else the preset's required rate, else nil.
        public var requestedRate: Double? {
            AnalysisRate.requested(sampleRate.map(Double.init), preset: preset ?? .librosa)
        }
    }

    /// One `[[stream]]`: a named feature stream served on `CLIENT.NAME.sock`.
    public struct StreamSettings: Equatable, Sendable {
        /// `name`: letters, digits, `-` and `_`.
        public var name: String
        public var features: FeatureSettings

        public init(name: String, features: FeatureSettings) {
            self.name = name
            self.features = features
        }
    }

    /// The defaults of `meltap run` for what a command line leaves out.
    public static let defaults: RunConfiguration = {
        var c = RunConfiguration()
        c.clientName = "meltap"
        c.connect = []
        c.startServer = false
        c.ringFrames = 4096
        c.xrunHold = 0
        c.resampler = .standard
        c.socketMode = "600"
        c.maxSubscribers = FramePublisher.defaultMaximumSubscribers
        c.slowSubscriber = "drop"
        c.features.preset = .librosa
        return c
    }()

    /// `other`'s values where it has them, else ours. `connect` and the stream list are replaced
    /// whole (streams replace `[features]` too); otherwise `[features]` is layered key by key.
    public func overlaid(by other: RunConfiguration) -> RunConfiguration {
        var c = self
        c.clientName = other.clientName ?? clientName
        c.inputs = other.inputs ?? inputs
        c.connect = other.connect ?? connect
        c.startServer = other.startServer ?? startServer
        c.duration = other.duration ?? duration
        c.ringFrames = other.ringFrames ?? ringFrames
        c.xrunHold = other.xrunHold ?? xrunHold
        c.consumerPoll = other.consumerPoll ?? consumerPoll
        c.resampler = other.resampler ?? resampler
        c.dumpFrames = other.dumpFrames ?? dumpFrames
        c.socket = other.socket ?? socket
        c.socketDirectory = other.socketDirectory ?? socketDirectory
        c.socketMode = other.socketMode ?? socketMode
        c.maxSubscribers = other.maxSubscribers ?? maxSubscribers
        c.slowSubscriber = other.slowSubscriber ?? slowSubscriber
        c.metricsAddress = other.metricsAddress ?? metricsAddress
        c.features = features.overlaid(by: other.features)
        // Streams given above replace the streams and the one-stream features given below.
        if !other.streams.isEmpty {
            c.streams = other.streams
            c.features = other.features
        }
        // A path for the one stream and a directory for all of them exclude each other: the
        // layer that names one wins over the other from below.
        if other.socket != nil && other.socketDirectory == nil { c.socketDirectory = nil }
        if other.socketDirectory != nil && other.socket == nil { c.socket = nil }
        return c
    }

    /// Ours over `defaults`. With streams, `[features]` holds no preset (each stream has its own).
    public func withDefaults() -> RunConfiguration {
        var resolved = RunConfiguration.defaults.overlaid(by: self)
        if !streams.isEmpty && features.preset == nil { resolved.features.preset = nil }
        return resolved
    }

    /// The slow-subscriber policy `slowSubscriber` names (drop unless "disconnect").
    public var slowSubscriberPolicy: FramePublisher.SlowSubscriberPolicy {
        slowSubscriber == "disconnect" ? .disconnect : .dropFrames
    }

    /// How a problem names an option: as in a `--config` file (`inputs`, `[[stream]]`) or as on
    /// the command line (`--inputs`, `--stream`).
    public enum Spelling: Sendable { case file, commandLine }

    /// The limits of the run options, in the options' units.
    public enum Limits {
        /// `inputs`: JACK input ports.
        public static let inputs = 1...64
        /// `xrun-hold`, milliseconds.
        public static let xrunHold = 0.0...2000
        /// `consumer-poll`, milliseconds.
        public static let consumerPoll = 0.1...1000
        /// `max-subscribers`.
        public static let maxSubscribers = 1...4096
        /// `slow-subscriber`.
        public static let slowSubscriberPolicies = ["drop", "disconnect"]
    }

    /// What is wrong with these values, as (key, problem) pairs in file order; empty when all is
    /// well. The one validator of `meltap run`'s options: the command line (`RunCommand.validate`)
    /// and a `--config` file (alone, and with the command line over it) are checked here.
    ///
    /// Keys are dotted TOML paths (`sockets.mode`, `stream[1].n-mels`). Each problem is a sentence
    /// that says what to give instead, naming options as `spelling` writes them.
    /// - Parameter resolving: also resolve each stream's configuration (preset, rate and
    ///   overrides together); off for a command line that a file may complete.
    public func problems(spelling: Spelling = .file, resolving: Bool = true) -> [(key: String, message: String)] {
        var found: [(key: String, message: String)] = []
        let file = spelling == .file
        /// An option as the user wrote it: the TOML key, or the long flag.
        func name(_ key: String) -> String { file ? key : "--" + key }
        /// "; got VALUE" in a file's messages (the command line's never said it).
        func got(_ value: some Any) -> String { file ? "; got \(value)" : "" }
        func check(_ ok: Bool, _ key: String, _ message: @autoclosure () -> String) {
            if !ok { found.append((key, message())) }
        }
        // The command line's name is checked with the file's, once both are known (as before).
        if let clientName, file { check(!clientName.isEmpty, "client.name", "Please give a non-empty JACK client name.") }
        if let inputs {
            check(Limits.inputs.contains(inputs), "client.inputs", file
                  ? "Please give inputs from \(Limits.inputs.lowerBound) to \(Limits.inputs.upperBound); got \(inputs)."
                  : "Please give --inputs between \(Limits.inputs.lowerBound) and \(Limits.inputs.upperBound).")
        }
        for pattern in connect ?? [] {
            if let problem = JackClient.connectPatternProblem(pattern) {
                found.append(("client.connect", file ? "Please give connect patterns JACK can read: \(problem)"
                                                      : "Please give a --connect pattern JACK can read: \(problem)"))
            }
        }
        if let duration {
            check(duration > 0, "client.duration", "Please give a positive \(name("duration")) in seconds\(got(duration)).")
        }
        if let ringFrames {
            check(ringFrames >= 1, "client.ring-frames", "Please give a positive \(name("ring-frames"))\(got(ringFrames)).")
        }
        if let xrunHold {
            check(Limits.xrunHold.contains(xrunHold), "client.xrun-hold",
                  "Please give \(name("xrun-hold")) in milliseconds from \(Int(Limits.xrunHold.lowerBound)) to "
                  + "\(Int(Limits.xrunHold.upperBound)); got \(xrunHold).")
        }
        if let consumerPoll {
            check(Limits.consumerPoll.contains(consumerPoll), "client.consumer-poll",
                  "Please give \(name("consumer-poll")) in milliseconds from \(Limits.consumerPoll.lowerBound) to "
                  + "\(Int(Limits.consumerPoll.upperBound)); got \(consumerPoll).")
        }
        if let socketMode {
            if let mode = UInt32(socketMode, radix: 8), mode <= 0o777 {
                check(mode & 0o200 != 0, "sockets.mode",
                      "Please give a \(file ? "socket mode" : "--socket-mode") with owner write permission (e.g. 600 or 660): "
                      + "connecting to a Unix socket needs write permission, so \(socketMode) would lock out even you.")
            } else {
                found.append(("sockets.mode", file
                    ? "Please give the socket mode as octal permission bits in a string, e.g. \"600\" or \"660\"; got '\(socketMode)'."
                    : "Please give --socket-mode as octal permission bits, e.g. 600 or 660; got '\(socketMode)'."))
            }
        }
        if let maxSubscribers {
            check(Limits.maxSubscribers.contains(maxSubscribers), "sockets.max-subscribers",
                  "Please give \(name("max-subscribers")) from \(Limits.maxSubscribers.lowerBound) to "
                  + "\(Limits.maxSubscribers.upperBound); got \(maxSubscribers).")
        }
        if let slowSubscriber {
            check(Limits.slowSubscriberPolicies.contains(slowSubscriber), "sockets.slow-subscriber",
                  "Please give \(name("slow-subscriber")) as \(file ? "\"drop\" or \"disconnect\"" : "drop or disconnect"); got '\(slowSubscriber)'.")
        }
        if socket != nil && socketDirectory != nil {
            found.append(("sockets.path", file ? "Please give either a socket path or a socket directory (dir), not both."
                                                : "Please give either --socket or --socket-dir, not both."))
        }
        if let metricsAddress, MetricsAddress.parse(metricsAddress) == nil {
            found.append(("metrics.listen", file
                ? "Please give the metrics address as ADDRESS:PORT with a port from 0 (any free one) to 65535, e.g. 127.0.0.1:9464; got '\(metricsAddress)'."
                : "Please give --metrics as ADDRESS:PORT, e.g. 127.0.0.1:9464 (or :9464 for loopback); got '\(metricsAddress)'."))
        }
        if let rate = features.sampleRate, let problem = AnalysisRate.problem(rate, name: name("sample-rate")) {
            found.append(("features.sample-rate", problem))
        }
        if streams.isEmpty {
            if resolving, let problem = Self.resolutionProblem(features) {
                found.append((problem.option.map { "features.\($0)" } ?? "features", problem.message))
            }
        } else {
            if socket != nil {
                found.append(("sockets.path", file
                    ? "Please use a socket directory (dir) with streams: each stream gets its own socket, CLIENT.NAME.sock."
                    : "Please use --socket-dir with --stream: each stream gets its own socket, CLIENT.NAME.sock."))
            }
            if features.overrides != MelOverrides() || features.sampleRate != nil || features.preset != nil {
                found.append(("features", file
                    ? "Please put the preset, rate and feature options inside each [[stream]]: with streams, [features] is not used."
                    : "Please put feature options and rates inside each --stream (e.g. --stream kws=kaldi@16000,n-mels=80): "
                      + "with --stream, the top-level feature options and --sample-rate are not used."))
            }
            var seen = Set<String>()
            for (index, stream) in streams.enumerated() {
                let key = "stream[\(index)]"
                if !Self.isValidStreamName(stream.name) {
                    found.append(("\(key).name", "Please give the stream a name of letters, digits, '-' or '_' (it becomes part of the socket file name); got '\(stream.name)'."))
                } else if !seen.insert(stream.name).inserted {
                    found.append(("\(key).name", "Please give each \(file ? "stream" : "--stream") its own name; '\(stream.name)' is used twice."))
                }
                if let rate = stream.features.sampleRate, let problem = AnalysisRate.problem(rate, name: name("sample-rate")) {
                    found.append(("\(key).sample-rate", problem))
                } else if resolving, let problem = Self.resolutionProblem(stream.features) {
                    found.append((problem.option.map { "\(key).\($0)" } ?? key, problem.message))
                }
            }
        }
        return found
    }

    /// A stream name becomes part of a socket file name: letters, digits, `-`, `_`.
    public static func isValidStreamName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    /// Why `features` cannot be resolved (checked at the requested rate, or 48000 Hz when the
    /// rate is the server's), or nil; with the option to blame (`n-mels`), so that a config file's
    /// error points at that key's line rather than its table's: the one option whose removal
    /// lets the configuration resolve. nil when no single option is the cause (two that
    /// disagree, or the preset or rate itself).
    static func resolutionProblem(_ features: FeatureSettings) -> (option: String?, message: String)? {
        func problem(_ overrides: MelOverrides) -> String? {
            do {
                _ = try overrides.resolve(preset: features.preset ?? .librosa, sampleRate: features.requestedRate ?? 48000)
                return nil
            } catch {
                return "\(error)"
            }
        }
        guard let message = problem(features.overrides) else { return nil }
        let given = FeatureOption.values(of: features.overrides)
        for (index, culprit) in given.enumerated() {
            var without = MelOverrides()
            for (other, (option, value)) in given.enumerated() where other != index {
                _ = option.apply(value, to: &without, spelledAs: option.name)
            }
            if problem(without) == nil { return (culprit.option.name, message) }
        }
        return (nil, message)
    }
}

/// `--metrics ADDRESS:PORT`: where the Prometheus endpoint listens.
public enum MetricsAddress {
    /// Splits "127.0.0.1:9464", "[::1]:9464" or ":9464" (loopback) into host and port; port 0
    /// asks for any free port (printed at start).
    public static func parse(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "127.0.0.1" }
        return (host, port)
    }
}
