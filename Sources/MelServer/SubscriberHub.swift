// The event-loop side of the publisher: the set of connected subscribers, each with its own
// bounded queue, channel filter and gap bookkeeping.
#if canImport(Glibc)
import Glibc
#endif
import MelTransport
import NIOCore
import Synchronization

#if canImport(Glibc)
/// glibc's `int malloc_trim(size_t pad)` (declared in <malloc.h>, which the Glibc module does not
/// export).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif

/// What the publisher hands to the event loop, in publish order.
enum PendingItem: Sendable {
    /// One encoded frame message for `channel`.
    case frame(ByteBuffer, channel: UInt32)
    /// An encoded header message; becomes the header sent to new subscribers. `channelCount`
    /// bounds the channel indices a Subscribe may name.
    case header(ByteBuffer, channelCount: Int)
    /// An encoded stats message.
    case stats(ByteBuffer)
}

/// Counters read from any thread, written on the event loop.
final class PublisherCounters: Sendable {
    /// Frames not delivered to some subscriber (queue full, or dropped by `.disconnect`).
    let subscriberDrops = Atomic<UInt64>(0)
    /// Connected subscribers.
    let subscribers = Atomic<Int>(0)
    /// Subscribe messages applied.
    let subscribesApplied = Atomic<Int>(0)
}

/// One connected subscriber. Event-loop confined.
final class Subscriber {
    let context: ChannelHandlerContext
    /// Channel indices to deliver; nil means all.
    var filter: Set<UInt32>?
    /// Frame messages written and not yet handed to the kernel (bounded by the queue bound).
    var framesInFlight = 0
    /// Channels whose next delivered frame must carry `.gap`.
    var gapChannels: Set<UInt32> = []
    var needsFlush = false
    var closing = false
    /// Asked for the status (`meltap status`), or turned away at the limit: gets no frames,
    /// headers or stats from then on, is not counted in `counters.subscribers` and takes no
    /// `--max-subscribers` place.
    var statusOnly = false
    /// Arrived when every place was taken: refused, but left open for `SubscriberHub.statusGrace`
    /// so that a status request it sent is still answered.
    var turnedAway = false

    init(context: ChannelHandlerContext) { self.context = context }
}

/// The subscribers of one publisher.
///
/// Confined to `eventLoop`: every method must be called on it (checked in debug builds). It is
/// `@unchecked Sendable` only so closures scheduled on that loop can carry it.
final class SubscriberHub: @unchecked Sendable {
    let eventLoop: EventLoop
    let queueBound: Int
    let policy: FramePublisher.SlowSubscriberPolicy
    let counters: PublisherCounters
    /// Subscribers served at once; the next one gets a `.tooManySubscribers` refusal. Status
    /// queries take no place.
    let maximumSubscribers: Int
    /// How long a connection turned away at the limit stays open for a status request: `meltap
    /// status` sends its request right after connecting, so a status query is answered even
    /// when every place is taken. A refused subscriber closes its end at once, ending it sooner.
    static let statusGrace = TimeAmount.seconds(5)
    /// Turned-away connections left open at once; past it, one is closed right after its refusal.
    static let maximumTurnedAway = 16
    /// Where the socket is, for refusal messages.
    let socketPath: String
    /// Channels in the current header; nil before `start`.
    private(set) var channelCount: Int?
    private var subscribers: [ObjectIdentifier: Subscriber] = [:]
    /// Entries of `subscribers` that are not `statusOnly`: the places taken.
    private var served = 0
    /// Turned-away connections still open (not in `subscribers`).
    private var turnedAway: [ObjectIdentifier: Subscriber] = [:]
    /// Makes the JSON of a status message; nil: status requests are ignored (as by servers that
    /// predate them). Set from any thread, called on the event loop.
    let statusSource = Mutex<(@Sendable () -> [UInt8])?>(nil)
    /// The header every new subscriber gets first; nil before `start`.
    private(set) var header: ByteBuffer?
    /// Batch being delivered; swapped with the publisher's pending list so neither reallocates.
    var batch: [PendingItem] = []
    /// A heap trim is scheduled (see `remove`).
    private var trimScheduled = false

    init(eventLoop: EventLoop, queueBound: Int, policy: FramePublisher.SlowSubscriberPolicy,
         counters: PublisherCounters, maximumSubscribers: Int, socketPath: String) {
        self.eventLoop = eventLoop
        self.maximumSubscribers = maximumSubscribers
        self.socketPath = socketPath
        self.queueBound = queueBound
        self.policy = policy
        self.counters = counters
    }

    /// Registers a new connection and sends it the header; or, when `maximumSubscribers` are
    /// served already, sends it a refusal (returns false) and closes it: after `statusGrace`, or
    /// at once when `maximumTurnedAway` are open already. Until then its status requests are
    /// answered (status queries take no place, but the server cannot tell one from a subscriber
    /// before it asks).
    func add(_ subscriber: Subscriber) -> Bool {
        eventLoop.assertInEventLoop()
        guard served < maximumSubscribers else {
            let refusal = Refusal(.tooManySubscribers,
                                  "meltap at \(socketPath) already serves \(maximumSubscribers) subscribers, "
                                  + "its limit (meltap run --max-subscribers); try again when one leaves, or "
                                  + "restart meltap with a higher --max-subscribers")
            guard turnedAway.count < Self.maximumTurnedAway else {
                refuse(subscriber, refusal)
                return false
            }
            turnedAway[ObjectIdentifier(subscriber)] = subscriber
            subscriber.turnedAway = true
            subscriber.statusOnly = true
            var bytes: [UInt8] = []
            WireEncoder.appendRefusal(refusal, to: &bytes)
            let channel = subscriber.context.channel
            subscriber.context.writeAndFlush(NIOAny(channel.allocator.buffer(bytes: bytes)), promise: nil)
            eventLoop.scheduleTask(in: Self.statusGrace) { channel.close(promise: nil) }
            return false
        }
        subscribers[ObjectIdentifier(subscriber)] = subscriber
        served += 1
        counters.subscribers.add(1, ordering: .relaxed)  // a statistic: no ordering needed
        if let header {
            subscriber.context.writeAndFlush(NIOAny(header), promise: nil)
        }
        return true
    }

    /// Applies a Subscribe message, or refuses the connection when it names a channel the
    /// stream does not have.
    func subscribe(_ subscriber: Subscriber, channels: [UInt32]) {
        eventLoop.assertInEventLoop()
        guard !subscriber.turnedAway else { return }  // refused already; only a status request is heard
        if let channelCount, let missing = channels.first(where: { Int($0) >= channelCount }) {
            refuse(subscriber, Refusal(.unknownChannel,
                                       "channel index \(missing) does not exist: the stream at \(socketPath) has "
                                       + "\(channelCount) channel(s), indices 0 to \(channelCount - 1) (channel 1 "
                                       + "on meltap's command lines is index 0)"))
            return
        }
        subscriber.filter = channels.isEmpty ? nil : Set(channels)
        counters.subscribesApplied.add(1, ordering: .relaxed)  // a statistic
    }

    /// Sends `refusal`, then closes the connection once it is written.
    func refuse(_ subscriber: Subscriber, _ refusal: Refusal) {
        eventLoop.assertInEventLoop()
        guard !subscriber.closing else { return }
        subscriber.closing = true
        var bytes: [UInt8] = []
        WireEncoder.appendRefusal(refusal, to: &bytes)
        let context = subscriber.context
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(bytes: bytes)))
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    /// Answers a status request with one status message; the connection becomes status-only.
    func answerStatus(_ subscriber: Subscriber) {
        eventLoop.assertInEventLoop()
        guard let source = statusSource.withLock({ $0 }) else { return }
        if !subscriber.statusOnly {
            subscriber.statusOnly = true
            served -= 1  // its place is free for a subscriber from now on
            counters.subscribers.subtract(1, ordering: .relaxed)  // a statistic
        }
        var bytes: [UInt8] = []
        WireEncoder.appendStatus(json: source(), to: &bytes)
        subscriber.context.writeAndFlush(NIOAny(subscriber.context.channel.allocator.buffer(bytes: bytes)), promise: nil)
    }

    func remove(_ subscriber: Subscriber) {
        eventLoop.assertInEventLoop()
        if subscriber.turnedAway {
            subscriber.turnedAway = false
            turnedAway.removeValue(forKey: ObjectIdentifier(subscriber))
        }
        if subscribers.removeValue(forKey: ObjectIdentifier(subscriber)) != nil, !subscriber.statusOnly {
            served -= 1
            counters.subscribers.subtract(1, ordering: .relaxed)
            scheduleHeapTrim()
        }
    }

    /// A slow subscriber's queue is thousands of small allocations (a pending write and its
    /// promise per frame, ≈ 150 bytes each: ≈ 0.6 MB for 5 s of 8 channels). glibc keeps freed
    /// memory in its arenas, so RSS would stay at its peak after slow subscribers leave; one
    /// `malloc_trim(0)` a second after the last departure hands it back to the system.
    private func scheduleHeapTrim() {
        #if canImport(Glibc)
        guard !trimScheduled else { return }
        trimScheduled = true
        eventLoop.scheduleTask(in: .seconds(1)) { [self] in
            trimScheduled = false
            _ = glibcMallocTrim(0)
        }
        #endif
    }

    /// Delivers `batch` to every subscriber, flushing each once, then empties it.
    func deliverBatch() {
        eventLoop.assertInEventLoop()
        for item in batch {
            switch item {
            case .frame(let buffer, let channel): deliverFrame(buffer, channel: channel)
            case .header(let buffer, let count):
                header = buffer
                channelCount = count
                for subscriber in subscribers.values where !subscriber.closing && !subscriber.statusOnly {
                    subscriber.context.write(NIOAny(buffer), promise: nil)
                    subscriber.needsFlush = true
                }
            case .stats(let buffer):
                // Stats are advisory: skipped for a subscriber whose queue is full.
                for subscriber in subscribers.values
                where !subscriber.closing && !subscriber.statusOnly && subscriber.framesInFlight < queueBound {
                    subscriber.context.write(NIOAny(buffer), promise: nil)
                    subscriber.needsFlush = true
                }
            }
        }
        batch.removeAll(keepingCapacity: true)
        for subscriber in subscribers.values where subscriber.needsFlush {
            subscriber.needsFlush = false
            subscriber.context.flush()
        }
    }

    private func deliverFrame(_ buffer: ByteBuffer, channel: UInt32) {
        for subscriber in subscribers.values where !subscriber.closing && !subscriber.statusOnly {
            if let filter = subscriber.filter, !filter.contains(channel) { continue }
            if subscriber.framesInFlight >= queueBound {
                counters.subscriberDrops.add(1, ordering: .relaxed)  // a statistic
                switch policy {
                case .dropFrames:
                    subscriber.gapChannels.insert(channel)
                case .disconnect:
                    subscriber.closing = true
                    subscriber.context.close(promise: nil)
                }
                continue
            }
            var message = buffer  // shares storage with every other subscriber's copy
            if !subscriber.gapChannels.isEmpty, subscriber.gapChannels.remove(channel) != nil {
                // Copy-on-write: only this subscriber's copy gets the flag.
                let at = message.readerIndex + WireFormat.frameFlagsOffset
                let flags = message.getInteger(at: at, endianness: .little, as: UInt32.self) ?? 0
                message.setInteger(flags | FrameFlags.gap.rawValue, at: at, endianness: .little)
            }
            subscriber.framesInFlight += 1
            let promise = eventLoop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenComplete { _ in subscriber.framesInFlight -= 1 }
            subscriber.context.write(NIOAny(message), promise: promise)
            subscriber.needsFlush = true
        }
    }

    /// Closes every subscriber connection.
    func closeAll() {
        eventLoop.assertInEventLoop()
        for subscriber in Array(subscribers.values) + Array(turnedAway.values) where !subscriber.closing {
            subscriber.closing = true
            subscriber.context.close(promise: nil)
        }
    }
}

/// Per-connection handler: registers the subscriber, reads its Subscribe messages.
/// Anything malformed closes this one connection.
final class SubscriberHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Subscriber messages are tiny; a large payload means garbage.
    static let maximumPayloadLength = 64 * 1024

    let hub: SubscriberHub
    private var decoder = WireDecoder(maximumPayloadLength: SubscriberHandler.maximumPayloadLength)
    private var subscriber: Subscriber?

    init(hub: SubscriberHub) { self.hub = hub }

    func channelActive(context: ChannelHandlerContext) {
        let subscriber = Subscriber(context: context)
        // Set before `add`: its header write fails at once when the client has already hung up,
        // and NIO then calls `channelInactive` from inside `add`, which must find the subscriber
        // to remove it (else it stays counted, holding a --max-subscribers slot for good).
        self.subscriber = subscriber
        if !hub.add(subscriber), !subscriber.turnedAway { self.subscriber = nil }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let subscriber { hub.remove(subscriber) }
        subscriber = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { decoder.append($0) }
        do {
            while let message = try decoder.next() {
                if case .subscribe(let channels) = message, let subscriber, !subscriber.closing {
                    hub.subscribe(subscriber, channels: channels)
                }
                if case .statusRequest = message, let subscriber, !subscriber.closing {
                    hub.answerStatus(subscriber)
                }
                // Other message types are not for the server: ignored.
            }
        } catch {
            // Garbage from this subscriber: drop it, nobody else notices.
            subscriber?.closing = true
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        subscriber?.closing = true
        context.close(promise: nil)
    }
}
