import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP side of metrics: `GET /metrics` answers the Prometheus text, anything else 404
/// (405 for another method on /metrics). One event-loop thread: a scrape every few seconds
/// needs no more, and it stays off the firing thread and Swift's cooperative pool.
public final class MetricsEndpoint: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// Where it listens, with the port the kernel picked if the configured one was 0.
    public let address: ListenAddress

    /// Binds `exporter.listen`; `beforeScrape` runs on the endpoint's thread before each
    /// answer, to refresh gauges that are cheap to read. A bind failure is an error naming the
    /// address and the reason (in use, not an address of this host, ...).
    public static func start(_ exporter: MetricsExporter, beforeScrape: @escaping @Sendable () -> Void) async throws(MetricsEndpointError) -> MetricsEndpoint {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(ScrapeHandler(exporter: exporter, beforeScrape: beforeScrape))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: exporter.listen.host, port: exporter.listen.port).get()
            let port = channel.localAddress?.port ?? exporter.listen.port
            return MetricsEndpoint(group: group, channel: channel, address: ListenAddress(host: exporter.listen.host, port: port))
        } catch {
            try? await group.shutdownGracefully()
            throw MetricsEndpointError(message: "metrics_listen \(exporter.listen): cannot listen: \(error)")
        }
    }

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel, address: ListenAddress) {
        self.group = group
        self.channel = channel
        self.address = address
    }

    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// Answers one connection's requests in order; keep-alive as the scraper asks.
private final class ScrapeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let exporter: MetricsExporter
    let beforeScrape: @Sendable () -> Void
    private var head: HTTPRequestHead?

    init(exporter: MetricsExporter, beforeScrape: @escaping @Sendable () -> Void) {
        self.exporter = exporter
        self.beforeScrape = beforeScrape
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break  // A scrape has no body; whatever comes is ignored.
        case .end:
            guard let head else { return }
            self.head = nil
            answer(context, head)
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        switch (path, head.method) {
        case ("/metrics", .GET):
            beforeScrape()
            respond(context, head, .ok, body: exporter.scrape(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case ("/metrics", _):
            respond(context, head, .methodNotAllowed, body: "only GET\n", extra: [("Allow", "GET")])
        default:
            respond(context, head, .notFound, body: "not found: this endpoint serves GET /metrics\n")
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus,
                         body: String, contentType: String = "text/plain; charset=utf-8", extra: [(String, String)] = []) {
        let buffer = context.channel.allocator.buffer(string: body)
        var head = HTTPResponseHead(version: request.version, status: status)
        head.headers.add(name: "Content-Type", value: contentType)
        head.headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        for (name, value) in extra { head.headers.add(name: name, value: value) }
        let keepAlive = request.isKeepAlive
        if !keepAlive { head.headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
