// A blocking subscriber to a meltap frame stream over its Unix-domain socket. Plain POSIX
// sockets, no event loop: one thread calls `next()` in a loop.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MelSystem
@_exported import MelTransport

/// One frame as received.
public struct ReceivedFrame: Sendable, Equatable {
    /// Sequence (per channel; jumps show lost frames), channel, frame time, flags.
    public var metadata: FrameMetadata
    /// The frame's band values; `values.count` is the header's band count.
    public var values: [Float]

    public init(metadata: FrameMetadata, values: [Float]) {
        self.metadata = metadata
        self.values = values
    }
}

/// What the server sends, in order.
public enum SubscriberEvent: Sendable, Equatable {
    /// A new stream description (reconfiguration); later frames follow it.
    case header(StreamHeader)
    case frame(ReceivedFrame)
    case stats(StreamStats)
}

/// A client error: what went wrong and what to do.
public struct MeltapClientError: Error, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// No socket file at the path.
        case socketMissing
        /// The socket (or its directory) does not let this user connect.
        case permissionDenied
        /// A socket file exists but nobody serves on it.
        case connectionRefused
        /// The socket path does not fit `sockaddr_un` (107 bytes).
        case pathTooLong
        /// The server sent bytes that are not a valid meltap stream.
        case protocolError
        /// The server closed the connection before sending a header.
        case connectionClosed
        /// No data arrived within the receive timeout.
        case timedOut
        /// The server turned this subscriber away (too many subscribers, unknown channel); the
        /// message is the server's explanation.
        case refused
        /// Another system call failed.
        case systemCall
    }

    public var code: Code
    public var message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// Subscribes to a running `meltap run` over its Unix socket and reads frames.
///
/// Not thread-safe: one thread owns it. The connection closes on `close()` or deinit.
///
/// ```swift
/// let subscriber = try MeltapSubscriber(socketPath: path, channels: [0])
/// while let frame = try subscriber.next() { print(frame.metadata.sequence, frame.values[0]) }
/// ```
public final class MeltapSubscriber {
    public let socketPath: String
    /// Requested channel indices; nil means all.
    public let channels: [Int]?
    /// The latest stream description; updated when the server reconfigures.
    public private(set) var header: StreamHeader
    /// The latest counters the server sent, if any.
    public private(set) var latestStats: StreamStats?

    /// Largest message payload accepted, in bytes (1 MiB): a frame of up to 262,137 bands, or a
    /// header with its configuration and channel names. A longer declared length is a protocol
    /// error, raised from the 12-byte prefix before any payload is buffered.
    public static let maximumPayloadLength = 1 << 20

    private var descriptor: Int32
    private var decoder = WireDecoder(maximumPayloadLength: MeltapSubscriber.maximumPayloadLength)
    private var receiveBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private let channelFilter: Set<UInt32>?

    /// Where `meltap run --name CLIENT` serves by default: `CLIENT.sock`, or `CLIENT.STREAM.sock`
    /// for a `--stream`, in the default socket directory (`SocketDirectory.default`:
    /// `$XDG_RUNTIME_DIR/meltap`, else `/run/user/UID/meltap` when `/run/user/UID` exists, else
    /// `/tmp/meltap-UID`). Nothing is created or checked.
    public static func defaultSocketPath(client: String = "meltap", stream: String = "") -> String {
        SocketDirectory.default + "/" + SocketDirectory.fileName(client: client, stream: stream)
    }

    /// Connects, sends the channel subscription and waits for the stream header.
    ///
    /// - Parameters:
    ///   - socketPath: the path `meltap run` prints at start.
    ///   - channels: channel indices to receive (0 = first input port); nil or empty for all.
    ///   - receiveTimeout: when set, a read that gets nothing for this long throws `.timedOut`.
    public init(socketPath: String, channels: [Int]? = nil, receiveTimeout: Duration? = nil) throws {
        self.socketPath = socketPath
        self.channels = channels
        let wanted = (channels ?? []).map { UInt32(clamping: $0) }
        channelFilter = wanted.isEmpty ? nil : Set(wanted)
        descriptor = try Self.connect(to: socketPath)
        header = StreamHeader(sampleRate: 0, frameRate: 0, bandCount: 0, latencySamples: 0, hopLength: 0,
                              fftLength: 0, clampRule: "", configurationJSON: [], channels: [])
        do {
            if let receiveTimeout { try setReceiveTimeout(receiveTimeout) }
            if !wanted.isEmpty {
                var bytes: [UInt8] = []
                WireEncoder.appendSubscribe(channels: wanted, to: &bytes)
                try sendAll(bytes)
            }
            while true {
                guard let message = try readMessage() else {
                    throw MeltapClientError(.connectionClosed,
                                            "the server at \(socketPath) closed the connection before sending "
                                            + "a stream header; check the meltap log")
                }
                if case .header(let first) = message {
                    header = first
                    break
                }
                if case .refusal(let refusal) = message { throw Self.refused(refusal, socketPath) }
            }
        } catch {
            closeFileDescriptor(descriptor)
            descriptor = -1
            throw error
        }
    }

    /// Connects for a status query only: no Subscribe, no waiting for the header.
    private init(statusQueryTo socketPath: String, receiveTimeout: Duration) throws {
        self.socketPath = socketPath
        channels = nil
        channelFilter = nil
        descriptor = try Self.connect(to: socketPath)
        header = StreamHeader(sampleRate: 0, frameRate: 0, bandCount: 0, latencySamples: 0, hopLength: 0,
                              fftLength: 0, clampRule: "", configurationJSON: [], channels: [])
        do {
            try setReceiveTimeout(receiveTimeout)
        } catch {
            closeFileDescriptor(descriptor)
            descriptor = -1
            throw error
        }
    }

    /// Asks the meltap serving `socketPath` for its status (`meltap status`) without subscribing:
    /// connects, sends the request at once and returns the JSON document (docs/wire-format.md,
    /// "Status"). A status query takes none of the server's `--max-subscribers` places: when all
    /// are taken, the server refuses the connection as a subscriber but still answers its request.
    /// - Parameter timeout: how long to wait for any data; a server older than the status
    ///   message ignores the request.
    /// - Throws: `MeltapClientError` as `requestStatus()`, and as `init` for the connection.
    public static func requestStatus(socketPath: String, timeout: Duration) throws -> [UInt8] {
        let query = try MeltapSubscriber(statusQueryTo: socketPath, receiveTimeout: timeout)
        defer { query.close() }
        return try query.requestStatus()
    }

    deinit { close() }

    /// Closes the connection; later reads return nil.
    public func close() {
        if descriptor >= 0 {
            closeFileDescriptor(descriptor)
            descriptor = -1
        }
    }

    /// The next frame of a subscribed channel, or nil once the server has closed the stream.
    /// Header and stats messages update `header` and `latestStats` on the way.
    public func next() throws -> ReceivedFrame? {
        while let event = try nextEvent() {
            if case .frame(let frame) = event { return frame }
        }
        return nil
    }

    /// The next event (header, frame of a subscribed channel, or stats), or nil once the server
    /// has closed the stream.
    public func nextEvent() throws -> SubscriberEvent? {
        while let message = try readMessage() {
            switch message {
            case .header(let newHeader):
                header = newHeader
                return .header(newHeader)
            case .frame(let metadata, let values):
                // The server may send a few frames of other channels before our Subscribe arrives.
                if let channelFilter, !channelFilter.contains(metadata.channel) { continue }
                return .frame(ReceivedFrame(metadata: metadata, values: values))
            case .stats(let stats):
                latestStats = stats
                return .stats(stats)
            case .subscribe, .statusRequest, .status, .unknown:
                continue  // not for subscribers, or from a newer server: skip
            case .refusal(let refusal):
                throw Self.refused(refusal, socketPath)
            }
        }
        return nil
    }

    /// Asks the server for its status (`meltap status`) and returns the JSON document it sends
    /// (docs/wire-format.md, "Status"). Frames, stats, headers and a Refusal that arrive first
    /// are skipped; from then on this connection gets no frames and takes no `--max-subscribers`
    /// place. Set a `receiveTimeout` at `init`: a server older than the status message ignores
    /// the request.
    /// - Throws: `MeltapClientError` `.timedOut` when no answer came in time, `.refused` when the
    ///   server refused the connection and closed it without a status, `.connectionClosed` when
    ///   it closed it otherwise.
    public func requestStatus() throws -> [UInt8] {
        try sendAll(try WireEncoder.encode(.statusRequest))
        // A server at its --max-subscribers limit refuses the connection as a subscriber and
        // answers the request after; one older than that closes it: then the refusal is the error.
        var refusal: Refusal?
        do {
            while let message = try readMessage() {
                switch message {
                case .status(let json): return json
                case .refusal(let refused): refusal = refused
                default: continue
                }
            }
        } catch let error as MeltapClientError where error.code == .timedOut {
            if let refusal { throw Self.refused(refusal, socketPath) }
            throw MeltapClientError(.timedOut, "meltap at \(socketPath) did not answer the status request in time: "
                                    + "it may be older than `meltap status` (upgrade it) or stuck (see its log)")
        }
        if let refusal { throw Self.refused(refusal, socketPath) }
        throw MeltapClientError(.connectionClosed, "meltap at \(socketPath) closed the connection without a status")
    }

    /// Reads until one whole message is decoded; nil at end of stream.
    private func readMessage() throws -> WireMessage? {
        while true {
            do {
                if let message = try decoder.next() { return message }
            } catch let error as WireFormatError {
                throw MeltapClientError(.protocolError,
                                        "the stream at \(socketPath) is not a valid meltap stream: "
                                        + "\(error.message)")
            }
            guard descriptor >= 0 else { return nil }
            let count = receiveBuffer.withUnsafeMutableBytes { raw in
                retryingOnInterrupt { recv(descriptor, raw.baseAddress, raw.count, 0) }
            }
            if count > 0 {
                receiveBuffer.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            } else if count == 0 {
                try finishStream()
                return nil
            } else {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK {
                    throw MeltapClientError(.timedOut, "no data from \(socketPath) within the receive timeout")
                }
                if code == ECONNRESET {
                    try finishStream()
                    return nil
                }
                throw MeltapClientError(.systemCall, "recv from \(socketPath) failed: \(errnoText(code))")
            }
        }
    }

    /// The server closed the connection: a normal end between messages, a protocol error inside
    /// one (the bytes of a message cut short are never handed out as a frame).
    private func finishStream() throws {
        do {
            try decoder.finish()
        } catch let error as WireFormatError {
            throw MeltapClientError(.protocolError, "the stream at \(socketPath) ended inside a message: \(error.message)")
        }
    }

    private func sendAll(_ bytes: [UInt8]) throws {
        let outcome = bytes.withUnsafeBytes { MelSystem.sendAll(descriptor, $0) }
        guard outcome.succeeded else {
            throw MeltapClientError(.systemCall, "send to \(socketPath) failed: \(errnoText(outcome.errorCode))")
        }
    }

    /// Sets how long a read waits for data before `next()` throws `.timedOut` (`SO_RCVTIMEO`);
    /// nil waits forever. A zero duration waits one microsecond: a poll. (The C ABI's
    /// `meltap_subscriber_next` sets it per call.)
    public func setReceiveTimeout(_ timeout: Duration?) throws {
        var value = timeval(tv_sec: 0, tv_usec: 0)  // 0 means "forever"
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
            if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }  // 0 would mean "forever"
        }
        guard setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size)) == 0
        else {
            let code = errno
            throw MeltapClientError(.systemCall, "setsockopt(SO_RCVTIMEO) failed: \(errnoText(code))")
        }
    }

    static func refused(_ refusal: Refusal, _ path: String) -> MeltapClientError {
        MeltapClientError(.refused, "the server at \(path) refused this subscriber: \(refusal.message)")
    }

    /// `socket` + `connect` to the Unix socket at `path`, with errors that say what to do.
    static func connect(to path: String) throws -> Int32 {
        guard let address = UnixSocketAddress(path: path) else {
            throw MeltapClientError(.pathTooLong,
                                    "socket path \(path) is \(path.utf8.count) bytes; Unix sockets allow at "
                                    + "most \(UnixSocketAddress.maximumPathLength). Use a shorter path")
        }
        let fd = UnixSocketAddress.streamSocket()
        guard fd >= 0 else {
            let code = errno
            throw MeltapClientError(.systemCall, "socket(AF_UNIX) failed: \(errnoText(code))")
        }
        let code = address.connect(fd)
        if code == 0 { return fd }
        closeFileDescriptor(fd)
        switch code {
        case ENOENT:
            throw MeltapClientError(.socketMissing,
                                    "no meltap socket at \(path): is `meltap run` running? It prints its "
                                    + "socket path when it starts")
        case EACCES, EPERM:
            throw MeltapClientError(.permissionDenied,
                                    "permission denied connecting to \(path): the socket (or its "
                                    + "directory) does not let this user in. Run as the same user, or start "
                                    + "meltap with --socket-mode 660 (connecting needs write permission on a Unix "
                                    + "socket, so group read-write) and join the owner's group")
        case ECONNREFUSED:
            throw MeltapClientError(.connectionRefused,
                                    "nobody is serving at \(path) (a stale socket left by a meltap that "
                                    + "exited?); start `meltap run` and use the path it prints")
        default:
            throw MeltapClientError(.systemCall, "cannot connect to \(path): \(errnoText(code))")
        }
    }
}

/// `close(2)`; a free function because `MeltapSubscriber.close()` shadows it inside the class.
private func closeFileDescriptor(_ descriptor: Int32) { _ = close(descriptor) }
