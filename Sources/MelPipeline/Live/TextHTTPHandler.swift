import NIOCore
import NIOHTTP1

/// One HTTP/1 text response: status, body, Content-Type and any further headers.
struct TextHTTPResponse {
    var status: HTTPResponseStatus
    var body: String
    var contentType: String
    var headers: [(name: String, value: String)] = []
}

/// Answers every complete HTTP/1 request with the text response `respond` makes from its head:
/// Content-Length set, the body left out for HEAD, and the connection closed after it unless the
/// client keeps it alive. The request assembly and response writing that `--metrics`
/// (`MetricsServer`) and the web view (`WebViewServer`) share; each supplies `respond`.
/// Runs on its channel's event loop only.
final class TextHTTPHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: (HTTPRequestHead) -> TextHTTPResponse
    private var request: HTTPRequestHead?

    init(respond: @escaping (HTTPRequestHead) -> TextHTTPResponse) { self.respond = respond }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            let response = respond(head)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: response.contentType)
            headers.add(name: "Content-Length", value: String(response.body.utf8.count))
            for header in response.headers { headers.add(name: header.name, value: header.value) }
            let keepAlive = head.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status,
                                                                 headers: headers))), promise: nil)
            if head.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: response.body)))),
                              promise: nil)
            }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive { done.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) } }
        }
    }
}
