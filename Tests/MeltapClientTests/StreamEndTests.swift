// How MeltapSubscriber ends: a server that closes between messages ends the stream normally
// (nil); one that closes inside a message (its 12-byte prefix or its payload) is a protocol
// error, and the bytes cut short are never handed out as a frame. Real Unix sockets; the server
// sends fixed bytes and closes.
import Foundation
import Glibc
import MelSystem
import MelTransport
import MeltapClient
import MeltapTestSupport
import Testing

/// A Unix-socket server for one client: listens at `path` on creation, and on a thread of its own
/// accepts one connection, sends `bytes` and closes it.
final class ScriptedServer: @unchecked Sendable {
    private let listener: Int32
    private let finished = DispatchSemaphore(value: 0)

    init(path: String, bytes: [UInt8]) throws {
        let address = try #require(UnixSocketAddress(path: path))
        let listener = UnixSocketAddress.streamSocket()
        try #require(listener >= 0)
        self.listener = listener
        let bound = address.withSocketAddress { bind(listener, $0, $1) }
        try #require(bound == 0 && listen(listener, 1) == 0, "bind/listen \(path): \(String(cString: strerror(errno)))")
        let finished = self.finished
        Thread.detachNewThread {
            let connection = accept(listener, nil, nil)
            if connection >= 0 {
                _ = bytes.withUnsafeBytes { MelSystem.sendAll(connection, $0) }
                close(connection)
            }
            finished.signal()
        }
    }

    /// Waits for the connection to be served, then closes the listener.
    func finish() {
        _ = finished.wait(timeout: .now() + 10)
        close(listener)
    }
}

@Suite struct StreamEndTests {
    static let bandCount = 4

    /// A header for one channel of `bandCount` bands, then frames 0..<count.
    static func stream(frames count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try WireEncoder.appendHeader(testHeader(channelCount: 1, bandCount: bandCount), to: &bytes)
        for sequence in 0..<UInt64(count) {
            WireEncoder.appendFrame(syntheticMetadata(channel: 0, sequence: sequence),
                                    values: syntheticValues(channel: 0, sequence: sequence, bandCount: bandCount),
                                    to: &bytes)
        }
        return bytes
    }

    /// Connects (no channel list: nothing is sent to the server) to a server sending `bytes`.
    static func subscribe(to bytes: [UInt8], in directory: String) throws -> (MeltapSubscriber, ScriptedServer) {
        let path = directory + "/end.sock"
        let server = try ScriptedServer(path: path, bytes: bytes)
        do {
            return (try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(10)), server)
        } catch {
            server.finish()
            throw error
        }
    }

    @Test("A close between messages is the normal end: every frame, then nil, and nil again")
    func closeBetweenMessagesEndsTheStream() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let (subscriber, server) = try Self.subscribe(to: try Self.stream(frames: 3), in: directory)
        defer { server.finish() }
        for sequence in 0..<UInt64(3) {
            let frame = try #require(try subscriber.next(), "frame \(sequence) missing")
            #expect(frame.metadata.sequence == sequence)
            #expect(frame.values == syntheticValues(channel: 0, sequence: sequence, bandCount: Self.bandCount))
        }
        #expect(try subscriber.next() == nil)
        #expect(try subscriber.next() == nil)
    }

    /// Cuts after the header and one frame, `cut` bytes into the second frame's message (whose
    /// prefix is 12 bytes): inside the prefix, at its end, inside the payload, one byte short.
    @Test("A close inside a message is a protocol error that says so, after the whole frames", arguments: [1, 11, 12, 20, -1])
    func closeInsideAMessageIsAProtocolError(cut: Int) throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let whole = try Self.stream(frames: 2)
        let frameLength = WireFormat.frameMessageLength(bandCount: Self.bandCount)
        let end = whole.count - frameLength + (cut >= 0 ? cut : frameLength + cut)
        let (subscriber, server) = try Self.subscribe(to: Array(whole[..<end]), in: directory)
        defer { server.finish() }
        #expect(try subscriber.next()?.metadata.sequence == 0)
        do {
            let frame = try subscriber.next()
            Issue.record("a stream cut \(cut) bytes into a frame message gave \(String(describing: frame)), not an error")
        } catch let error as MeltapClientError {
            #expect(error.code == .protocolError, "\(error)")
            #expect(error.message.contains("ended inside a message"), "\(error.message)")
        }
    }

    @Test("A close inside the stream header is a protocol error at connect, not 'closed before a header'")
    func closeInsideTheHeaderIsAProtocolError() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let header = try Self.stream(frames: 0)
        for end in [5, 12, header.count - 1] {
            do {
                let (subscriber, server) = try Self.subscribe(to: Array(header[..<end]), in: directory)
                server.finish()
                Issue.record("a header cut at byte \(end) connected (band count \(subscriber.header.bandCount))")
            } catch let error as MeltapClientError {
                #expect(error.code == .protocolError, "cut at \(end): \(error)")
                #expect(error.message.contains("ended inside a message"), "cut at \(end): \(error.message)")
            }
            unlink(directory + "/end.sock")
        }
    }
}
