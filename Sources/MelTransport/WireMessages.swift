// The values that travel over the wire, independent of their byte layout (see WireFormat.swift
// and docs/wire-format.md for the layout).

/// One input channel as described in the stream header; its index is its position in
/// `StreamHeader.channels` (channel 0 is port `in_1`).
public struct ChannelInfo: Sendable, Equatable {
    /// The meltap input port's short name, e.g. `in_1`. UTF-8, at most 65535 bytes.
    public var name: String
    /// What feeds the channel, e.g. the connected JACK port `system:capture_1` or a file path;
    /// empty when unknown. UTF-8, at most 65535 bytes.
    public var source: String

    public init(name: String, source: String = "") {
        self.name = name
        self.source = source
    }
}

/// Sample format code of the band values in frame messages.
public enum WireSampleFormat: UInt32, Sendable {
    /// IEEE 754 binary32, little-endian.
    case float32 = 1
}

/// Describes the frames that follow it: sent to each subscriber on connect and again to all of
/// them whenever the configuration changes (a frame with `.reconfigured` follows).
public struct StreamHeader: Sendable, Equatable {
    /// Audio sample rate in Hz (librosa `sr`).
    public var sampleRate: Double
    /// Frames per second per channel, in Hz (normally `sampleRate / hopLength`).
    public var frameRate: Double
    /// Values per frame (librosa `n_mels`, or MFCC coefficient count).
    public var bandCount: UInt32
    /// Sample format of the band values; only `.float32` exists in version 1.
    public var sampleFormat: WireSampleFormat
    /// Samples between a frame's first sample and the moment it can be emitted (look-ahead plus
    /// buffering), in samples at `sampleRate`.
    public var latencySamples: UInt32
    /// Samples between consecutive frames (librosa `hop_length`).
    public var hopLength: UInt32
    /// FFT length in samples (librosa `n_fft`); with centred framing a frame's first sample lies
    /// `fftLength / 2` before the sample it is centred on.
    public var fftLength: UInt32
    /// Name of the causal rule used live where the offline reference clamps at the global
    /// maximum (e.g. `running-max`), or `none`. UTF-8, at most 65535 bytes.
    public var clampRule: String
    /// The fully resolved configuration (preset and every DSP parameter) as UTF-8 JSON.
    /// Opaque to the transport: carried byte for byte.
    public var configurationJSON: [UInt8]
    /// The input channels, in channel index order.
    public var channels: [ChannelInfo]

    /// Number of channels; always `channels.count`.
    public var channelCount: Int { channels.count }

    public init(
        sampleRate: Double, frameRate: Double, bandCount: UInt32,
        sampleFormat: WireSampleFormat = .float32, latencySamples: UInt32, hopLength: UInt32,
        fftLength: UInt32, clampRule: String, configurationJSON: [UInt8], channels: [ChannelInfo]
    ) {
        self.sampleRate = sampleRate
        self.frameRate = frameRate
        self.bandCount = bandCount
        self.sampleFormat = sampleFormat
        self.latencySamples = latencySamples
        self.hopLength = hopLength
        self.fftLength = fftLength
        self.clampRule = clampRule
        self.configurationJSON = configurationJSON
        self.channels = channels
    }
}

/// Counters the server may send now and then. All counts are totals since the server started.
public struct StreamStats: Sendable, Equatable {
    /// Frames produced (all channels).
    public var frames: UInt64
    /// Frames lost before reaching the publisher (realtime ring full).
    public var drops: UInt64
    /// JACK xruns seen.
    public var xruns: UInt64
    /// Frames not delivered to some subscriber (its queue was full, or the publisher's backlog).
    public var subscriberDrops: UInt64

    public init(frames: UInt64 = 0, drops: UInt64 = 0, xruns: UInt64 = 0, subscriberDrops: UInt64 = 0) {
        self.frames = frames
        self.drops = drops
        self.xruns = xruns
        self.subscriberDrops = subscriberDrops
    }
}

/// One decoded message.
public enum WireMessage: Sendable, Equatable {
    /// Server → subscriber: stream description.
    case header(StreamHeader)
    /// Server → subscriber: one frame of one channel; `values.count` is its band count.
    case frame(FrameMetadata, values: [Float])
    /// Server → subscriber: counters.
    case stats(StreamStats)
    /// Subscriber → server: deliver only these channel indices; empty means all channels.
    case subscribe(channels: [UInt32])
    /// Server → subscriber: a request turned down; the server closes the connection after it.
    case refusal(Refusal)
    /// Server → subscriber: the instance's status, a UTF-8 JSON document (docs/wire-format.md).
    case status(json: [UInt8])
    /// Subscriber → server: ask for one `status`.
    case statusRequest
    /// A message type this version does not know; its payload was skipped. Readers ignore it.
    case unknown(type: UInt16, payloadLength: Int)
}

/// Why the server turned a subscriber away, in words a person can act on. The server closes the
/// connection after sending it; clients show `message` to their user.
public struct Refusal: Sendable, Equatable, CustomStringConvertible {
    /// Machine-readable reason (u32 on the wire). Unknown codes decode as `.other`.
    public enum Reason: UInt32, Sendable {
        /// Any reason this version does not name.
        case other = 0
        /// The server already serves `--max-subscribers` subscribers.
        case tooManySubscribers = 1
        /// A Subscribe message named a channel index the stream does not have.
        case unknownChannel = 2
    }

    /// Longest explanation carried, in UTF-8 bytes; longer ones are cut when encoded.
    public static let maximumMessageLength = 4096

    public var reason: Reason
    /// The explanation, e.g. "meltap at /run/… serves 64 subscribers, its --max-subscribers; …".
    public var message: String
    public var description: String { message }

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }
}
