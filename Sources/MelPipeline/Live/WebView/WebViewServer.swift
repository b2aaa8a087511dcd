// `meltap run --http ADDRESS:PORT`: a live view of every stream in a browser, served by SwiftNIO's
// HTTP/1 server with a WebSocket for the frames and the status (docs/web-view.md).
import Foundation
import MelDSP
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// Serves the web view of one live session until `stop()`:
///
/// - `GET /` the page, `/app.js` and `/app.css` its script and style (`WebViewPage`: no build
///   step, nothing from elsewhere);
/// - `GET /ws` the WebSocket: a `hello` (the streams), then every 40 ms a frame batch per stream
///   with frames, and every second the status document (`meltap status --json`'s) and this
///   browser's own counts (docs/web-view.md);
/// - `GET /status.json` the status document; `GET /metrics` the Prometheus text of `--metrics`
///   with the web view's own counters appended, so one port can serve both.
///
/// One event-loop thread does all of it. Frames reach it through `WebViewFeed`'s sinks, which
/// the consumer thread fills; every browser has a bounded queue (`WebViewBrowser`), and at most
/// `maximumBrowsers` are served at once (the next is sent a refusal and closed).
public final class WebViewServer: @unchecked Sendable {
    /// Seconds between frame batches: 25 a second, more often than a page repaints a column
    /// block and rarely enough that a batch carries several frames per channel.
    static let batchInterval = TimeAmount.milliseconds(40)
    static let statusInterval = TimeAmount.seconds(1)

    public let host: String
    /// The port bound (the one asked for, or the kernel's choice for 0).
    public let port: Int
    public let maximumBrowsers: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    private let state: WebViewState
    /// Set by the first `stop()`; relaxed: it guards nothing but itself.
    private let stopped = Atomic<Bool>(false)

    /// Binds `host:port` (port 0: any free port) and starts serving.
    /// - Parameters:
    ///   - feed: the feed whose sinks `session` was built with (`LiveSessionOptions.extraSinks`).
    ///   - maximumBrowsers: browsers served at once (`--http-max-clients`).
    /// - Throws: `PipelineError` saying what to do when the address cannot be bound.
    public init(host: String, port: Int, session: LiveSession, feed: WebViewFeed, maximumBrowsers: Int) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let state = WebViewState(session: session, feed: feed, maximumBrowsers: maximumBrowsers, eventLoop: loop,
                                 loopbackOnly: WebViewAddress.isLoopback(host))
        self.state = state
        self.maximumBrowsers = maximumBrowsers
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let http = WebViewHTTP.handler(state: state)
                    let upgrader = NIOWebSocketServerUpgrader(
                        maxFrameSize: 1 << 14,
                        shouldUpgrade: { channel, head in
                            channel.eventLoop.makeSucceededFuture(state.refusesUpgrade(head) == nil ? HTTPHeaders() : nil)
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture { try state.attach(channel: channel) }
                        })
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.syncOperations.removeHandler(http, promise: nil)
                        }),
                        withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(http)
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw PipelineError("Cannot serve the web view on \(host):\(port) (\(error)). Choose another --http "
                                + "ADDRESS:PORT (the port may be in use, or the address not this machine's).")
        }
        self.host = host
        self.port = channel.localAddress?.port ?? port
        loop.execute { state.startTimers() }
    }

    /// The page's URL as `meltap run` prints it.
    public var url: String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/"
    }

    /// Browsers connected now, and frames dropped for browsers since start (their queues full,
    /// or a batch full).
    public var counts: (browsers: Int, served: UInt64, droppedFrames: UInt64) { state.counts() }

    /// Closes the listening socket and every connection. Idempotent.
    public func stop() {
        guard stopped.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        try? channel.eventLoop.submit { self.state.stopTimers() }.wait()
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// Everything the handlers share: the session, the feed, the browsers and the timers. Event loop
/// only, but for `counts()` (under the mutex).
final class WebViewState: @unchecked Sendable {
    let session: LiveSession
    let feed: WebViewFeed
    let maximumBrowsers: Int
    let eventLoop: EventLoop
    /// Bound to a loopback address: requests must name a loopback host (against DNS rebinding).
    let loopbackOnly: Bool
    let exporter: MetricsExporter

    struct Browsers {
        var connected: [ObjectIdentifier: WebViewBrowser] = [:]
        /// Browsers served since start, and frames dropped for browsers that have left.
        var served: UInt64 = 0
        var droppedByLeft: UInt64 = 0
    }

    private let browsers = Mutex(Browsers())
    private var batchTask: RepeatedTask?
    private var statusTask: RepeatedTask?
    /// The last status message, sent at once to a browser that connects. Event loop only.
    private var lastStatus: String?

    init(session: LiveSession, feed: WebViewFeed, maximumBrowsers: Int, eventLoop: EventLoop, loopbackOnly: Bool) {
        self.session = session
        self.feed = feed
        self.maximumBrowsers = maximumBrowsers
        self.eventLoop = eventLoop
        self.loopbackOnly = loopbackOnly
        exporter = MetricsExporter(session: session)
    }

    func startTimers() {
        batchTask = eventLoop.scheduleRepeatedTask(initialDelay: WebViewServer.batchInterval,
                                                   delay: WebViewServer.batchInterval) { _ in self.sendBatches() }
        statusTask = eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: WebViewServer.statusInterval) { _ in
            self.sendStatus()
        }
    }

    func stopTimers() {
        batchTask?.cancel()
        statusTask?.cancel()
    }

    func counts() -> (browsers: Int, served: UInt64, droppedFrames: UInt64) {
        let sinkDrops = feed.sinks.reduce(0) { $0 + $1.dropped }
        return browsers.withLock { b in
            (b.connected.count, b.served, b.droppedByLeft + sinkDrops
                + b.connected.values.reduce(0) { $0 + $1.dropped.frames })
        }
    }

    private var snapshot: [WebViewBrowser] { browsers.withLock { Array($0.connected.values) } }

    /// Every stream's frames since the last call, to every browser; a stream's new description
    /// first when one of its frames carried `reconfigured`.
    private func sendBatches() {
        let targets = snapshot
        for sink in feed.sinks {
            let (message, reconfigured, frames) = sink.take()
            guard !targets.isEmpty else { continue }
            if reconfigured {
                let hello = helloMessage()
                for browser in targets { browser.offer(.text(hello, kept: true)) }
            }
            if let message {
                for browser in targets { browser.offer(.batch(message, frames: frames)) }
            }
        }
    }

    /// The status document, and each browser's own counts, to every browser.
    private func sendStatus() {
        let targets = snapshot
        guard !targets.isEmpty else { lastStatus = nil; return }
        let status = "{\"type\":\"status\",\"status\":" + String(decoding: session.status().json(), as: UTF8.self) + "}"
        lastStatus = status
        let count = targets.count
        for browser in targets {
            browser.offer(.text(status, kept: false))
            let dropped = browser.dropped
            browser.offer(.text("{\"type\":\"web\",\"browsers\":\(count),\"maximumBrowsers\":\(maximumBrowsers),"
                                + "\"droppedFrames\":\(dropped.frames),\"droppedMessages\":\(dropped.messages),"
                                + "\"serverTime\":\(wallClockMilliseconds())}", kept: false))
        }
    }

    /// The `hello` message: the instance and every stream as the page draws it.
    func helloMessage() -> String {
        struct Hello: Encodable {
            var type = "hello"
            var client: String
            var meltapVersion: String
            var maximumBrowsers: Int
            var batchIntervalMilliseconds: Int
            var streams: [WebViewStreamInfo]
        }
        let streams = session.streams.enumerated().map { WebViewStreamInfo(index: $0.offset, description: $0.element.description) }
        let hello = Hello(client: session.client.clientName, meltapVersion: meltapVersion, maximumBrowsers: maximumBrowsers,
                          batchIntervalMilliseconds: Int(WebViewServer.batchInterval.nanoseconds / 1_000_000), streams: streams)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(hello)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Why a request may not become a WebSocket, or nil: a path other than /ws, a host name that
    /// is not this loopback server's (DNS rebinding), or an Origin header of another site (a page
    /// elsewhere reading the features through the user's browser).
    func refusesUpgrade(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String)? {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard path == "/ws" else { return (.notFound, "Not found: the web view's WebSocket is at /ws.\n") }
        if let refusal = refusesHost(head) { return refusal }
        // The page's own origin, served directly or behind a TLS proxy that keeps the Host.
        if let origin = head.headers.first(name: "Origin"), let host = head.headers.first(name: "Host"),
           origin != "http://\(host)" && origin != "https://\(host)" {
            return (.forbidden, "Forbidden: the page at \(origin) may not read this meltap's features; "
                    + "open http://\(host)/ instead.\n")
        }
        return nil
    }

    /// A request to a loopback-only server must name a loopback host (`localhost`, 127.x, ::1):
    /// otherwise a site whose name resolves to 127.0.0.1 could read the page from the user's
    /// browser. Nil when the request may go on.
    func refusesHost(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String)? {
        guard loopbackOnly else { return nil }
        let host = head.headers.first(name: "Host") ?? ""
        let name: String
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
            name = String(host[host.index(after: host.startIndex)..<end])
        } else {
            name = String(host.split(separator: ":", maxSplits: 1).first ?? "")
        }
        if WebViewAddress.isLoopback(name) { return nil }
        return (.forbidden, "Forbidden: this meltap serves its web view on loopback only, and the request names the "
                + "host '\(host)'. Open it as http://localhost:PORT/ or http://127.0.0.1:PORT/.\n")
    }

    /// After the upgrade: a browser, registered and sent the streams and the last status; or,
    /// past `maximumBrowsers`, a refusal. Event loop.
    func attach(channel: Channel) throws {
        let browser = WebViewBrowser(eventLoop: eventLoop) { [self] browser in detach(browser) }
        let admitted = browsers.withLock { b -> Bool in
            guard b.connected.count < maximumBrowsers else { return false }
            b.connected[ObjectIdentifier(browser)] = browser
            b.served += 1
            return true
        }
        guard admitted else {
            let text = "{\"type\":\"refused\",\"reason\":\"This meltap already serves \(maximumBrowsers) browsers, its limit "
                + "(meltap run --http-max-clients). Close another page showing it, or raise the limit.\"}"
            try channel.pipeline.syncOperations.addHandler(WebViewRefusal(text: text))
            return
        }
        feed.browserCount.wrappingAdd(1, ordering: .relaxed)
        try channel.pipeline.syncOperations.addHandler(browser)
        browser.offer(.text(helloMessage(), kept: true))
        if let lastStatus { browser.offer(.text(lastStatus, kept: false)) }
    }

    private func detach(_ browser: WebViewBrowser) {
        let removed = browsers.withLock { b -> Bool in
            guard b.connected.removeValue(forKey: ObjectIdentifier(browser)) != nil else { return false }
            b.droppedByLeft += browser.dropped.frames
            return true
        }
        if removed { feed.browserCount.wrappingSubtract(1, ordering: .relaxed) }
    }

    /// The web view's lines appended to the `/metrics` text.
    func metricsText() -> String {
        let (connected, served, dropped) = counts()
        let client = "client=\"\(MetricsExporter.escape(session.client.clientName))\""
        return """
            # HELP meltap_web_browsers Browsers connected to the web view (meltap run --http).
            # TYPE meltap_web_browsers gauge
            meltap_web_browsers{\(client)} \(connected)
            # HELP meltap_web_browsers_served_total Browsers the web view has served since start.
            # TYPE meltap_web_browsers_served_total counter
            meltap_web_browsers_served_total{\(client)} \(served)
            # HELP meltap_web_dropped_frames_total Frames not sent to some browser (its queue was full).
            # TYPE meltap_web_dropped_frames_total counter
            meltap_web_dropped_frames_total{\(client)} \(dropped)

            """
    }
}

/// GET /, /app.js, /app.css, /status.json, /metrics; /ws when it was not upgraded (a refusal
/// saying why); anything else 404 or 405. Served by `TextHTTPHandler`, with headers that keep the
/// page to meltap's own origin.
enum WebViewHTTP {
    static func handler(state: WebViewState) -> TextHTTPHandler {
        TextHTTPHandler { head in
            var response = Self.response(head, state: state)
            response.headers = [
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
                // Only meltap's own script, style and WebSocket; no frames of this page elsewhere.
                ("Content-Security-Policy",
                 "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
            ]
            return response
        }
    }

    private static func response(_ head: HTTPRequestHead, state: WebViewState) -> TextHTTPResponse {
        let text = "text/plain; charset=utf-8"
        func reply(_ status: HTTPResponseStatus, _ body: String, _ type: String = text) -> TextHTTPResponse {
            TextHTTPResponse(status: status, body: body, contentType: type)
        }
        guard head.method == .GET || head.method == .HEAD else {
            return reply(.methodNotAllowed, "meltap's web view serves GET only.\n")
        }
        if let refusal = state.refusesHost(head) { return reply(refusal.0, refusal.1) }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch path {
        case "/", "/index.html": return reply(.ok, WebViewPage.html, "text/html; charset=utf-8")
        case "/app.js": return reply(.ok, WebViewPage.script, "text/javascript; charset=utf-8")
        case "/app.css": return reply(.ok, WebViewPage.style, "text/css; charset=utf-8")
        case "/favicon.ico": return reply(.noContent, "")
        case "/status.json":
            return reply(.ok, String(decoding: state.session.status().json(), as: UTF8.self), "application/json")
        case "/metrics":
            return reply(.ok, state.exporter.scrape() + state.metricsText(), "text/plain; version=0.0.4; charset=utf-8")
        case "/ws":
            // Reached only when the upgrade was refused, or the request was no upgrade at all.
            if let refusal = state.refusesUpgrade(head) { return reply(refusal.0, refusal.1) }
            return reply(.badRequest, "/ws is the web view's WebSocket: connect with a WebSocket client (the page at / does).\n")
        default:
            return reply(.notFound, "Not found: meltap's web view is at /, its status at /status.json, metrics at /metrics.\n")
        }
    }
}

/// `--http ADDRESS:PORT`: where the web view listens, and whether that is loopback only.
public enum WebViewAddress {
    /// Splits "127.0.0.1:8080", "[::1]:8080", "localhost:8080" or ":8080" (loopback) into host and
    /// port; port 0 asks for any free port (printed at start). Nil when it is none of these.
    public static func parse(_ text: String) -> (host: String, port: Int)? {
        guard let (host, port) = MetricsAddress.parse(text) else { return nil }
        return (host == "localhost" ? "127.0.0.1" : host, port)
    }

    /// Whether `host` is a loopback address or name: 127.0.0.0/8, ::1, localhost. Anything else
    /// (0.0.0.0, ::, another address or name) may be reachable from other machines.
    public static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "::1" || lowered == "0:0:0:0:0:0:0:1" { return true }
        let parts = lowered.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
