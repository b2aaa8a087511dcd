import MelDSP
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
            sampleRate.map(Double.init) ?? (preset ?? .librosa).requiredSampleRate
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

    /// What is wrong with these values, as (key, problem) pairs in file order; empty when all is
    /// well. Keys are dotted TOML paths (`sockets.mode`, `stream[1].n-mels`). Each problem is a
    /// sentence that says what to give instead.
    public func problems() -> [(key: String, message: String)] {
        var found: [(key: String, message: String)] = []
        func check(_ ok: Bool, _ key: String, _ message: @autoclosure () -> String) {
            if !ok { found.append((key, message())) }
        }
        if let clientName { check(!clientName.isEmpty, "client.name", "Please give a non-empty JACK client name.") }
        if let inputs { check((1...64).contains(inputs), "client.inputs", "Please give inputs from 1 to 64; got \(inputs).") }
        if let duration { check(duration > 0, "client.duration", "Please give a positive duration in seconds; got \(duration).") }
        if let ringFrames { check(ringFrames >= 1, "client.ring-frames", "Please give a positive ring-frames; got \(ringFrames).") }
        if let xrunHold {
            check((0...2000).contains(xrunHold), "client.xrun-hold",
                  "Please give xrun-hold in milliseconds from 0 to 2000; got \(xrunHold).")
        }
        if let consumerPoll {
            check((0.1...1000).contains(consumerPoll), "client.consumer-poll",
                  "Please give consumer-poll in milliseconds from 0.1 to 1000; got \(consumerPoll).")
        }
        if let socketMode {
            if let mode = UInt32(socketMode, radix: 8), mode <= 0o777 {
                check(mode & 0o200 != 0, "sockets.mode",
                      "Please give a socket mode with owner write permission (e.g. 600 or 660): connecting to a Unix "
                      + "socket needs write permission, so \(socketMode) would lock out even you.")
            } else {
                found.append(("sockets.mode", "Please give the socket mode as octal permission bits in a string, e.g. \"600\" or \"660\"; got '\(socketMode)'."))
            }
        }
        if let maxSubscribers {
            check((1...4096).contains(maxSubscribers), "sockets.max-subscribers",
                  "Please give max-subscribers from 1 to 4096; got \(maxSubscribers).")
        }
        if let slowSubscriber {
            check(["drop", "disconnect"].contains(slowSubscriber), "sockets.slow-subscriber",
                  "Please give slow-subscriber as \"drop\" or \"disconnect\"; got '\(slowSubscriber)'.")
        }
        if socket != nil && socketDirectory != nil {
            found.append(("sockets.path", "Please give either a socket path or a socket directory (dir), not both."))
        }
        if let metricsAddress, let problem = MetricsAddress.problem(metricsAddress) {
            found.append(("metrics.listen", problem))
        }
        if let rate = features.sampleRate {
            check((1000...768_000).contains(rate), "features.sample-rate",
                  "Please give sample-rate in Hz from 1000 to 768000, e.g. 16000; got \(rate).")
        }
        if streams.isEmpty {
            if let problem = Self.resolutionProblem(features) { found.append(("features", problem)) }
        } else {
            if socket != nil {
                found.append(("sockets.path", "Please use a socket directory (dir) with streams: each stream gets its own socket, CLIENT.NAME.sock."))
            }
            if features.overrides != MelOverrides() || features.sampleRate != nil || features.preset != nil {
                found.append(("features", "Please put the preset, rate and feature options inside each [[stream]]: with streams, [features] is not used."))
            }
            var seen = Set<String>()
            for (index, stream) in streams.enumerated() {
                let key = "stream[\(index)]"
                if !Self.isValidStreamName(stream.name) {
                    found.append(("\(key).name", "Please give the stream a name of letters, digits, '-' or '_' (it becomes part of the socket file name); got '\(stream.name)'."))
                } else if !seen.insert(stream.name).inserted {
                    found.append(("\(key).name", "Please give each stream its own name; '\(stream.name)' is used twice."))
                }
                if let rate = stream.features.sampleRate, !(1000...768_000).contains(rate) {
                    found.append(("\(key).sample-rate", "Please give sample-rate in Hz from 1000 to 768000, e.g. 16000; got \(rate)."))
                } else if let problem = Self.resolutionProblem(stream.features) {
                    found.append((key, problem))
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
    /// rate is the server's), or nil.
    static func resolutionProblem(_ features: FeatureSettings) -> String? {
        let preset = features.preset ?? .librosa
        do {
            _ = try features.overrides.resolve(preset: preset, sampleRate: features.requestedRate ?? 48000)
            return nil
        } catch {
            return "\(error)"
        }
    }
}

extension MelOverrides {
    /// `other`'s overrides where it has them, else ours.
    public func overlaid(by other: MelOverrides) -> MelOverrides {
        var o = self
        o.fftLength = other.fftLength ?? fftLength
        o.hopLength = other.hopLength ?? hopLength
        o.windowLength = other.windowLength ?? windowLength
        o.window = other.window ?? window
        o.fftPrecision = other.fftPrecision ?? fftPrecision
        o.melBandCount = other.melBandCount ?? melBandCount
        o.minimumFrequency = other.minimumFrequency ?? minimumFrequency
        o.maximumFrequency = other.maximumFrequency ?? maximumFrequency
        o.melScale = other.melScale ?? melScale
        o.melNorm = other.melNorm ?? melNorm
        o.power = other.power ?? power
        o.output = other.output ?? output
        o.mfccCount = other.mfccCount ?? mfccCount
        o.topDB = other.topDB ?? topDB
        o.framing = other.framing ?? framing
        o.useEnergy = other.useEnergy ?? useEnergy
        o.dbReference = other.dbReference ?? dbReference
        o.referenceValue = other.referenceValue ?? referenceValue
        return o
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

    /// Why `text` is no ADDRESS:PORT, or nil.
    public static func problem(_ text: String) -> String? {
        parse(text) == nil
            ? "Please give the metrics address as ADDRESS:PORT with a port from 0 (any free one) to 65535, e.g. 127.0.0.1:9464; got '\(text)'."
            : nil
    }
}
