/// Incremental decoder of wire messages: feed bytes in chunks of any size with `append`, take
/// whole messages out with `next()`.
///
/// After the first error the decoder is out of sync with the stream for good: every later
/// `next()` throws the same error; the connection should be closed. Not thread-safe: one owner.
public struct WireDecoder {
    /// Payloads longer than this are rejected with `.payloadTooLarge`, in bytes.
    public let maximumPayloadLength: Int
    /// Received bytes; `buffer[readIndex...]` are not yet consumed.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var failure: WireFormatError?

    /// - Parameter maximumPayloadLength: bound on one payload, in bytes; at most 16 MiB
    ///   (`WireFormat.defaultMaximumPayloadLength`), the default.
    public init(maximumPayloadLength: Int = WireFormat.defaultMaximumPayloadLength) {
        self.maximumPayloadLength = min(maximumPayloadLength, WireFormat.defaultMaximumPayloadLength)
    }

    /// Bytes received but not yet returned as messages.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Adds received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// Adds received bytes.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// The next whole message, or nil when more bytes are needed.
    /// Throws `WireFormatError` on bytes that are not a valid version-1 message.
    public mutating func next() throws -> WireMessage? {
        if let failure { throw failure }
        do {
            return try decodeNext()
        } catch let error as WireFormatError {
            failure = error
            throw error
        }
    }

    /// Call when the stream has ended: throws `.truncated` if it ended inside a message.
    public func finish() throws {
        if let failure { throw failure }
        if bufferedByteCount > 0 {
            throw WireFormatError(.truncated,
                                  "stream ended inside a message (\(bufferedByteCount) bytes left over); "
                                  + "the sender stopped mid-message")
        }
    }

    private mutating func compactIfWorthwhile() {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }

    private mutating func decodeNext() throws -> WireMessage? {
        let available = buffer.count - readIndex
        // Check the magic as soon as its first byte arrives, so garbage fails fast.
        for i in 0..<min(4, available) where buffer[readIndex + i] != WireFormat.magic[i] {
            throw WireFormatError(.badMagic,
                                  "bytes do not start with \"MTAP\": not a meltap stream, or out of sync; "
                                  + "close the connection and reconnect")
        }
        guard available >= WireFormat.prefixLength else { return nil }
        let (version, type, payloadLength) = buffer.withUnsafeBytes { raw in
            (UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: readIndex + 4, as: UInt16.self)),
             UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: readIndex + 6, as: UInt16.self)),
             Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: readIndex + 8, as: UInt32.self))))
        }
        guard version == WireFormat.version else {
            throw WireFormatError(.unsupportedVersion,
                                  "wire format version \(version) is not supported (this reader speaks "
                                  + "version \(WireFormat.version)); use matching meltap and client versions")
        }
        guard payloadLength <= maximumPayloadLength else {
            throw WireFormatError(.payloadTooLarge,
                                  "payload of \(payloadLength) bytes is over the bound of "
                                  + "\(maximumPayloadLength) bytes; the stream is corrupt or out of sync")
        }
        guard available >= WireFormat.prefixLength + payloadLength else { return nil }
        let start = readIndex + WireFormat.prefixLength
        readIndex = start + payloadLength
        return try buffer.withUnsafeBytes { raw in
            var reader = PayloadReader(bytes: UnsafeRawBufferPointer(rebasing: raw[start..<(start + payloadLength)]))
            switch WireMessageType(rawValue: type) {
            case .header: return .header(try reader.readHeader())
            case .frame: return try reader.readFrame()
            case .stats: return .stats(try reader.readStats())
            case .subscribe: return .subscribe(channels: try reader.readSubscribe())
            case .refusal: return .refusal(try reader.readRefusal())
            case .status: return .status(json: Array(try reader.readBytes(payloadLength, "status JSON")))
            case .statusRequest:
                guard payloadLength == 0 else {
                    throw WireFormatError(.malformedPayload, "a status request carries no payload; this one has \(payloadLength) bytes")
                }
                return .statusRequest
            case nil: return .unknown(type: type, payloadLength: payloadLength)
            }
        }
    }
}

/// Reads fields in order from one payload, checking each fits.
private struct PayloadReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    var remaining: Int { bytes.count - offset }

    func malformed(_ what: String) -> WireFormatError {
        WireFormatError(.malformedPayload, "malformed message: \(what); the sender is broken or out of sync")
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        guard remaining >= MemoryLayout<T>.size else {
            throw malformed("payload too short for \(field)")
        }
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return value
    }

    mutating func readBytes(_ count: Int, _ field: String) throws -> UnsafeRawBufferPointer {
        guard count >= 0, remaining >= count else { throw malformed("payload too short for \(field)") }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    mutating func readString(_ count: Int, _ field: String) throws -> String {
        let raw = try readBytes(count, field)
        guard let string = String(validating: raw.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw malformed("\(field) is not valid UTF-8")
        }
        return string
    }

    mutating func readFrame() throws -> WireMessage {
        let sequence = try read(UInt64.self, "sequence")
        let channel = try read(UInt32.self, "channel")
        let flags = try read(UInt32.self, "flags")
        let frameTime = try read(Int64.self, "frame time")
        let bandCount = Int(try read(UInt32.self, "band count"))
        guard remaining == 4 * bandCount else {
            throw malformed("frame says \(bandCount) bands but carries \(remaining) value bytes")
        }
        let values = [Float](unsafeUninitializedCapacity: bandCount) { out, initialized in
            for i in 0..<bandCount {
                out[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4 * i,
                                                                                    as: UInt32.self)))
            }
            initialized = bandCount
        }
        offset += 4 * bandCount
        let metadata = FrameMetadata(sequence: sequence, channel: channel, frameTime: frameTime,
                                     flags: FrameFlags(rawValue: flags))
        return .frame(metadata, values: values)
    }

    mutating func readHeader() throws -> StreamHeader {
        let sampleRate = Double(bitPattern: try read(UInt64.self, "sample rate"))
        let frameRate = Double(bitPattern: try read(UInt64.self, "frame rate"))
        let bandCount = try read(UInt32.self, "band count")
        let channelCount = Int(try read(UInt32.self, "channel count"))
        let formatCode = try read(UInt32.self, "sample format")
        guard let format = WireSampleFormat(rawValue: formatCode) else {
            throw malformed("unknown sample format code \(formatCode) (1 = float32)")
        }
        let latency = try read(UInt32.self, "latency")
        let hopLength = try read(UInt32.self, "hop length")
        let fftLength = try read(UInt32.self, "FFT length")
        let jsonLength = Int(try read(UInt32.self, "configuration length"))
        let clampLength = Int(try read(UInt16.self, "clamp rule length"))
        _ = try read(UInt16.self, "reserved")
        let json = Array(try readBytes(jsonLength, "configuration JSON"))
        let clampRule = try readString(clampLength, "clamp rule")
        // Each channel entry takes at least 8 bytes: bound the count before reserving.
        guard channelCount <= remaining / 8 else {
            throw malformed("header says \(channelCount) channels but has room for at most \(remaining / 8)")
        }
        var channels: [ChannelInfo] = []
        channels.reserveCapacity(channelCount)
        for expected in 0..<channelCount {
            let index = try read(UInt32.self, "channel index")
            guard index == expected else {
                throw malformed("channel entry \(expected) carries index \(index)")
            }
            let nameLength = Int(try read(UInt16.self, "channel name length"))
            let sourceLength = Int(try read(UInt16.self, "channel source length"))
            let name = try readString(nameLength, "channel name")
            let source = try readString(sourceLength, "channel source")
            channels.append(ChannelInfo(name: name, source: source))
        }
        // Bytes past the known fields are reserved for later additions and ignored.
        return StreamHeader(sampleRate: sampleRate, frameRate: frameRate, bandCount: bandCount,
                            sampleFormat: format, latencySamples: latency, hopLength: hopLength,
                            fftLength: fftLength, clampRule: clampRule, configurationJSON: json,
                            channels: channels)
    }

    mutating func readStats() throws -> StreamStats {
        // Bytes past the four known counters are later counters and ignored.
        StreamStats(frames: try read(UInt64.self, "frames"), drops: try read(UInt64.self, "drops"),
                    xruns: try read(UInt64.self, "xruns"),
                    subscriberDrops: try read(UInt64.self, "subscriber drops"))
    }

    mutating func readRefusal() throws -> Refusal {
        let code = try read(UInt32.self, "refusal reason")
        let length = Int(try read(UInt32.self, "refusal message length"))
        guard length <= Refusal.maximumMessageLength, length == remaining else {
            throw malformed("refusal message of \(length) bytes in a payload with \(remaining) left")
        }
        let text = try readBytes(length, "refusal message")
        return Refusal(Refusal.Reason(rawValue: code) ?? .other, String(decoding: text, as: UTF8.self))
    }

    mutating func readSubscribe() throws -> [UInt32] {
        let count = Int(try read(UInt32.self, "channel count"))
        guard remaining == 4 * count else {
            throw malformed("subscribe lists \(count) channels but carries \(remaining) bytes of them")
        }
        return (0..<count).map { _ in
            let value = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            offset += 4
            return value
        }
    }
}
