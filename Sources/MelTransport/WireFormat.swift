// meltap wire format, version 1: constants, message types, errors and the encoder.
// Byte layout with every offset: docs/wire-format.md. All integers and floats little-endian.
//
// Every message = 12-byte prefix + payload:
//   0  magic "MTAP" (4 bytes)   4  version u16 (= 1)   6  message type u16   8  payload length u32

/// Constants of the wire format.
public enum WireFormat {
    /// The 4 bytes every message starts with: ASCII "MTAP".
    public static let magic: [UInt8] = [0x4D, 0x54, 0x41, 0x50]
    /// The version this code writes and the only one it reads.
    public static let version: UInt16 = 1
    /// Bytes before each payload: magic, version, type, payload length.
    public static let prefixLength = 12
    /// Largest payload a decoder accepts by default, in bytes (16 MiB).
    public static let defaultMaximumPayloadLength = 16 << 20

    /// Bytes of a frame payload before its band values.
    public static let framePayloadFixedLength = 28
    /// Bytes of a header payload before its variable parts.
    public static let headerPayloadFixedLength = 48
    /// Bytes of a stats payload in version 1 (longer payloads: extra counters, ignored).
    public static let statsPayloadLength = 32
    /// Offset of the flags field within a whole frame message (prefix included).
    public static let frameFlagsOffset = prefixLength + 12

    /// Bytes of a whole frame message with `bandCount` values.
    @inlinable
    public static func frameMessageLength(bandCount: Int) -> Int {
        prefixLength + framePayloadFixedLength + 4 * bandCount
    }
}

/// Message type codes (the u16 at offset 6).
public enum WireMessageType: UInt16, Sendable {
    /// Server → subscriber: `StreamHeader`.
    case header = 1
    /// Server → subscriber: one frame.
    case frame = 2
    /// Server → subscriber: `StreamStats`.
    case stats = 3
    /// Server → subscriber: `Refusal`, a request the server turns down; the server closes the
    /// connection after it.
    case refusal = 4
    /// Server → subscriber: the running instance's status as UTF-8 JSON, the answer to a
    /// `statusRequest` and sent to no one else (docs/wire-format.md, `meltap status`).
    case status = 5
    /// Subscriber → server: channel subset.
    case subscribe = 16
    /// Subscriber → server: please send one `status`. Empty payload. Servers before it ignore it.
    case statusRequest = 17
}

/// A wire-format error: what was wrong with the bytes, and what to do.
public struct WireFormatError: Error, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The stream does not start with "MTAP": not a meltap stream, or out of sync.
        case badMagic
        /// The version field is not one this reader speaks.
        case unsupportedVersion
        /// The payload length is above the reader's bound.
        case payloadTooLarge
        /// A payload's fields do not fit its length or hold impossible values.
        case malformedPayload
        /// The stream ended inside a message.
        case truncated
        /// A value to encode does not fit its field.
        case valueTooLarge
    }

    public var code: Code
    public var message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// Writes wire messages. Two forms: `encodeFrame(_:values:into:)` writes into caller-owned
/// memory without allocating (the server's per-frame path); the `append…` functions append to a
/// `[UInt8]`.
public enum WireEncoder {
    /// Writes one whole frame message (prefix included) at the start of `destination`.
    /// Returns the bytes written, `WireFormat.frameMessageLength(bandCount: values.count)`.
    /// Does not allocate. Precondition: `destination` holds at least that many bytes.
    @inlinable
    public static func encodeFrame(
        _ metadata: FrameMetadata, values: UnsafeBufferPointer<Float>,
        into destination: UnsafeMutableRawBufferPointer
    ) -> Int {
        let length = WireFormat.frameMessageLength(bandCount: values.count)
        precondition(destination.count >= length, "frame message needs \(length) bytes")
        let payloadLength = UInt32(length - WireFormat.prefixLength)
        writePrefix(type: .frame, payloadLength: payloadLength, into: destination)
        let p = WireFormat.prefixLength
        destination.storeBytes(of: metadata.sequence.littleEndian, toByteOffset: p, as: UInt64.self)
        destination.storeBytes(of: metadata.channel.littleEndian, toByteOffset: p + 8, as: UInt32.self)
        destination.storeBytes(of: metadata.flags.rawValue.littleEndian, toByteOffset: p + 12, as: UInt32.self)
        destination.storeBytes(of: metadata.frameTime.littleEndian, toByteOffset: p + 16, as: Int64.self)
        destination.storeBytes(of: UInt32(values.count).littleEndian, toByteOffset: p + 24, as: UInt32.self)
        var offset = p + WireFormat.framePayloadFixedLength
        for value in values {
            destination.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: offset, as: UInt32.self)
            offset += 4
        }
        return length
    }

    /// Appends one frame message.
    public static func appendFrame(_ metadata: FrameMetadata, values: [Float], to bytes: inout [UInt8]) {
        let start = bytes.count
        let length = WireFormat.frameMessageLength(bandCount: values.count)
        bytes.append(contentsOf: repeatElement(0, count: length))
        bytes.withUnsafeMutableBytes { all in
            values.withUnsafeBufferPointer { v in
                _ = encodeFrame(metadata, values: v, into: UnsafeMutableRawBufferPointer(rebasing: all[start...]))
            }
        }
    }

    /// Appends one header message. Throws `.valueTooLarge` when a string is over 65535 bytes
    /// or the payload is over `WireFormat.defaultMaximumPayloadLength`.
    public static func appendHeader(_ header: StreamHeader, to bytes: inout [UInt8]) throws {
        var payload: [UInt8] = []
        payload.reserveCapacity(WireFormat.headerPayloadFixedLength + header.configurationJSON.count + 64)
        let clamp = Array(header.clampRule.utf8)
        guard clamp.count <= Int(UInt16.max) else {
            throw WireFormatError(.valueTooLarge, "clamp rule name is \(clamp.count) bytes; at most 65535 fit")
        }
        guard UInt32(exactly: header.channels.count) != nil,
              UInt32(exactly: header.configurationJSON.count) != nil else {
            throw WireFormatError(.valueTooLarge, "header too large")
        }
        put(header.sampleRate.bitPattern, &payload)
        put(header.frameRate.bitPattern, &payload)
        put(header.bandCount, &payload)
        put(UInt32(header.channels.count), &payload)
        put(header.sampleFormat.rawValue, &payload)
        put(header.latencySamples, &payload)
        put(header.hopLength, &payload)
        put(header.fftLength, &payload)
        put(UInt32(header.configurationJSON.count), &payload)
        put(UInt16(clamp.count), &payload)
        put(UInt16(0), &payload)  // reserved
        payload.append(contentsOf: header.configurationJSON)
        payload.append(contentsOf: clamp)
        for (index, channel) in header.channels.enumerated() {
            let name = Array(channel.name.utf8), source = Array(channel.source.utf8)
            guard name.count <= Int(UInt16.max), source.count <= Int(UInt16.max) else {
                throw WireFormatError(.valueTooLarge,
                                      "channel \(index) name or source is over 65535 bytes; shorten it")
            }
            put(UInt32(index), &payload)
            put(UInt16(name.count), &payload)
            put(UInt16(source.count), &payload)
            payload.append(contentsOf: name)
            payload.append(contentsOf: source)
        }
        guard payload.count <= WireFormat.defaultMaximumPayloadLength else {
            throw WireFormatError(.valueTooLarge,
                                  "header payload is \(payload.count) bytes; readers accept at most 16 MiB")
        }
        appendPrefix(type: .header, payloadLength: UInt32(payload.count), to: &bytes)
        bytes.append(contentsOf: payload)
    }

    /// Appends one stats message.
    public static func appendStats(_ stats: StreamStats, to bytes: inout [UInt8]) {
        appendPrefix(type: .stats, payloadLength: UInt32(WireFormat.statsPayloadLength), to: &bytes)
        put(stats.frames, &bytes)
        put(stats.drops, &bytes)
        put(stats.xruns, &bytes)
        put(stats.subscriberDrops, &bytes)
    }

    /// Appends one subscribe message: deliver only `channels` (indices); empty means all.
    public static func appendSubscribe(channels: [UInt32], to bytes: inout [UInt8]) {
        appendPrefix(type: .subscribe, payloadLength: UInt32(4 + 4 * channels.count), to: &bytes)
        put(UInt32(channels.count), &bytes)
        for channel in channels { put(channel, &bytes) }
    }

    /// Appends one status message: the JSON document's bytes are the whole payload.
    public static func appendStatus(json: [UInt8], to bytes: inout [UInt8]) {
        appendPrefix(type: .status, payloadLength: UInt32(json.count), to: &bytes)
        bytes.append(contentsOf: json)
    }

    /// Appends one refusal message: reason code, then the explanation as UTF-8 (cut to
    /// `Refusal.maximumMessageLength` bytes at a character boundary).
    public static func appendRefusal(_ refusal: Refusal, to bytes: inout [UInt8]) {
        var text = Array(refusal.message.utf8)
        if text.count > Refusal.maximumMessageLength {
            text.removeLast(text.count - Refusal.maximumMessageLength)
            while !text.isEmpty, String(validating: text, as: UTF8.self) == nil { text.removeLast() }
        }
        appendPrefix(type: .refusal, payloadLength: UInt32(8 + text.count), to: &bytes)
        put(refusal.reason.rawValue, &bytes)
        put(UInt32(text.count), &bytes)
        bytes.append(contentsOf: text)
    }

    /// Encodes any message into a new array. `.unknown` cannot be encoded (`.valueTooLarge`
    /// is not thrown for it; it traps), as it has no payload to write.
    public static func encode(_ message: WireMessage) throws -> [UInt8] {
        var bytes: [UInt8] = []
        switch message {
        case .header(let header): try appendHeader(header, to: &bytes)
        case .frame(let metadata, let values): appendFrame(metadata, values: values, to: &bytes)
        case .stats(let stats): appendStats(stats, to: &bytes)
        case .subscribe(let channels): appendSubscribe(channels: channels, to: &bytes)
        case .refusal(let refusal): appendRefusal(refusal, to: &bytes)
        case .status(let json): appendStatus(json: json, to: &bytes)
        case .statusRequest: appendPrefix(type: .statusRequest, payloadLength: 0, to: &bytes)
        case .unknown: preconditionFailure("an .unknown message has no payload to encode")
        }
        return bytes
    }

    @inlinable
    static func writePrefix(type: WireMessageType, payloadLength: UInt32,
                            into destination: UnsafeMutableRawBufferPointer) {
        destination[0] = 0x4D; destination[1] = 0x54; destination[2] = 0x41; destination[3] = 0x50  // "MTAP"
        destination.storeBytes(of: WireFormat.version.littleEndian, toByteOffset: 4, as: UInt16.self)
        destination.storeBytes(of: type.rawValue.littleEndian, toByteOffset: 6, as: UInt16.self)
        destination.storeBytes(of: payloadLength.littleEndian, toByteOffset: 8, as: UInt32.self)
    }

    static func appendPrefix(type: WireMessageType, payloadLength: UInt32, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: WireFormat.magic)
        put(WireFormat.version, &bytes)
        put(type.rawValue, &bytes)
        put(payloadLength, &bytes)
    }

    static func put<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
