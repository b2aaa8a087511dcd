// Helpers for socket tests (MelServerTests, MeltapClientTests): temp directories, synthetic frames,
// a subscriber on a thread, a raw client.
import Foundation
import MelServer
import MelTransport
import MeltapClient
import Synchronization
import Testing
import MelSystem

/// A fresh private directory under /tmp (short, so socket paths fit in 107 bytes).
public func makeTemporaryDirectory() -> String {
    var template = Array("/tmp/mtap-XXXXXX".utf8CString)
    let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(result != nil, "mkdtemp failed: \(String(cString: strerror(errno)))")
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

public func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

public func testHeader(channelCount: Int, bandCount: Int, sampleRate: Double = 16000) -> StreamHeader {
    StreamHeader(sampleRate: sampleRate, frameRate: sampleRate / 160, bandCount: UInt32(bandCount),
                 latencySamples: 360, hopLength: 160, fftLength: 400, clampRule: "running-max",
                 configurationJSON: Array(#"{"preset":"test","n_mels":\#(bandCount)}"#.utf8),
                 channels: (0..<channelCount).map { ChannelInfo(name: "in_\($0 + 1)", source: "test:out_\($0 + 1)") })
}

/// Deterministic, distinct band values for (channel, sequence).
public func syntheticValues(channel: UInt32, sequence: UInt64, bandCount: Int) -> [Float] {
    (0..<bandCount).map { Float(channel) * 1000 + Float(sequence % 4096) + Float($0) / 128 }
}

public func syntheticMetadata(channel: UInt32, sequence: UInt64) -> FrameMetadata {
    // Some frames carry flags, so clients are checked to pass them on.
    FrameMetadata(sequence: sequence, channel: channel, frameTime: Int64(sequence) * 160 - 200,
                  flags: sequence % 5 == 2 ? [.xrun, .discontinuity] : [])
}

/// Carries a non-Sendable value to one other thread that becomes its only user.
public final class Handoff<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}

/// Reads every event of a subscriber on its own thread until the stream ends.
public final class FrameCollector: Sendable {
    private let frames = Mutex<[ReceivedFrame]>([])
    private let events = Mutex<[SubscriberEvent]>([])
    private let ended = Mutex<(done: Bool, error: String?)>((false, nil))

    public init(_ subscriber: MeltapSubscriber) {
        let handoff = Handoff(subscriber)
        let thread = Thread { [self] in
            let subscriber = handoff.value
            do {
                while let event = try subscriber.nextEvent() {
                    events.withLock { $0.append(event) }
                    if case .frame(let frame) = event { frames.withLock { $0.append(frame) } }
                }
                ended.withLock { $0 = (true, nil) }
            } catch {
                ended.withLock { $0 = (true, "\(error)") }
            }
        }
        thread.start()
    }

    public var frameCount: Int { frames.withLock { $0.count } }
    public var receivedFrames: [ReceivedFrame] { frames.withLock { $0 } }
    public var receivedEvents: [SubscriberEvent] { events.withLock { $0 } }
    public var isDone: Bool { ended.withLock { $0.done } }
    public var error: String? { ended.withLock { $0.error } }
}

/// A raw Unix-socket client: sends any bytes, decodes whatever comes back.
public final class RawClient {
    public let descriptor: Int32
    private var decoder = WireDecoder()

    public init(path: String) throws {
        guard let address = UnixSocketAddress(path: path) else {
            throw MeltapClientError(.pathTooLong, "\(path) does not fit sockaddr_un")
        }
        descriptor = UnixSocketAddress.streamSocket()
        let result = address.connect(descriptor)
        guard result == 0 else {
            let message = errnoText(result)
            close(descriptor)
            throw MeltapClientError(.systemCall, "connect \(path): \(message)")
        }
        // Hang guard for tests: a read that gets nothing for a minute fails.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    public func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Every message until the server closes the connection; nil if reading failed otherwise.
    public func readUntilClosed() -> [WireMessage]? {
        var messages: [WireMessage] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { raw in
                retryingOnInterrupt { recv(descriptor, raw.baseAddress, raw.count, 0) }
            }
            if count == 0 || (count < 0 && errno == ECONNRESET) { return messages }
            if count < 0 { return nil }
            decoder.append(buffer[0..<count])
            while let message = try? decoder.next() { messages.append(message) }
        }
    }

    /// Reads messages until `predicate` holds for the list so far (or the stream ends).
    public func read(until predicate: ([WireMessage]) -> Bool) -> [WireMessage] {
        var messages: [WireMessage] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !predicate(messages) {
            let count = buffer.withUnsafeMutableBytes { raw in
                retryingOnInterrupt { recv(descriptor, raw.baseAddress, raw.count, 0) }
            }
            if count <= 0 { return messages }
            decoder.append(buffer[0..<count])
            while let message = try? decoder.next() { messages.append(message) }
        }
        return messages
    }
}

/// Checks per-channel sequences are 0, 1, 2, … with the expected values and no flags.
public func expectComplete(_ frames: [ReceivedFrame], channels: [UInt32], framesPerChannel: Int, bandCount: Int,
                    _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
    for channel in channels {
        let mine = frames.filter { $0.metadata.channel == channel }
        #expect(mine.count == framesPerChannel, "\(label): channel \(channel) got \(mine.count) of \(framesPerChannel)",
                sourceLocation: sourceLocation)
        for (index, frame) in mine.enumerated() {
            let sequence = UInt64(index)
            guard frame.metadata == syntheticMetadata(channel: channel, sequence: sequence),
                  frame.values == syntheticValues(channel: channel, sequence: sequence, bandCount: bandCount)
            else {
                let message = "\(label): channel \(channel) frame \(index): expected sequence \(sequence), "
                    + "observed \(frame.metadata)"
                Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
                return
            }
        }
    }
    let others = frames.filter { !channels.contains($0.metadata.channel) }
    #expect(others.isEmpty, "\(label): got \(others.count) frames of unsubscribed channels",
            sourceLocation: sourceLocation)
}

/// Leaves a socket file at `path` that nobody listens on, as a crashed server does: `bind(2)`,
/// then `close(2)` without unlinking. True when the file was made.
public func makeStaleSocket(at path: String) -> Bool {
    guard let address = UnixSocketAddress(path: path) else { return false }
    let descriptor = UnixSocketAddress.streamSocket()
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    return address.withSocketAddress { bind(descriptor, $0, $1) } == 0
}
