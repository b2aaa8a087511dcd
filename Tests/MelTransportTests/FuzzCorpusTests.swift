// The wire fuzzer's seed corpus (Fuzz/corpus/wire) holds the golden-byte messages of
// WireFormatTests and the hostile inputs the server tests send, each behind the harness's
// control byte (Fuzz/WireDecoderFuzz.swift). These tests keep the files equal to what the
// encoder writes today, and check each still decodes, or fails, the way its name says.
// To rewrite the files after a format change: MELTAP_WRITE_FUZZ_SEEDS=1 swift test --filter FuzzCorpus
import Foundation
import Testing
@testable import MelTransport

private func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

/// One seed: its file name, the harness input, and the outcome of decoding its stream whole.
private struct WireSeed {
    var name: String
    var bytes: [UInt8]
    /// nil: every message decodes and `finish()` passes.
    var expected: WireFormatError.Code?
}

/// Control byte 0x00: the stream fed whole, default payload bound.
private func whole(_ stream: [UInt8]) -> [UInt8] { [0x00] + stream }

private func wireSeeds() throws -> [WireSeed] {
    let frame = try WireEncoder.encode(.frame(FrameMetadata(sequence: 0x0102_0304_0506_0708, channel: 3,
                                                            frameTime: -2, flags: [.gap, .xrun]),
                                              values: [1.0, -2.5]))
    let stats = try WireEncoder.encode(.stats(StreamStats(frames: 1000, drops: 2, xruns: 1,
                                                          subscriberDrops: 0x1_0000_0000)))
    let subscribe = try WireEncoder.encode(.subscribe(channels: [0, 5]))
    let header = try WireEncoder.encode(.header(StreamHeader(
        sampleRate: 48000, frameRate: 93.75, bandCount: 128, latencySamples: 1024, hopLength: 512,
        fftLength: 2048, clampRule: "none", configurationJSON: Array("{}".utf8),
        channels: [ChannelInfo(name: "in_1", source: "a:b")])))
    let refusal = try WireEncoder.encode(.refusal(Refusal(.tooManySubscribers,
        "meltap at /tmp/meltap-0/meltap.sock serves 64 subscribers, its --max-subscribers; close one and retry")))
    let stream = try [
        WireMessage.header(StreamHeader(
            sampleRate: 16000, frameRate: 100, bandCount: 80, latencySamples: 560, hopLength: 160, fftLength: 400,
            clampRule: "running-max", configurationJSON: Array(#"{"preset":"whisper"}"#.utf8),
            channels: [ChannelInfo(name: "in_1", source: "system:capture_1"), ChannelInfo(name: "in_2")])),
        .frame(FrameMetadata(sequence: 0, channel: 0, frameTime: 1000), values: (0..<80).map { Float($0) }),
        .frame(FrameMetadata(sequence: 0, channel: 1, frameTime: 1000, flags: .gap),
               values: [Float](repeating: -1, count: 80)),
        .stats(StreamStats(frames: 2, drops: 0, xruns: 0, subscriberDrops: 0)),
        .subscribe(channels: [1]),
        .frame(FrameMetadata(sequence: 1, channel: 0, frameTime: 1160), values: []),
        .header(StreamHeader(sampleRate: 44100, frameRate: 44100 / 512, bandCount: 0, latencySamples: 0,
                             hopLength: 512, fftLength: 2048, clampRule: "", configurationJSON: [], channels: [])),
    ].flatMap { try WireEncoder.encode($0) }
    let unknown: [UInt8] = [0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x63, 0x00, 0x03, 0, 0, 0, 9, 9, 9]

    var badUTF8 = header
    badUTF8[12 + 48 + 2] = 0xFF  // first byte of the clamp rule "none"
    var hugeChannelCount = header
    hugeChannelCount[12 + 20] = 0xFF; hugeChannelCount[12 + 23] = 0x7F
    var bandCountMismatch = frame
    bandCountMismatch[12 + 24] = 3  // says 3 bands, carries 2

    return [
        WireSeed(name: "golden-frame", bytes: whole(frame)),
        WireSeed(name: "golden-stats", bytes: whole(stats)),
        WireSeed(name: "golden-subscribe", bytes: whole(subscribe)),
        WireSeed(name: "golden-subscribe-all", bytes: whole(try WireEncoder.encode(.subscribe(channels: [])))),
        WireSeed(name: "golden-header", bytes: whole(header)),
        WireSeed(name: "golden-refusal", bytes: whole(refusal)),
        WireSeed(name: "golden-unknown-type", bytes: whole(unknown + subscribe)),
        WireSeed(name: "golden-stream", bytes: whole(stream)),
        // 0x08: one chunk size byte follows; 0x00: chunks of 1 byte.
        WireSeed(name: "golden-stream-bytewise", bytes: [0x08, 0x00] + stream),
        // 0x1D: bound 4096, raw-pointer append, three chunk sizes 7, 64, 13.
        WireSeed(name: "golden-stream-chunks", bytes: [0x1D, 6, 63, 12] + stream),
        WireSeed(name: "hostile-http", bytes: whole(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
                 expected: .badMagic),
        WireSeed(name: "hostile-resync", bytes: whole(frame + [0x4D, 0x54, 0x41, 0x51]), expected: .badMagic),
        WireSeed(name: "hostile-version-9", bytes: whole([0x4D, 0x54, 0x41, 0x50, 0x09, 0x00, 0x10, 0x00, 0, 0, 0, 0]),
                 expected: .unsupportedVersion),
        WireSeed(name: "hostile-subscribe-4gib",
                 bytes: whole([0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x10, 0x00] + le(UInt32(0xFFFF_FFF0))),
                 expected: .payloadTooLarge),
        WireSeed(name: "hostile-frame-16mib-plus-1",
                 bytes: whole([0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x02, 0x00] + le(UInt32(16 << 20 + 1))),
                 expected: .payloadTooLarge),
        // 0x02: payload bound 64 bytes, below the header's.
        WireSeed(name: "hostile-header-over-bound-64", bytes: [0x02] + header, expected: .payloadTooLarge),
        WireSeed(name: "hostile-subscribe-count",
                 bytes: whole([0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x10, 0x00, 8, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
                               0, 0, 0, 0]),
                 expected: .malformedPayload),
        WireSeed(name: "hostile-header-bad-utf8", bytes: whole(badUTF8), expected: .malformedPayload),
        WireSeed(name: "hostile-header-channel-count", bytes: whole(hugeChannelCount), expected: .malformedPayload),
        WireSeed(name: "hostile-frame-band-count", bytes: whole(bandCountMismatch), expected: .malformedPayload),
        WireSeed(name: "hostile-truncated-header", bytes: whole(Array(header.dropLast(3))), expected: .truncated),
    ]
}

/// Decodes a seed's stream as the harness's whole-stream pass does; nil if it all decodes.
private func outcome(of bytes: [UInt8]) -> WireFormatError.Code? {
    let control = bytes[0]
    let chunkByteCount = Int(control >> 3) & 7
    let bound = [WireFormat.defaultMaximumPayloadLength, 4096, 64, 0][Int(control & 3)]
    var decoder = WireDecoder(maximumPayloadLength: bound)
    decoder.append(bytes[(1 + chunkByteCount)...])
    do {
        while try decoder.next() != nil {}
        try decoder.finish()
        return nil
    } catch {
        return (error as? WireFormatError)?.code
    }
}

@Suite struct FuzzCorpus {
    static let wireDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/corpus/wire").standardized.path

    @Test func wireSeedsAreTheGoldenBytes() throws {
        let write = ProcessInfo.processInfo.environment["MELTAP_WRITE_FUZZ_SEEDS"] == "1"
        for seed in try wireSeeds() {
            let path = Self.wireDirectory + "/" + seed.name
            if write {
                try Data(seed.bytes).write(to: URL(fileURLWithPath: path))
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                Issue.record("missing seed \(path); write the seeds with MELTAP_WRITE_FUZZ_SEEDS=1 swift test --filter FuzzCorpus")
                continue
            }
            #expect(Array(data) == seed.bytes,
                    """
                    \(seed.name) differs from what the encoder writes: expected \(seed.bytes), observed \(Array(data)); \
                    if the format changed on purpose, rewrite with MELTAP_WRITE_FUZZ_SEEDS=1
                    """)
            let observed = outcome(of: seed.bytes)
            #expect(observed == seed.expected,
                    "\(seed.name): expected \(String(describing: seed.expected)), observed \(String(describing: observed))")
        }
    }
}
