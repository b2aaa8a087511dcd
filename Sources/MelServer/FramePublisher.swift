// Publishes frames to any number of subscribers over a Unix-domain stream socket (SwiftNIO).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MelSystem
import MelTransport
import NIOCore
import NIOPosix
import Synchronization

/// Serves the frame stream on a Unix-domain socket: every subscriber gets the header on connect,
/// then every frame of the channels it subscribed to, in order.
///
/// Threads: `publish`, `updateHeader` and `publish(stats:)` are called from one non-realtime
/// consumer thread (they take a short lock, never wait for a subscriber, and must not be called
/// from the JACK callback). Delivery runs on one NIO event-loop thread owned by the publisher.
/// Each frame is encoded once; subscribers share its bytes.
///
/// Slow subscribers: each has a queue of at most `queueBound` frames not yet taken by the kernel.
/// Past it, `.dropFrames` skips frames for that subscriber (its next frame of that channel
/// carries `.gap`, and the sequence jumps), `.disconnect` closes its connection.
///
/// Life: `init` → `start(header:)` → … → `stop()`. Call `stop()` even if `start` failed: it
/// ends the event-loop thread and removes the socket file.
public final class FramePublisher: Sendable {
    /// What to do with a subscriber whose queue is full.
    public enum SlowSubscriberPolicy: Sendable {
        /// Skip frames for it; the next one delivered per channel carries `.gap`.
        case dropFrames
        /// Close its connection.
        case disconnect
    }

    /// The socket's file path.
    public let socketPath: String
    /// Permission bits applied to the socket file after bind (e.g. 0o600, 0o660 for a group).
    public let fileMode: mode_t
    /// Per-subscriber queue bound, in frames.
    public let queueBound: Int
    public let policy: SlowSubscriberPolicy
    /// Subscribers served at once (status queries take no place); the next connection gets a
    /// refusal message and is closed (docs/wire-format.md, "Status request").
    public let maximumSubscribers: Int
    /// The default for `maximumSubscribers`.
    public static let defaultMaximumSubscribers = 64

    private enum Phase { case created, running, stopped }

    private struct State: Sendable {
        var phase = Phase.created
        var serverChannel: Channel?
        var statsTask: RepeatedTask?
        /// Items for the event loop, in publish order.
        var pending: [PendingItem] = []
        /// Frame items in `pending` (bounded by the publisher's backlog bound).
        var pendingFrames = 0
        var drainScheduled = false
        /// Channels that lost a frame to the backlog bound; their next frame carries `.gap`.
        var gapChannels: Set<UInt32> = []
        /// Inode of the socket file we bound, so `stop` removes only our own file.
        var socketInode: ino_t?
        /// The event-loop group has been (or is being) shut down by `stop`.
        var groupShutDown = false
    }

    private let group: MultiThreadedEventLoopGroup
    private let hub: SubscriberHub
    private let counters = PublisherCounters()
    private let state = Mutex(State())
    private let allocator = ByteBufferAllocator()
    private let statsInterval: Duration?
    private let statsSource: (@Sendable () -> StreamStats)?
    /// Frames dropped because the event loop fell `queueBound` frames behind the publisher.
    private let backlogDrops = Atomic<UInt64>(0)

    /// - Parameters:
    ///   - socketPath: where to bind; see `defaultSocketPath(clientName:)`.
    ///   - fileMode: permission bits for the socket file, 0o600 by default (only this user).
    ///   - queueBound: frames per subscriber not yet taken by the kernel before `policy` applies;
    ///     pass a few seconds of frames (frame rate × channels × seconds).
    ///   - policy: what to do with a subscriber whose queue is full.
    ///   - maximumSubscribers: connections served at once (at least 1).
    ///   - statsInterval: when set with `statsSource`, a stats message goes to all subscribers
    ///     this often.
    ///   - statsSource: counters for the stats message; called on the publisher's event-loop
    ///     thread. Its `subscriberDrops` is replaced by the publisher's own count.
    public init(socketPath: String, fileMode: mode_t = 0o600, queueBound: Int,
                policy: SlowSubscriberPolicy = .dropFrames,
                maximumSubscribers: Int = FramePublisher.defaultMaximumSubscribers,
                statsInterval: Duration? = nil, statsSource: (@Sendable () -> StreamStats)? = nil) {
        precondition(queueBound > 0, "queueBound must be at least 1 frame")
        precondition(maximumSubscribers > 0, "maximumSubscribers must be at least 1")
        self.maximumSubscribers = maximumSubscribers
        self.socketPath = socketPath
        self.fileMode = fileMode
        self.queueBound = queueBound
        self.policy = policy
        self.statsInterval = statsInterval
        self.statsSource = statsSource
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        hub = SubscriberHub(eventLoop: group.next(), queueBound: queueBound, policy: policy,
                            counters: counters, maximumSubscribers: maximumSubscribers, socketPath: socketPath)
    }

    /// The directory of default socket paths, `SocketDirectory.default` (its doc states the
    /// rule). Not created by this call.
    public static var defaultSocketDirectory: String { SocketPath.defaultDirectory() }

    /// `<defaultSocketDirectory>/<clientName>.sock`. Creates the directory (mode 0700) and
    /// throws if it is not owned by this user or is writable by group or others.
    public static func defaultSocketPath(clientName: String) throws -> String {
        try SocketPath.defaultPath(clientName: clientName)
    }

    /// Creates the socket directory `path` (`--socket-dir`) when it is missing: mode 0700, and
    /// missing parents only inside the user's runtime or temporary directory. An existing
    /// directory is left as it is. Throws with what to do when it cannot.
    public static func createSocketDirectory(_ path: String) throws {
        try SocketPath.createMissingDirectory(path)
    }

    /// Answers status requests (`WireMessage.statusRequest`) with the JSON `source` makes, called
    /// on the publisher's event-loop thread; nil (the default) ignores them. Any thread.
    public func setStatusSource(_ source: (@Sendable () -> [UInt8])?) {
        hub.statusSource.withLock { $0 = source }
    }

    /// Subscribers connected now (not counting status queries).
    public var subscriberCount: Int { counters.subscribers.load(ordering: .relaxed) }

    /// Subscribe messages received and applied since start (diagnostics).
    public var subscribeMessageCount: Int { counters.subscribesApplied.load(ordering: .relaxed) }

    /// Frames not delivered to some subscriber since start (full queues, full backlog).
    public var subscriberDropCount: UInt64 {
        counters.subscriberDrops.load(ordering: .relaxed) + backlogDrops.load(ordering: .relaxed)
    }

    /// Binds the socket and starts serving; `header` goes to every subscriber on connect.
    ///
    /// A stale socket file at `socketPath` (nobody answering) is replaced. Throws when a live
    /// server answers there, when the path is not a socket, or when binding fails.
    public func start(header: StreamHeader) throws {
        try state.withLock { state in
            guard state.phase == .created else {
                throw FramePublisherError(.invalidState, "FramePublisher.start called twice or after stop")
            }
            state.phase = .running
        }
        do {
            try startServing(header: header)
        } catch {
            state.withLock { $0.phase = .stopped }
            throw error
        }
    }

    private func startServing(header: StreamHeader) throws {
        let headerBuffer = try encode(header: header)
        let hub = self.hub
        let item = PendingItem.header(headerBuffer, channelCount: header.channels.count)
        try hub.eventLoop.submit { hub.batch = [item]; hub.deliverBatch() }.wait()

        try SocketPath.prepareForBind(socketPath)
        // Bind inside a fresh 0700 directory, set the mode there, then link the socket into place:
        // nobody else can reach it before it has its final mode, whatever the umask.
        let staging = try SocketPath.makeStagingDirectory(beside: socketPath)
        defer { SocketPath.removeStagingDirectory(staging) }
        let stagedPath = staging + "/" + SocketPath.stagedName
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // A subscriber that shuts down its sending side keeps receiving (docs/wire-format.md).
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SubscriberHandler(hub: hub))
                }
            }
        let channel: Channel
        do {
            channel = try bootstrap.bind(unixDomainSocketPath: stagedPath).wait()
        } catch {
            throw FramePublisherError(.bindFailed, "cannot bind a socket in \(SocketPath.directoryName(of: socketPath)): "
                                                   + "\(error); choose another --socket or --name")
        }
        state.withLock { $0.serverChannel = channel }
        if chmod(stagedPath, fileMode) != 0 {
            let code = errno
            throw FramePublisherError(.systemCall,
                                      "cannot set mode \(String(fileMode, radix: 8)) on the socket: "
                                      + errnoText(code))
        }
        var info = stat()
        let inode: ino_t? = lstat(stagedPath, &info) == 0 ? info.st_ino : nil
        try SocketPath.publish(stagedPath, at: socketPath)
        state.withLock { $0.socketInode = inode }
        if let statsInterval, let statsSource {
            let nanoseconds = Int64(statsInterval.components.seconds) * 1_000_000_000
                + Int64(statsInterval.components.attoseconds / 1_000_000_000)
            let delay = TimeAmount.nanoseconds(max(nanoseconds, 1_000_000))
            let task = hub.eventLoop.scheduleRepeatedTask(initialDelay: delay, delay: delay) {
                [weak self] _ in
                guard let self else { return }
                self.publish(stats: statsSource())
            }
            state.withLock { $0.statsTask = task }
        }
    }

    /// Queues one frame for every subscriber of `metadata.channel`. Never waits for a
    /// subscriber; returns false when the frame was dropped (publisher not running, or the
    /// event loop is `queueBound` frames behind; the channel's next frame then carries `.gap`).
    /// Call from one non-realtime thread.
    @discardableResult
    public func publish(metadata: FrameMetadata, values: UnsafeBufferPointer<Float>) -> Bool {
        let length = WireFormat.frameMessageLength(bandCount: values.count)
        return state.withLock { state in
            guard state.phase == .running else { return false }
            if state.pendingFrames >= queueBound {
                state.gapChannels.insert(metadata.channel)
                backlogDrops.add(1, ordering: .relaxed)  // a statistic
                return false
            }
            var metadata = metadata
            if !state.gapChannels.isEmpty, state.gapChannels.remove(metadata.channel) != nil {
                metadata.flags.insert(.gap)
            }
            var buffer = allocator.buffer(capacity: length)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { destination in
                WireEncoder.encodeFrame(metadata, values: values, into: destination)
            }
            state.pending.append(.frame(buffer, channel: metadata.channel))
            state.pendingFrames += 1
            scheduleDrain(&state)
            return true
        }
    }

    /// Convenience for `publish(metadata:values:)` with an array.
    @discardableResult
    public func publish(metadata: FrameMetadata, values: [Float]) -> Bool {
        values.withUnsafeBufferPointer { publish(metadata: metadata, values: $0) }
    }

    /// Sends a new header to all subscribers (after the frames published before it) and to
    /// every later subscriber on connect. Call on reconfiguration.
    public func updateHeader(_ header: StreamHeader) throws {
        let buffer = try encode(header: header)
        enqueue(.header(buffer, channelCount: header.channels.count))
    }

    /// Sends counters to all subscribers whose queue is not full. `subscriberDrops` is replaced
    /// by this publisher's own count.
    public func publish(stats: StreamStats) {
        var stats = stats
        stats.subscriberDrops = subscriberDropCount
        var bytes: [UInt8] = []
        WireEncoder.appendStats(stats, to: &bytes)
        enqueue(.stats(allocator.buffer(bytes: bytes)))
    }

    /// Closes every connection, stops the event loop and removes the socket file (if it is
    /// still the one we bound). Frames published before `stop` are written to each connection
    /// first; what the kernel has not accepted by the time it closes is lost. Safe to call more
    /// than once, and before or without `start`.
    public func stop() {
        let taken = state.withLock { state -> (Channel?, RepeatedTask?, ino_t?)? in
            state.phase = .stopped
            guard !state.groupShutDown else { return nil }
            state.groupShutDown = true
            defer { state.serverChannel = nil; state.statsTask = nil }
            return (state.serverChannel, state.statsTask, state.socketInode)
        }
        guard let (channel, statsTask, inode) = taken else { return }
        statsTask?.cancel()
        try? channel?.close().wait()
        let hub = self.hub
        try? hub.eventLoop.submit { hub.closeAll() }.wait()
        try? group.syncShutdownGracefully()
        var info = stat()
        if let inode, lstat(socketPath, &info) == 0, info.st_ino == inode {
            unlink(socketPath)
        }
    }

    private func encode(header: StreamHeader) throws -> ByteBuffer {
        var bytes: [UInt8] = []
        try WireEncoder.appendHeader(header, to: &bytes)
        return allocator.buffer(bytes: bytes)
    }

    private func enqueue(_ item: PendingItem) {
        state.withLock { state in
            guard state.phase == .running else { return }
            state.pending.append(item)
            scheduleDrain(&state)
        }
    }

    /// Schedules one delivery task if none is pending. Called under the state lock, which keeps
    /// `stop` from shutting the loop down between the check and the `execute`.
    private func scheduleDrain(_ state: inout State) {
        guard !state.drainScheduled else { return }
        state.drainScheduled = true
        let hub = self.hub
        hub.eventLoop.execute { [self] in
            // Swap lists: the hub delivers this batch while the publisher fills the other one.
            self.state.withLock { state in
                swap(&state.pending, &hub.batch)
                state.pendingFrames = 0
                state.drainScheduled = false
            }
            hub.deliverBatch()
        }
    }
}
