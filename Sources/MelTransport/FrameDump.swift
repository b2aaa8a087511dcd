// meltap frame dump: every frame a `meltap run --dump-frames` consumer popped, in ring order.
// Meant for tests (docs/realtime.md). Little-endian throughout:
//   header  "MTFD", u32 version (= 1), u32 width, u32 channels, f64 analysis sample rate (Hz)
//   record  u64 sequence, u32 channel, u32 flags, i64 frame time, `width` float32 values

/// Encoder and decoder of the frame dump format, beside the wire codec and as pure: bytes in,
/// bytes out.
public enum FrameDump {
    /// The 4 bytes a dump starts with: ASCII "MTFD".
    public static let magic: [UInt8] = Array("MTFD".utf8)
    public static let version: UInt32 = 1
    /// Bytes of the header.
    public static let headerLength = 24
    /// Bytes of one record before its values.
    public static let recordFixedLength = 24

    /// What a dump's header says.
    public struct Header: Equatable, Sendable {
        /// Values per frame.
        public var width: Int
        public var channelCount: Int
        /// The analysis sample rate, Hz.
        public var sampleRate: Double

        public init(width: Int, channelCount: Int, sampleRate: Double) {
            self.width = width
            self.channelCount = channelCount
            self.sampleRate = sampleRate
        }
    }

    /// One dumped frame.
    public struct Frame: Equatable, Sendable {
        public var metadata: FrameMetadata
        public var values: [Float]

        public init(metadata: FrameMetadata, values: [Float]) {
            self.metadata = metadata
            self.values = values
        }
    }

    /// The header's 24 bytes.
    public static func encode(_ header: Header) -> [UInt8] {
        var bytes = magic
        bytes.reserveCapacity(headerLength)
        appendLittleEndian(version, to: &bytes)
        appendLittleEndian(UInt32(header.width), to: &bytes)
        appendLittleEndian(UInt32(header.channelCount), to: &bytes)
        appendLittleEndian(header.sampleRate.bitPattern, to: &bytes)
        return bytes
    }

    /// Appends one record to `bytes` (which the caller reuses between frames).
    public static func appendRecord(metadata: FrameMetadata, values: UnsafeBufferPointer<Float>, to bytes: inout [UInt8]) {
        appendLittleEndian(metadata.sequence, to: &bytes)
        appendLittleEndian(metadata.channel, to: &bytes)
        appendLittleEndian(metadata.flags.rawValue, to: &bytes)
        appendLittleEndian(UInt64(bitPattern: metadata.frameTime), to: &bytes)
        for value in values { appendLittleEndian(value.bitPattern, to: &bytes) }
    }

    /// Decodes a whole dump. A truncated last record (a run killed mid-write) is left out.
    /// - Throws: `WireFormatError.badMagic` / `.unsupportedVersion` when `bytes` is not a version-1 dump.
    public static func decode(_ bytes: [UInt8]) throws -> (header: Header, frames: [Frame]) {
        guard bytes.count >= headerLength, Array(bytes[0..<4]) == magic else {
            throw WireFormatError(.badMagic, "not a meltap frame dump: it does not start with MTFD")
        }
        guard readU32(bytes, 4) == version else {
            throw WireFormatError(.unsupportedVersion, "frame dump version \(readU32(bytes, 4)); this reader knows version 1")
        }
        let header = Header(width: Int(readU32(bytes, 8)), channelCount: Int(readU32(bytes, 12)),
                            sampleRate: Double(bitPattern: readU64(bytes, 16)))
        let recordLength = recordFixedLength + 4 * header.width
        var frames: [Frame] = []
        var offset = headerLength
        while bytes.count - offset >= recordLength {
            let metadata = FrameMetadata(sequence: readU64(bytes, offset), channel: readU32(bytes, offset + 8),
                                         frameTime: Int64(bitPattern: readU64(bytes, offset + 16)),
                                         flags: FrameFlags(rawValue: readU32(bytes, offset + 12)))
            let values = (0..<header.width).map { Float(bitPattern: readU32(bytes, offset + recordFixedLength + 4 * $0)) }
            frames.append(Frame(metadata: metadata, values: values))
            offset += recordLength
        }
        return (header, frames)
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func readU32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    private static func readU64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        UInt64(readU32(bytes, offset)) | UInt64(readU32(bytes, offset + 4)) << 32
    }
}
