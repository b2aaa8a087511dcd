// The one sidecar schema, "meltap.features/2": what `meltap file` and `meltap record` write
// beside a feature file, and what readers (inversion, plotting, dataset manifests) read.
// Every key is documented in docs/file-format.md, "Sidecar"; the reader is FeatureSidecarReader.swift.

import Synchronization

/// The `.json` beside a feature file `X.npy` (`Sidecar.path(forFeatureFile:)`), for offline
/// analyses (`kind == .file`) and live recordings (`kind == .recording`) alike.
///
/// Common to both: the array's layout, the analysis and input sample rates and the resampler,
/// frame timing, the clamp rule, the analysed channels (numbered from 1) and the resolved
/// configuration. Then one source section: `file` (the audio file read) or `stream` (the socket
/// recorded), and for recordings the `recording` section (start, end, gaps, flagged rows).
///
/// Rates: `sampleRate` is the analysis rate, Hz: what `frameRate`, `firstSampleOfFrame0`, n_fft
/// and hop length count in. `inputSampleRate` is the rate of the input (the file's own rate, or
/// the JACK server's rate, which JACK frame times count in); they differ only when `resampler`
/// is present.
public struct FeatureSidecar: Codable, Sendable, Equatable {
    /// The schema written by this version; readers refuse any other `meltap.features/…`.
    public static let currentSchema = "meltap.features/2"

    /// `meltap.features/2`. A change that removes or redefines a key gets a new number; keys may
    /// be added within a version, and readers ignore keys they do not know.
    public var schema: String = FeatureSidecar.currentSchema
    /// What wrote the array: an offline analysis of a file, or a recording of a live stream.
    public var kind: Kind
    /// The meltap version that wrote the sidecar (absent in sidecars read from the old recording shape).
    public var meltapVersion: String?

    // MARK: The array
    /// Element type of the `.npy` data (numpy's name): always `float32`.
    public var dtype: String = "float32"
    /// The names of the array's dimensions: `(frames, bands)` or `(frames, channels, bands)`;
    /// with `axisOrder` bands-first, `(bands, frames)` or `(channels, bands, frames)`.
    public var layout: String
    /// The order of the axes; absent means frames-first (`FeatureAxisOrder`). Added within
    /// `meltap.features/2`: a reader that does not know the key still refuses a bands-first file,
    /// because its `layout` no longer matches `rowShape` the old way.
    public var axisOrder: FeatureAxisOrder?
    /// Shape of one frame: `[bands]`, or `[channels, bands]`. The array's shape is
    /// `[rows] + rowShape` (frames-first) or `rowShape + [rows]` (bands-first).
    public var rowShape: [Int]
    /// Rows (frames) in the finished file. Absent while a recording runs, and in the sidecar a
    /// killed recorder left: then the `.npy` header says how many complete rows there are.
    public var rows: Int?

    // MARK: Rates and timing
    /// The analysis rate, Hz (librosa `sr`; equals `configuration.sampleRate`).
    public var sampleRate: Double
    /// The input's rate, Hz: the audio file's own rate, or the JACK server's (frame times count in it).
    public var inputSampleRate: Double
    /// How the input was converted from `inputSampleRate` to `sampleRate`; absent when it was not.
    public var resampler: Resampling?
    /// Frames per second per channel, Hz (`sampleRate / hopLength`).
    public var frameRate: Double
    /// File analyses: the index of frame 0's first sample in the analysed signal, in samples at
    /// `sampleRate`; negative for left padding (−n_fft/2 with centred framing). Frame t starts at
    /// `t × hopLength + firstSampleOfFrame0`. Absent for recordings: see `recording.start`.
    public var firstSampleOfFrame0: Int?
    /// How top_db and Whisper's max − 8 clamp were applied: `global` (the maximum over the whole
    /// file, the reference's offline result) or `running` (the maximum so far, the live client's
    /// causal rule). Recordings carry the stream header's clamp rule as sent (`running`).
    public var clamp: String

    // MARK: What was analysed, and how
    /// The array's channels in order (the channel dimension, or the one channel), numbered from 1.
    public var channels: [Channel]
    /// The fully resolved configuration (preset and every DSP parameter) as a JSON object: the
    /// encoding of MelDSP's `MelConfiguration` (`configuration.decode(MelConfiguration.self)`).
    /// Integer outputs (the micro preset) have `outputScale` in it; see `outputScale`.
    public var configuration: JSONValue

    // MARK: Source: exactly one of these
    /// `kind == .file`: the audio file analysed.
    public var file: FileSource?
    /// `kind == .recording`: the stream recorded.
    public var stream: StreamSource?

    // MARK: Recordings only
    /// `kind == .recording`: row 0, the end, and every row that lost or flagged frames.
    public var recording: Recording?

    public enum Kind: String, Codable, Sendable {
        /// `meltap file`: offline analysis of an audio file, written atomically.
        case file
        /// `meltap record`: frames received from a running `meltap run`, written as they arrive.
        case recording
    }

    /// A sample-rate converter between the input and the analysis rate.
    public struct Resampling: Codable, Sendable, Equatable {
        /// `--resampler`'s name: `zita` (zita-resampler) or `sinc-best`, `sinc-medium`, `sinc-fastest` (libsamplerate's converters).
        public var name: String
        /// The library's version string. File analyses only (a recording knows the name the stream sent).
        public var library: String?
        /// Input samples the converter reads ahead (its latency; the output is time-aligned, so
        /// nothing is trimmed). File analyses only: a stream counts it in `stream.latencySamples`.
        public var lookaheadInputSamples: Int?

        public init(name: String, library: String? = nil, lookaheadInputSamples: Int? = nil) {
            self.name = name
            self.library = library
            self.lookaheadInputSamples = lookaheadInputSamples
        }
    }

    /// One channel of the array. Exactly one of `channel` and `averageOf` is present.
    public struct Channel: Codable, Sendable, Equatable {
        /// The input channel, numbered from 1: the file's channel, or the port `in_N` of the stream.
        public var channel: Int?
        /// `meltap file --mono`: the input channels (from 1) whose average was analysed.
        public var averageOf: [Int]?
        /// Recordings: the meltap input port's name, e.g. `in_1`.
        public var port: String?
        /// Recordings: what fed the port as the stream header says (e.g. `system:capture_1`);
        /// absent when unknown.
        public var source: String?

        public init(channel: Int? = nil, averageOf: [Int]? = nil, port: String? = nil, source: String? = nil) {
            self.channel = channel
            self.averageOf = averageOf
            self.port = port
            self.source = source
        }
    }

    /// The audio file a file analysis read.
    public struct FileSource: Codable, Sendable, Equatable {
        /// Absolute, standardised path of the file as given.
        public var path: String
        /// libsndfile's description of its format, e.g. `WAV (Microsoft), Signed 16 bit PCM`.
        public var format: String
        /// Channels in the file (analysed or not).
        public var channelCount: Int
        /// Sample frames read (samples per channel), at `inputSampleRate`.
        public var sampleFrames: Int64

        public init(path: String, format: String, channelCount: Int, sampleFrames: Int64) {
            self.path = path
            self.format = format
            self.channelCount = channelCount
            self.sampleFrames = sampleFrames
        }
    }

    /// The stream a recording received, as its header described it when recording began.
    public struct StreamSource: Codable, Sendable, Equatable {
        /// The Unix socket path of the `meltap run` recorded.
        public var socket: String
        /// The header's latency: samples at `sampleRate` between a frame's first sample and the
        /// moment it could be sent (capture latency, resampler, look-ahead, xrun hold).
        public var latencySamples: Int
        /// Channels the stream had (recorded or not); absent in sidecars of the old recording shape.
        public var channelCount: Int?

        public init(socket: String, latencySamples: Int, channelCount: Int? = nil) {
            self.socket = socket
            self.latencySamples = latencySamples
            self.channelCount = channelCount
        }
    }

    /// What happened during a recording. Written when recording starts (everything empty), again
    /// when row 0 is written (`start`), and at the end (`end`, and the full lists).
    public struct Recording: Codable, Sendable, Equatable {
        /// Row 0; absent until it is written.
        public var start: Start?
        /// Absent until the recording ends (a killed recorder leaves none).
        public var end: End?
        /// Frames a channel lost; their rows are not in the file.
        public var gaps: [Gap] = []
        /// Rows whose frame of a channel overlaps an xrun (wire flag `xrun`): its samples may be damaged.
        public var xruns: [FlaggedRows] = []
        /// Rows whose frame of a channel spans a jump of the input timeline (wire flag `discontinuity`).
        public var discontinuities: [FlaggedRows] = []
        /// New stream headers (with the same band count) received while recording.
        public var reconfigurations: [Reconfiguration] = []

        public init() {}

        /// Row 0: the first frame sequence every recorded channel delivered.
        public struct Start: Codable, Sendable, Equatable {
            /// JACK frame time (samples at `inputSampleRate`) of row 0's first sample, on the first
            /// recorded channel.
            public var jackFrameTime: Int64
            /// Row 0's frame sequence number; row r holds `sequence + r` plus the sequences lost
            /// before it (`gaps`).
            public var sequence: UInt64
            /// ISO 8601 wall-clock time when row 0 was written, e.g. `2025-01-31T12:00:00.123Z`.
            public var wallClock: String

            public init(jackFrameTime: Int64, sequence: UInt64, wallClock: String) {
                self.jackFrameTime = jackFrameTime
                self.sequence = sequence
                self.wallClock = wallClock
            }
        }

        /// How the recording ended. The rows written are the sidecar's `rows`.
        public struct End: Codable, Sendable, Equatable {
            /// Frames received from the socket, all recorded channels together.
            public var framesReceived: Int
            /// ISO 8601 wall-clock time of the end.
            public var wallClock: String
            /// `duration`, `interrupted`, `stream ended`, `band count changed`, or `write error: …`.
            public var reason: String

            public init(framesReceived: Int, wallClock: String, reason: String) {
                self.framesReceived = framesReceived
                self.wallClock = wallClock
                self.reason = reason
            }
        }

        /// Frames lost on one channel: sequences `fromSequence ..< toSequence` never arrived, so
        /// those rows are not in the file.
        public struct Gap: Codable, Sendable, Equatable {
            /// The channel, numbered from 1.
            public var channel: Int
            public var fromSequence: UInt64
            public var toSequence: UInt64
            /// Wire flags of the frame at `toSequence` (they include `gap`, 1).
            public var flags: UInt32
            /// Rows written before the gap was seen.
            public var atRow: Int

            public init(channel: Int, fromSequence: UInt64, toSequence: UInt64, flags: UInt32, atRow: Int) {
                self.channel = channel
                self.fromSequence = fromSequence
                self.toSequence = toSequence
                self.flags = flags
                self.atRow = atRow
            }
        }

        /// Consecutive rows `fromRow ..< toRow` whose frames of one channel carry a flag; they
        /// hold sequences `fromSequence ..< toSequence`.
        public struct FlaggedRows: Codable, Sendable, Equatable {
            /// The channel, numbered from 1.
            public var channel: Int
            public var fromRow: Int
            public var toRow: Int
            public var fromSequence: UInt64
            public var toSequence: UInt64

            public init(channel: Int, fromRow: Int, toRow: Int, fromSequence: UInt64, toSequence: UInt64) {
                self.channel = channel
                self.fromRow = fromRow
                self.toRow = toRow
                self.fromSequence = fromSequence
                self.toSequence = toSequence
            }
        }

        /// A new stream header received while recording.
        public struct Reconfiguration: Codable, Sendable, Equatable {
            /// Its analysis rate, Hz.
            public var sampleRate: Double
            /// Its frame rate, Hz.
            public var frameRate: Double
            /// Rows written before it arrived.
            public var atRow: Int

            public init(sampleRate: Double, frameRate: Double, atRow: Int) {
                self.sampleRate = sampleRate
                self.frameRate = frameRate
                self.atRow = atRow
            }
        }

        /// Adds `row` (frame `sequence` of `channel`, numbered from 1) to `ranges`: it extends the
        /// channel's last range when it follows it in both row and sequence, else starts a new one.
        public static func extend(_ ranges: inout [FlaggedRows], channel: Int, row: Int, sequence: UInt64) {
            if let index = ranges.lastIndex(where: { $0.channel == channel }),
               ranges[index].toRow == row, ranges[index].toSequence == sequence {
                ranges[index].toRow += 1
                ranges[index].toSequence += 1
            } else {
                ranges.append(.init(channel: channel, fromRow: row, toRow: row + 1, fromSequence: sequence,
                                    toSequence: sequence + 1))
            }
        }
    }

    public init(kind: Kind, meltapVersion: String?, rowShape: [Int], rows: Int?, sampleRate: Double,
                inputSampleRate: Double, resampler: Resampling?, frameRate: Double, firstSampleOfFrame0: Int?,
                clamp: String, channels: [Channel], configuration: JSONValue, file: FileSource? = nil,
                stream: StreamSource? = nil, recording: Recording? = nil, axisOrder: FeatureAxisOrder? = nil) {
        self.kind = kind
        self.meltapVersion = meltapVersion
        self.axisOrder = axisOrder == .framesFirst ? nil : axisOrder
        self.layout = (axisOrder ?? .framesFirst).layout(forRowShape: rowShape)
        self.rowShape = rowShape
        self.rows = rows
        self.sampleRate = sampleRate
        self.inputSampleRate = inputSampleRate
        self.resampler = resampler
        self.frameRate = frameRate
        self.firstSampleOfFrame0 = firstSampleOfFrame0
        self.clamp = clamp
        self.channels = channels
        self.configuration = configuration
        self.file = file
        self.stream = stream
        self.recording = recording
    }

    /// `(frames, bands)` for a row shape of one dimension, `(frames, channels, bands)` for two.
    public static func layout(forRowShape rowShape: [Int]) -> String {
        rowShape.count == 2 ? "(frames, channels, bands)" : "(frames, bands)"
    }

    /// The array's full shape, when the row count is known.
    public var shape: [Int]? { rows.map { (axisOrder ?? .framesFirst).shape(frames: $0, rowShape: rowShape) } }

    /// Integer outputs (the micro preset): each value is an integer times this (`configuration.outputScale`).
    public var outputScale: Double? { configuration["outputScale"]?.doubleValue }

    /// The preset the configuration started from (`configuration.preset`).
    public var preset: String? { configuration["preset"]?.stringValue }

    /// Writes the sidecar as pretty-printed JSON with sorted keys, atomically (`Sidecar.write`).
    /// - Parameter existing: `.replace` when a writer rewrites its own sidecar (a recording does).
    public func write(to path: String, existing: ExistingOutput = .refuse) throws {
        try Sidecar.write(self, to: path, existing: existing)
    }

    /// Writes the sidecar as `write(to:existing:)` does, byte for byte, with the configuration's
    /// JSON taken from `cache` rather than encoded again: `JSONEncoder` was ≈ 7 % of a dataset
    /// run's CPU, and the configuration (half the text) is the same for every file at a rate.
    public func write(to path: String, existing: ExistingOutput, cache: ConfigurationText) throws {
        var bytes = try cache.encode(self, for: path)
        bytes.append(0x0A)
        try Sidecar.writeFileAtomically(bytes, to: path, existing: existing)
    }

    /// One configuration's JSON text, nested as the sidecar nests it, for
    /// `write(to:existing:cache:)`. The sidecar is encoded with a placeholder string in place of
    /// the configuration and the text spliced in. Pretty-printing is the same at every depth but
    /// for the indentation (two spaces per level, and the configuration is one level down), and
    /// JSON strings hold no raw newlines, so indenting every line break of the configuration's own
    /// text gives the nested text (except an empty array or object, whose blank line stays
    /// unindented). So the first sidecar is also encoded whole and compared; on any difference
    /// the cache turns itself off and every sidecar is encoded whole.
    public final class ConfigurationText: @unchecked Sendable {
        public let configuration: JSONValue
        /// The configuration's text at depth 1; nil until checked against a whole encoding, and
        /// after a failed check (`disabled`).
        private let lock = Mutex<(text: [UInt8]?, disabled: Bool)>((nil, false))
        private static let placeholder = "meltap-configuration-placeholder"

        public init(configuration: JSONValue) { self.configuration = configuration }

        /// Whether the check on the first sidecar passed and later ones are spliced.
        public var isSplicing: Bool { lock.withLock { $0.text != nil } }

        func encode(_ sidecar: FeatureSidecar, for path: String) throws -> [UInt8] {
            let state = lock.withLock { $0 }
            if state.disabled || sidecar.configuration != configuration {
                return try Sidecar.encode(sidecar, for: path)
            }
            if let text = state.text { return try splice(sidecar, text: text, for: path) }
            var nested: [UInt8] = []
            for byte in try Sidecar.encode(configuration, for: path) {
                nested.append(byte)
                if byte == 0x0A { nested += [0x20, 0x20] }
            }
            let whole = try Sidecar.encode(sidecar, for: path)
            let spliced = try splice(sidecar, text: nested, for: path)
            lock.withLock { $0 = spliced == whole ? (nested, false) : (nil, true) }
            return whole
        }

        private func splice(_ sidecar: FeatureSidecar, text: [UInt8], for path: String) throws -> [UInt8] {
            var shell = sidecar
            shell.configuration = .string(Self.placeholder)
            let encoded = try Sidecar.encode(shell, for: path)
            let quoted = Array("\"\(Self.placeholder)\"".utf8)
            guard let start = firstRange(of: quoted, in: encoded) else { return try Sidecar.encode(sidecar, for: path) }
            return Array(encoded[..<start]) + text + Array(encoded[(start + quoted.count)...])
        }

        private func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
            guard haystack.count >= needle.count else { return nil }
            for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
                if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            }
            return nil
        }
    }
}
