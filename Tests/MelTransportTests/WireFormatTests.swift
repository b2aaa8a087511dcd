import Testing
@testable import MelTransport

/// Little-endian bytes of an integer, for writing expected byte arrays readably.
private func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

private let sampleHeader = StreamHeader(
    sampleRate: 16000, frameRate: 100, bandCount: 80, latencySamples: 560, hopLength: 160,
    fftLength: 400, clampRule: "running-max",
    configurationJSON: Array(#"{"preset":"whisper"}"#.utf8),
    channels: [ChannelInfo(name: "in_1", source: "system:capture_1"), ChannelInfo(name: "in_2")])

@Suite struct WireFormatGoldenBytes {
    @Test func frameMessageBytes() throws {
        let metadata = FrameMetadata(sequence: 0x0102_0304_0506_0708, channel: 3, frameTime: -2,
                                     flags: [.gap, .xrun])
        let bytes = try WireEncoder.encode(.frame(metadata, values: [1.0, -2.5]))
        let expected: [UInt8] = [
            0x4D, 0x54, 0x41, 0x50,  // "MTAP"
            0x01, 0x00,  // version 1
            0x02, 0x00,  // type 2 = frame
            0x24, 0x00, 0x00, 0x00,  // payload 36 = 28 + 2 × 4
            0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // sequence
            0x03, 0x00, 0x00, 0x00,  // channel 3
            0x03, 0x00, 0x00, 0x00,  // flags gap | xrun
            0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // frame time -2
            0x02, 0x00, 0x00, 0x00,  // 2 bands
            0x00, 0x00, 0x80, 0x3F,  // 1.0
            0x00, 0x00, 0x20, 0xC0,  // -2.5
        ]
        #expect(bytes == expected, "expected \(expected), observed \(bytes)")
        #expect(bytes.count == WireFormat.frameMessageLength(bandCount: 2))
    }

    @Test func rawFrameEncoderMatchesArrayEncoder() {
        let metadata = FrameMetadata(sequence: 9, channel: 1, frameTime: 123_456, flags: .reconfigured)
        let values: [Float] = (0..<17).map { Float($0) * 0.25 - 1 }
        var viaArray: [UInt8] = []
        WireEncoder.appendFrame(metadata, values: values, to: &viaArray)
        var raw = [UInt8](repeating: 0xAA, count: WireFormat.frameMessageLength(bandCount: 17) + 5)
        let written = raw.withUnsafeMutableBytes { destination in
            values.withUnsafeBufferPointer { WireEncoder.encodeFrame(metadata, values: $0, into: destination) }
        }
        #expect(written == viaArray.count)
        #expect(Array(raw[0..<written]) == viaArray)
        #expect(raw[written...].allSatisfy { $0 == 0xAA }, "encoder wrote past its message")
    }

    @Test func statsMessageBytes() throws {
        let bytes = try WireEncoder.encode(.stats(StreamStats(frames: 1000, drops: 2, xruns: 1, subscriberDrops: 0x1_0000_0000)))
        let expected: [UInt8] = [0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x00]
            + [0xE8, 0x03, 0, 0, 0, 0, 0, 0] + [2, 0, 0, 0, 0, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0]
            + [0, 0, 0, 0, 1, 0, 0, 0]
        #expect(bytes == expected, "expected \(expected), observed \(bytes)")
    }

    @Test func subscribeMessageBytes() throws {
        let bytes = try WireEncoder.encode(.subscribe(channels: [0, 5]))
        let expected: [UInt8] = [0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x10, 0x00, 0x0C, 0x00, 0x00, 0x00,
                                 0x02, 0, 0, 0, 0x00, 0, 0, 0, 0x05, 0, 0, 0]
        #expect(bytes == expected, "expected \(expected), observed \(bytes)")
        #expect(try WireEncoder.encode(.subscribe(channels: [])) == Array(expected[0..<8]) + [4, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func headerMessageBytes() throws {
        let header = StreamHeader(sampleRate: 48000, frameRate: 93.75, bandCount: 128, latencySamples: 1024,
                                  hopLength: 512, fftLength: 2048, clampRule: "none",
                                  configurationJSON: Array("{}".utf8),
                                  channels: [ChannelInfo(name: "in_1", source: "a:b")])
        let bytes = try WireEncoder.encode(.header(header))
        var payload: [UInt8] = []
        payload += le((48000.0 as Double).bitPattern)  // 0  sample rate
        payload += le((93.75 as Double).bitPattern)  // 8  frame rate
        payload += le(UInt32(128)) + le(UInt32(1)) + le(UInt32(1))  // 16 bands, 20 channels, 24 float32
        payload += le(UInt32(1024)) + le(UInt32(512)) + le(UInt32(2048))  // 28 latency, 32 hop, 36 n_fft
        payload += le(UInt32(2)) + le(UInt16(4)) + le(UInt16(0))  // 40 JSON length, 44 clamp length, 46 reserved
        payload += Array("{}".utf8) + Array("none".utf8)  // 48 JSON, then clamp rule
        payload += le(UInt32(0)) + le(UInt16(4)) + le(UInt16(3)) + Array("in_1".utf8) + Array("a:b".utf8)
        let expected = [0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x01, 0x00] + le(UInt32(payload.count)) + payload
        #expect(bytes == expected, "expected \(expected), observed \(bytes)")
        // Spot-check against the documented layout with literal bytes.
        #expect(Array(bytes[12..<20]) == [0, 0, 0, 0, 0, 0x70, 0xE7, 0x40])  // 48000.0
        #expect(payload.count == 48 + 2 + 4 + 8 + 4 + 3)
    }
}

@Suite struct WireDecoding {
    static let messages: [WireMessage] = [
        .header(sampleHeader),
        .frame(FrameMetadata(sequence: 0, channel: 0, frameTime: 1000), values: (0..<80).map { Float($0) }),
        .frame(FrameMetadata(sequence: 0, channel: 1, frameTime: 1000, flags: .gap), values: [Float](repeating: -1, count: 80)),
        .stats(StreamStats(frames: 2, drops: 0, xruns: 0, subscriberDrops: 0)),
        .subscribe(channels: [1]),
        .frame(FrameMetadata(sequence: 1, channel: 0, frameTime: 1160), values: []),
        .header(StreamHeader(sampleRate: 44100, frameRate: 44100 / 512, bandCount: 0, latencySamples: 0,
                             hopLength: 512, fftLength: 2048, clampRule: "", configurationJSON: [], channels: [])),
    ]

    static func encodedStream() throws -> [UInt8] {
        try messages.flatMap { try WireEncoder.encode($0) }
    }

    @Test func roundTripsEveryMessage() throws {
        var decoder = WireDecoder()
        decoder.append(try Self.encodedStream())
        var decoded: [WireMessage] = []
        while let message = try decoder.next() { decoded.append(message) }
        #expect(decoded == Self.messages)
        try decoder.finish()
    }

    @Test func decodesTheSameAtEveryChunkSize() throws {
        let stream = try Self.encodedStream()
        for chunkSize in 1...stream.count {
            var decoder = WireDecoder()
            var decoded: [WireMessage] = []
            var start = 0
            while start < stream.count {
                let end = min(start + chunkSize, stream.count)
                decoder.append(stream[start..<end])
                while let message = try decoder.next() { decoded.append(message) }
                start = end
            }
            #expect(decoded == Self.messages, "chunk size \(chunkSize)")
            #expect(decoder.bufferedByteCount == 0)
            if decoded != Self.messages { break }
        }
    }

    @Test func unknownMessageTypeIsSkipped() throws {
        var bytes: [UInt8] = [0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x63, 0x00, 0x03, 0, 0, 0, 9, 9, 9]
        bytes += try WireEncoder.encode(.subscribe(channels: []))
        var decoder = WireDecoder()
        decoder.append(bytes)
        #expect(try decoder.next() == .unknown(type: 99, payloadLength: 3))
        #expect(try decoder.next() == .subscribe(channels: []))
        #expect(try decoder.next() == nil)
    }
}

@Suite struct WireMalformedInput {
    func firstError(_ bytes: [UInt8], maximumPayloadLength: Int = WireFormat.defaultMaximumPayloadLength)
        -> WireFormatError?
    {
        var decoder = WireDecoder(maximumPayloadLength: maximumPayloadLength)
        decoder.append(bytes)
        do {
            while try decoder.next() != nil {}
        } catch let error as WireFormatError {
            // Once failed, a decoder keeps failing the same way.
            #expect(throws: error) { try decoder.next() }
            return error
        } catch {
            Issue.record("unexpected error type \(error)")
            return nil
        }
        do {
            try decoder.finish()
            return nil
        } catch {
            return error as? WireFormatError
        }
    }

    func validFrame() throws -> [UInt8] {
        try WireEncoder.encode(.frame(FrameMetadata(sequence: 1, channel: 0, frameTime: 0), values: [1, 2, 3]))
    }

    @Test func badMagicIsDetectedOnTheFirstByte() throws {
        #expect(firstError([0x47])?.code == .badMagic)
        #expect(firstError(Array("GET / HTTP/1.1\r\n".utf8))?.code == .badMagic)
        let error = firstError(try validFrame() + [0x4D, 0x54, 0x41, 0x51])
        #expect(error?.code == .badMagic)
        #expect(error?.message.contains("reconnect") == true, "message should say what to do")
    }

    @Test func unsupportedVersion() throws {
        var bytes = try validFrame()
        bytes[4] = 2
        let error = firstError(bytes)
        #expect(error?.code == .unsupportedVersion)
        #expect(error?.message.contains("version 2") == true)
    }

    @Test func oversizedPayloadIsRejectedBeforeBuffering() {
        let bytes: [UInt8] = [0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x02, 0x00] + le(UInt32(16 << 20 + 1))
        #expect(firstError(bytes)?.code == .payloadTooLarge)
        let small: [UInt8] = [0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x10, 0x00] + le(UInt32(65))
        #expect(firstError(small, maximumPayloadLength: 64)?.code == .payloadTooLarge)
        // Exactly 16 MiB is allowed: just needs more bytes.
        var decoder = WireDecoder()
        decoder.append([0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x02, 0x00] + le(UInt32(16 << 20)))
        #expect(throws: Never.self) { _ = try decoder.next() }
    }

    @Test func truncatedStreamIsReportedAtFinish() throws {
        let frame = try validFrame()
        for cut in 1..<frame.count {
            var decoder = WireDecoder()
            decoder.append(frame[0..<cut])
            #expect(try decoder.next() == nil)
            #expect(throws: WireFormatError.self) { try decoder.finish() }
        }
    }

    @Test func frameWhoseBandCountDisagreesWithItsLength() throws {
        var bytes = try validFrame()
        bytes[12 + 24] = 4  // says 4 bands, carries 3
        #expect(firstError(bytes)?.code == .malformedPayload)
        bytes[12 + 24] = 0xFF; bytes[12 + 25] = 0xFF; bytes[12 + 26] = 0xFF; bytes[12 + 27] = 0xFF
        #expect(firstError(bytes)?.code == .malformedPayload)
    }

    @Test func malformedHeaders() throws {
        let good = try WireEncoder.encode(.header(sampleHeader))
        var badFormat = good
        badFormat[12 + 24] = 7  // sample format 7
        #expect(firstError(badFormat)?.code == .malformedPayload)
        var hugeChannelCount = good
        hugeChannelCount[12 + 20] = 0xFF; hugeChannelCount[12 + 23] = 0x7F
        #expect(firstError(hugeChannelCount)?.code == .malformedPayload)
        var hugeJSON = good
        hugeJSON[12 + 43] = 0x10  // JSON length past the payload
        #expect(firstError(hugeJSON)?.code == .malformedPayload)
        // Cut the payload short but keep the prefix consistent: every cut must be an error.
        let payload = Array(good[12...])
        for cut in 0..<payload.count {
            let bytes = Array(good[0..<8]) + le(UInt32(cut)) + payload[0..<cut]
            #expect(firstError(bytes)?.code == .malformedPayload, "cut at \(cut)")
        }
        // Invalid UTF-8 in the clamp rule.
        var badUTF8 = good
        let clampOffset = 12 + 48 + sampleHeader.configurationJSON.count
        badUTF8[clampOffset] = 0xFF
        #expect(firstError(badUTF8)?.code == .malformedPayload)
    }

    @Test func malformedSubscribeAndStats() throws {
        #expect(firstError([0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x10, 0x00] + le(UInt32(4)) + le(UInt32(3)))?.code
                == .malformedPayload)
        #expect(firstError([0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x03, 0x00] + le(UInt32(8)) + le(UInt64(3)))?.code
                == .malformedPayload)
    }

    @Test func randomGarbageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if Bool.random(using: &generator) { bytes = [0x4D, 0x54, 0x41, 0x50, 0x01, 0x00] + bytes }
            _ = firstError(bytes, maximumPayloadLength: 1 << 16)
        }
    }

    @Test func encoderRefusesOversizedStrings() {
        var header = sampleHeader
        header.clampRule = String(repeating: "x", count: 70_000)
        #expect(throws: WireFormatError.self) { _ = try WireEncoder.encode(.header(header)) }
    }
}

/// The status pair (`meltap status`): exact bytes, round trip, and a request with a payload refused.
@Suite struct StatusMessages {
    @Test func statusRequestBytes() throws {
        let bytes = try WireEncoder.encode(.statusRequest)
        #expect(bytes == [0x4D, 0x54, 0x41, 0x50, 1, 0, 17, 0, 0, 0, 0, 0])
        var decoder = WireDecoder()
        decoder.append(bytes)
        #expect(try decoder.next() == .statusRequest)
    }

    @Test func statusCarriesItsJSONWhole() throws {
        let json = Array(#"{"version":1,"client":"m\u00e9ltap"}"#.utf8)
        let bytes = try WireEncoder.encode(.status(json: json))
        #expect(Array(bytes[0..<12]) == [0x4D, 0x54, 0x41, 0x50, 1, 0, 5, 0, UInt8(json.count), 0, 0, 0])
        #expect(Array(bytes[12...]) == json)
        var decoder = WireDecoder()
        // Split at every byte: the decoder waits for the whole payload.
        for byte in bytes.dropLast() {
            decoder.append([byte])
            #expect(try decoder.next() == nil)
        }
        decoder.append([bytes.last!])
        #expect(try decoder.next() == .status(json: json))
    }

    @Test func statusRequestWithAPayloadIsMalformed() {
        var decoder = WireDecoder()
        decoder.append([0x4D, 0x54, 0x41, 0x50, 1, 0, 17, 0, 1, 0, 0, 0, 0xFF])
        #expect(throws: WireFormatError.self) { try decoder.next() }
    }
}
