/// Flags carried by a frame: what happened in the stream just before it.
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Frames were lost before this one (ring full, subscriber queue full, server restart).
    public static let gap = FrameFlags(rawValue: 1 << 0)
    /// A JACK xrun happened before this frame.
    public static let xrun = FrameFlags(rawValue: 1 << 1)
    /// The configuration changed before this frame (sample rate); a new header precedes it.
    public static let reconfigured = FrameFlags(rawValue: 1 << 2)
    /// The JACK server went away and came back before this frame.
    public static let serverRestart = FrameFlags(rawValue: 1 << 3)
}

/// What travels with every frame, from the realtime ring to the socket and the recorder.
public struct FrameMetadata: Sendable, Equatable {
    /// Frame index within its channel's stream, counting from 0; gaps show as jumps.
    public var sequence: UInt64
    /// Channel index, 0-based (port `in_1` is channel 0).
    public var channel: UInt32
    /// JACK frame time (in samples, extended to 64 bits) of the frame's first sample.
    /// With centred framing the first sample lies n_fft/2 before the first real one.
    public var frameTime: Int64
    public var flags: FrameFlags

    public init(sequence: UInt64, channel: UInt32, frameTime: Int64, flags: FrameFlags = []) {
        self.sequence = sequence
        self.channel = channel
        self.frameTime = frameTime
        self.flags = flags
    }
}
