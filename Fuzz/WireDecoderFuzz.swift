// libFuzzer harness for the wire decoder (MelTransport: WireDecoder, WireFormat, WireMessages).
// Built by scripts/fuzz together with the MelTransport sources, in one module:
//   swiftc -parse-as-library -sanitize=fuzzer,address -O Fuzz/WireDecoderFuzz.swift Sources/MelTransport/*.swift
//
// One input is a few control bytes, then the byte stream a peer would send:
//   byte 0        bits 0-1  payload bound: 0 = default (16 MiB), 1 = 4096, 2 = 64, 3 = 0 bytes
//                 bit 2     feed through `append(UnsafeRawBufferPointer)` instead of `append(some Sequence)`
//                 bits 3-5  n, the number of chunk-size bytes that follow (0: one chunk of everything)
//   bytes 1...n   chunk sizes, each byte + 1 (1...256), used in turn until the stream is fed
//   the rest      the stream
// Seeds (Fuzz/corpus/wire) start with byte 0x00: the stream fed whole, default bound.
//
// Invariants checked on every input (a failure traps, and libFuzzer keeps the input):
// - Only `WireFormatError` is thrown, and every error is justified by the bytes: bad magic only
//   where a magic byte differs, a version error only for version != 1, `.payloadTooLarge` only
//   for a declared length over the bound, `.malformedPayload` only for a whole message of a known
//   type. Once failed, the decoder keeps throwing the same error, `finish()` included.
// - Bounded buffering: when `next()` asks for more bytes, fewer than prefix + bound bytes are
//   held, and a pending prefix declares a length within the bound (so a larger one was refused
//   from its 12 prefix bytes, before any of its payload was buffered).
// - Each message consumes exactly its prefix plus its declared payload.
// - Chunk invariance: any chunk split gives the same messages and the same error as one chunk.
// - Round trip: frames and subscribes re-encode to their exact bytes; headers, stats and
//   refusals re-encode to their known fields byte for byte (trailing bytes are reserved and
//   dropped; the header's reserved u16 is written as 0); re-encoding is idempotent.

/// One decoding run: the messages, where each ended in the stream, and how it stopped.
private struct DecodeRun {
    var messages: [WireMessage] = []
    /// Stream offset just after each message.
    var ends: [Int] = []
    var error: WireFormatError?
    /// Bytes held when the run stopped (no error: what `next()` was waiting to complete).
    var buffered = 0
}

/// The bound selected by the control byte.
private func payloadBound(_ control: UInt8) -> Int {
    switch control & 3 {
    case 0: return WireFormat.defaultMaximumPayloadLength
    case 1: return 4096
    case 2: return 64
    default: return 0
    }
}

private func check(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { fatalError("wire fuzz invariant broken: \(what())") }
}

private func u16(_ stream: [UInt8], _ at: Int) -> Int { Int(stream[at]) | Int(stream[at + 1]) << 8 }
private func u32(_ stream: [UInt8], _ at: Int) -> Int { u16(stream, at) | u16(stream, at + 2) << 16 }

/// Bytes that identify a message bit for bit (NaN-safe, unlike `==`): its encoding, or for
/// `.unknown`, its type and length.
private func fingerprint(_ message: WireMessage) -> [UInt8] {
    if case .unknown(let type, let length) = message {
        return [0xFF, UInt8(type & 0xFF), UInt8(type >> 8)] + withUnsafeBytes(of: Int64(length)) { Array($0) }
    }
    do {
        return try WireEncoder.encode(message)
    } catch {
        fatalError("wire fuzz invariant broken: a decoded message does not encode: \(error)")
    }
}

/// Decodes `stream` fed in `chunks` (sizes used in turn; empty: one chunk), draining after each.
/// With `checkMessages`, checks each message against its bytes (the whole-stream pass does; the
/// chunked pass is compared with it instead).
private func decode(_ stream: [UInt8], bound: Int, chunks: [Int], rawAppend: Bool, checkMessages: Bool) -> DecodeRun {
    var decoder = WireDecoder(maximumPayloadLength: bound)
    check(decoder.maximumPayloadLength == bound, "bound \(bound) became \(decoder.maximumPayloadLength)")
    var run = DecodeRun()
    var fed = 0, chunkIndex = 0
    while fed < stream.count || fed == 0 {
        let size = chunks.isEmpty ? stream.count : chunks[chunkIndex % chunks.count]
        chunkIndex += 1
        let end = min(stream.count, fed + size)
        if rawAppend {
            stream.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[fed..<end])) }
        } else {
            decoder.append(stream[fed..<end])
        }
        fed = end
        do {
            while true {
                let start = fed - decoder.bufferedByteCount
                guard let message = try decoder.next() else { break }
                let consumed = fed - decoder.bufferedByteCount
                if checkMessages { checkConsumed(message, stream: stream, start: start, end: consumed, bound: bound) }
                run.messages.append(message)
                run.ends.append(consumed)
            }
            checkPending(stream, start: fed - decoder.bufferedByteCount, fed: fed, bound: bound)
        } catch let error as WireFormatError {
            checkJustified(error, stream: stream, start: fed - decoder.bufferedByteCount, fed: fed, bound: bound)
            do {
                _ = try decoder.next()
                check(false, "a failed decoder stopped failing")
            } catch let again as WireFormatError {
                check(again == error, "second error \(again) differs from first \(error)")
            } catch { check(false, "non-wire error \(error)") }
            do {
                try decoder.finish()
                check(false, "finish passed on a failed decoder")
            } catch let atFinish as WireFormatError {
                check(atFinish == error, "finish threw \(atFinish), next threw \(error)")
            } catch { check(false, "non-wire error \(error)") }
            run.error = error
            run.buffered = decoder.bufferedByteCount
            return run
        } catch {
            check(false, "non-wire error \(error)")
        }
        if stream.isEmpty { break }
    }
    run.buffered = decoder.bufferedByteCount
    do {
        try decoder.finish()
        check(run.buffered == 0, "finish accepted \(run.buffered) left-over bytes")
    } catch let error as WireFormatError {
        check(error.code == .truncated && run.buffered > 0, "finish threw \(error) with \(run.buffered) bytes held")
    } catch {
        check(false, "non-wire error \(error)")
    }
    return run
}

/// `next()` returned nil with `stream[start..<fed]` held: a prefix of a message within the bound.
private func checkPending(_ stream: [UInt8], start: Int, fed: Int, bound: Int) {
    let held = fed - start
    check(held >= 0, "negative buffered count")
    check(held < WireFormat.prefixLength + bound, "holding \(held) bytes with bound \(bound)")
    for i in 0..<min(4, held) { check(stream[start + i] == WireFormat.magic[i], "waiting on bad magic") }
    guard held >= WireFormat.prefixLength else { return }
    check(u16(stream, start + 4) == Int(WireFormat.version), "waiting on a bad version")
    let declared = u32(stream, start + 8)
    check(declared <= bound, "waiting for a payload of \(declared) bytes over the bound \(bound)")
    check(held < WireFormat.prefixLength + declared, "a whole message is held but not returned")
}

/// An error was thrown for the message starting at `stream[start]`: the bytes must justify it.
private func checkJustified(_ error: WireFormatError, stream: [UInt8], start: Int, fed: Int, bound: Int) {
    check(!error.message.isEmpty, "error without a message")
    let held = fed - start
    switch error.code {
    case .badMagic:
        check((0..<min(4, held)).contains { stream[start + $0] != WireFormat.magic[$0] }, "bad magic on MTAP")
    case .unsupportedVersion:
        check(held >= 12 && u16(stream, start + 4) != Int(WireFormat.version), "version error on version 1")
    case .payloadTooLarge:
        check(held >= 12 && u32(stream, start + 8) > bound, "payloadTooLarge within the bound")
    case .malformedPayload:
        break  // the decoder consumed the message before parsing it; checked from the run's ends
    case .truncated, .valueTooLarge:
        check(false, "next() threw \(error.code)")
    }
}

/// `stream[start..<end]` decoded as `message`: its length, type and re-encoding must agree.
private func checkConsumed(_ message: WireMessage, stream: [UInt8], start: Int, end: Int, bound: Int) {
    check(end - start >= WireFormat.prefixLength, "message shorter than its prefix")
    check(Array(stream[start..<(start + 4)]) == WireFormat.magic, "message without magic")
    check(u16(stream, start + 4) == Int(WireFormat.version), "message of another version")
    let type = u16(stream, start + 6)
    let declared = u32(stream, start + 8)
    check(declared <= bound, "message over the bound")
    check(end - start == WireFormat.prefixLength + declared, "consumed \(end - start) for a declared \(declared)")
    let original = Array(stream[start..<end])
    let payload = Array(original[WireFormat.prefixLength...])

    switch message {
    case .unknown(let unknownType, let length):
        check(Int(unknownType) == type && length == declared, "unknown message fields")
        check(WireMessageType(rawValue: unknownType) == nil, "a known type decoded as unknown")
        return
    case .frame(_, let values):
        check(type == Int(WireMessageType.frame.rawValue), "frame from type \(type)")
        check(declared == WireFormat.framePayloadFixedLength + 4 * values.count, "frame length")
        check(fingerprint(message) == original, "frame does not re-encode to its bytes")
    case .status, .statusRequest:
        check(type == Int(WireMessageType.status.rawValue) || type == Int(WireMessageType.statusRequest.rawValue),
              "status from type \(type)")
        check(fingerprint(message) == original, "status does not re-encode to its bytes")
    case .subscribe:
        check(type == Int(WireMessageType.subscribe.rawValue), "subscribe from type \(type)")
        check(fingerprint(message) == original, "subscribe does not re-encode to its bytes")
    case .stats:
        check(type == Int(WireMessageType.stats.rawValue), "stats from type \(type)")
        let encoded = fingerprint(message)
        check(Array(encoded[WireFormat.prefixLength...]) == Array(payload[0..<WireFormat.statsPayloadLength]),
              "stats counters do not re-encode to their bytes")
    case .header(let header):
        check(type == Int(WireMessageType.header.rawValue), "header from type \(type)")
        check(header.channelCount == header.channels.count, "channel count")
        let encoded = Array(fingerprint(message)[WireFormat.prefixLength...])
        check(encoded.count <= payload.count, "header re-encodes longer than it came")
        var expected = Array(payload[0..<encoded.count])
        expected[46] = 0; expected[47] = 0  // reserved, written as 0
        check(encoded == expected, "header fields do not re-encode to their bytes")
    case .refusal:
        check(type == Int(WireMessageType.refusal.rawValue), "refusal from type \(type)")
        let text = Array(payload[8...])
        let exact = Refusal.Reason(rawValue: UInt32(u32(payload, 0))) != nil
            && String(validating: text, as: UTF8.self) != nil
        if exact {
            check(fingerprint(message) == original, "refusal does not re-encode to its bytes")
        }
    }
    // Re-encoding is stable: what the encoder writes decodes to the same bytes again.
    let encoded = fingerprint(message)
    var decoder = WireDecoder()
    decoder.append(encoded)
    do {
        guard let again = try decoder.next() else { return check(false, "re-encoded message incomplete") }
        check(fingerprint(again) == encoded, "decode(encode(m)) differs from m")
        check(decoder.bufferedByteCount == 0, "re-encoded message has extra bytes")
    } catch {
        check(false, "re-encoded message does not decode: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func wireDecoderFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let control = input[0]
    let chunkByteCount = min(Int(control >> 3) & 7, input.count - 1)
    let chunks = input[1..<(1 + chunkByteCount)].map { Int($0) + 1 }
    let stream = Array(input[(1 + chunkByteCount)...])
    let bound = payloadBound(control)

    let whole = decode(stream, bound: bound, chunks: [], rawAppend: false, checkMessages: true)
    let split = decode(stream, bound: bound, chunks: chunks, rawAppend: control & 4 != 0, checkMessages: false)
    check(whole.messages.map(fingerprint) == split.messages.map(fingerprint),
          "chunks \(chunks) decode \(split.messages.count) messages, whole \(whole.messages.count)")
    check(whole.ends == split.ends, "chunks \(chunks) end messages elsewhere")
    check(whole.error == split.error, "chunks \(chunks) fail with \(String(describing: split.error)), "
          + "whole with \(String(describing: whole.error))")
    if whole.error == nil { check(whole.buffered == split.buffered, "chunks leave other bytes held") }

    // A malformed payload is a whole message of a known type right after the last good one.
    if let error = whole.error, error.code == .malformedPayload {
        let start = whole.ends.last ?? 0
        check(stream.count - start >= WireFormat.prefixLength, "malformed without a prefix")
        let declared = u32(stream, start + 8)
        check(stream.count - start >= WireFormat.prefixLength + declared, "malformed before the payload arrived")
        check(WireMessageType(rawValue: UInt16(u16(stream, start + 6))) != nil, "malformed unknown type")
    }
    return 0
}
