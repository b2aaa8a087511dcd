/// Flags carried by a frame: what happened in the stream just before it.
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Frames of this channel were lost before this one: the sequence number jumps (realtime ring
    /// full, a subscriber's queue full, the publisher's backlog full). Set on nothing else.
    public static let gap = FrameFlags(rawValue: 1 << 0)
    /// The frame's analysis window overlaps a stretch of input that JACK reported as an xrun:
    /// its samples may not be what the source sent.
    public static let xrun = FrameFlags(rawValue: 1 << 1)
    /// The configuration changed before this frame (sample rate); a new header precedes it.
    public static let reconfigured = FrameFlags(rawValue: 1 << 2)
    /// The JACK server went away and came back before this frame: frame time starts a new epoch
    /// (it may go backwards).
    public static let serverRestart = FrameFlags(rawValue: 1 << 3)
    /// The input timeline inside the frame's window is not contiguous (skipped cycles, a
    /// buffer-size change, a restart or reconfiguration): the frame time does not follow the
    /// previous frame's by hop_length.
    public static let discontinuity = FrameFlags(rawValue: 1 << 4)
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
