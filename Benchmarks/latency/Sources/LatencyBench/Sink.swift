import NIOCore
import NIOHTTP1
import NIOPosix

/// The partner side: an HTTP/1.1 server on loopback that notes each request's arrival time
/// the moment its head is decoded, then answers 204 at once, or after `slowDelay` on `/slow`
/// (the slow partner). Keep-alive, as real partners' servers are, so the daemon's connection
/// reuse is what is measured, not connection set-up.
final class Sink: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channels: [any Channel]

    /// Listens on `port` of each of `hosts` (127.0.0.2 is the slow partner's host: another
    /// host key for the daemon, so its per-host cap applies to it alone).
    init(hosts: [String], port: Int, slowDelay: TimeAmount, arrivals: Arrivals) throws {
        // One thread: a few thousand requests a second is little work, and every core the
        // harness leaves alone is one the daemon can use.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(SinkHandler(arrivals: arrivals, slowDelay: slowDelay))
                }
            }
        var channels: [any Channel] = []
        do {
            for host in hosts {
                channels.append(try bootstrap.bind(host: host, port: port).wait())
            }
        } catch {
            for channel in channels { try? channel.close().wait() }
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
        self.channels = channels
    }
}

private final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let arrivals: Arrivals
    private let slowDelay: TimeAmount
    private var slow = false
    private var keepAlive = true

    init(arrivals: Arrivals, slowDelay: TimeAmount) {
        self.arrivals = arrivals
        self.slowDelay = slowDelay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // Stamped first: everything after this is the sink's time, not the daemon's.
            let now = monotonicNanos()
            let kind = FireKind(uri: head.uri)
            arrivals.arrived(kind, at: now)
            if case .slow = kind { slow = true } else { slow = false }
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            if slow {
                let keepAlive = keepAlive
                context.eventLoop.assumeIsolated().scheduleTask(in: slowDelay) { [self] in
                    guard context.channel.isActive else { return }
                    respond(context: context, keepAlive: keepAlive)
                }
            } else {
                respond(context: context, keepAlive: keepAlive)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, keepAlive: Bool) {
        var headers = HTTPHeaders()
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .noContent, headers: headers))),
                      promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
