// One browser of the web view: its WebSocket connection and the bounded queue of messages
// waiting to be written to it.
import NIOCore
import NIOWebSocket
import Synchronization

/// A message for a browser: a frame batch (binary) or a JSON document (text).
enum WebViewMessage {
    case batch(ByteBuffer, frames: Int)
    /// `kept`: never dropped (the stream descriptions the page cannot draw without).
    case text(String, kept: Bool)
}

/// The WebSocket handler of one browser, with its queue.
///
/// `offer` (any thread, never blocking) appends to the queue, or drops the message and counts it
/// when `maximumQueued` messages wait already; it schedules one drain on the connection's event
/// loop. The drain writes while the channel is writable (the kernel's socket buffer and NIO's
/// write-buffer water marks have room) and resumes when it becomes writable again. So a slow or
/// stalled browser costs a bounded queue and dropped batches, counted, and nothing else: its
/// page sees the dropped frames as sequence jumps and marks them as gaps.
final class WebViewBrowser: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Messages a browser may have waiting: 64 batches are 2.6 s of frames at one batch per
    /// 40 ms (with a status message a second among them).
    static let maximumQueued = 64

    struct Queue {
        var messages = CircularBuffer<WebViewMessage>(initialCapacity: 16)
        /// A drain is scheduled or running: `offer` need not schedule another.
        var draining = false
        var droppedFrames: UInt64 = 0
        var droppedMessages: UInt64 = 0
        var closed = false
    }

    private let queue = Mutex(Queue())
    /// Set in `handlerAdded`, cleared in `handlerRemoved`; event loop only.
    private var context: ChannelHandlerContext?
    let eventLoop: EventLoop
    /// Told once, on the event loop, when the connection is gone.
    private let onClose: (WebViewBrowser) -> Void

    init(eventLoop: EventLoop, onClose: @escaping (WebViewBrowser) -> Void) {
        self.eventLoop = eventLoop
        self.onClose = onClose
    }

    /// Frames and messages dropped for this browser because its queue was full, since it connected.
    var dropped: (frames: UInt64, messages: UInt64) { queue.withLock { ($0.droppedFrames, $0.droppedMessages) } }

    /// Queues `message`, or drops and counts it when the queue is full. Any thread; never waits
    /// for the network.
    func offer(_ message: WebViewMessage) {
        let schedule = queue.withLock { queue -> Bool in
            if queue.closed { return false }
            var kept = false
            if case .text(_, let keep) = message { kept = keep }
            if queue.messages.count >= Self.maximumQueued && !kept {
                queue.droppedMessages += 1
                if case .batch(_, let frames) = message { queue.droppedFrames += UInt64(frames) }
                return false
            }
            queue.messages.append(message)
            if queue.draining { return false }
            queue.draining = true
            return true
        }
        if schedule { eventLoop.execute { self.drain() } }
    }

    /// Writes queued messages while the channel can take them. Event loop only.
    private func drain() {
        guard let context else { return }
        var wrote = false
        while context.channel.isWritable {
            let next = queue.withLock { queue -> WebViewMessage? in
                if let message = queue.messages.popFirst() { return message }
                queue.draining = false
                return nil
            }
            guard let next else { break }
            let frame: WebSocketFrame
            switch next {
            case .batch(let buffer, _):
                frame = WebSocketFrame(fin: true, opcode: .binary, data: buffer)
            case .text(let text, _):
                frame = WebSocketFrame(fin: true, opcode: .text, data: context.channel.allocator.buffer(string: text))
            }
            context.write(wrapOutboundOut(frame), promise: nil)
            wrote = true
        }
        if wrote { context.flush() }
        // Not writable with messages left: `draining` stays set, and channelWritabilityChanged
        // resumes.
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closeQueue()
        self.context = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drain() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeQueue()
        context.fireChannelInactive()
    }

    /// The page sends nothing but control frames: answers pings, and a close with a close.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readSlice(length: 2) ?? context.channel.allocator.buffer(capacity: 0)
            let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: code)
            context.writeAndFlush(wrapOutboundOut(close)).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func closeQueue() {
        let first = queue.withLock { queue -> Bool in
            defer {
                queue.closed = true
                queue.messages.removeAll()
            }
            return !queue.closed
        }
        if first { onClose(self) }
    }
}

/// Sends one text message (why the browser is turned away) and a close frame, then closes.
final class WebViewRefusal: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let text: String

    init(text: String) { self.text = text }

    func handlerAdded(context: ChannelHandlerContext) {
        let message = WebSocketFrame(fin: true, opcode: .text, data: context.channel.allocator.buffer(string: text))
        context.write(wrapOutboundOut(message), promise: nil)
        var code = context.channel.allocator.buffer(capacity: 2)
        code.write(webSocketErrorCode: .unexpectedServerError)
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: code)
        context.writeAndFlush(wrapOutboundOut(close)).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
