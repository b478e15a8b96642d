import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A loopback HTTP server the firing tests point the engine at. The path says how to answer:
///
///     /status/NNN                 answer NNN (a 204 by default on any other path)
///     /retry-after/NNN/VALUE      answer NNN with "Retry-After: VALUE"
///     /delay/MS                   answer 200 after MS milliseconds
///     /hang                       never answer
///     /reset                      reset the connection (RST) instead of answering
///     /redirect?to=URL            302 to URL        /loop   302 to /loop, forever
///     /body/N                     200 with N bytes of "x" (sent in 64 KiB chunks)
///
/// and it counts what the engine did to it: connections accepted, connections and requests
/// open at once (the per-host cap), requests seen.
public final class TestServer: Sendable {
    public let host: String
    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    public let stats: Stats

    public var base: String { "http://\(host):\(port)" }

    public init(host: String = "127.0.0.1") async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stats = Stats()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ConnectionCounter(stats: stats))
                    try sync.configureHTTPServerPipeline(withErrorHandling: false)
                    try sync.addHandler(Responder(stats: stats))
                }
            }
        do {
            channel = try await bootstrap.bind(host: host, port: 0).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        self.host = host
        self.group = group
        self.stats = stats
        port = channel.localAddress!.port!
    }

    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    public final class Stats: Sendable {
        private struct Counts {
            var accepted = 0, openConnections = 0, maxOpenConnections = 0
            var requests = 0, openRequests = 0, maxOpenRequests = 0
            var uris: [String] = []
        }
        private let counts = Mutex(Counts())

        public var accepted: Int { counts.withLock { $0.accepted } }
        public var maxOpenConnections: Int { counts.withLock { $0.maxOpenConnections } }
        public var requests: Int { counts.withLock { $0.requests } }
        public var maxOpenRequests: Int { counts.withLock { $0.maxOpenRequests } }
        /// Every request's target (path and query) in arrival order, for end-to-end checks.
        public var uris: [String] { counts.withLock { $0.uris } }

        func connectionOpened() {
            counts.withLock {
                $0.accepted += 1
                $0.openConnections += 1
                $0.maxOpenConnections = max($0.maxOpenConnections, $0.openConnections)
            }
        }

        func connectionClosed() { counts.withLock { $0.openConnections -= 1 } }

        func requestStarted(uri: String) {
            counts.withLock {
                $0.uris.append(uri)
                $0.requests += 1
                $0.openRequests += 1
                $0.maxOpenRequests = max($0.maxOpenRequests, $0.openRequests)
            }
        }

        func requestEnded() { counts.withLock { $0.openRequests -= 1 } }
    }
}

private final class ConnectionCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let stats: TestServer.Stats
    init(stats: TestServer.Stats) { self.stats = stats }

    func channelActive(context: ChannelHandlerContext) {
        stats.connectionOpened()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stats.connectionClosed()
        context.fireChannelInactive()
    }
}

private final class Responder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let stats: TestServer.Stats
    /// The request being answered holds an open-request count until its answer is written.
    private var answering = false

    init(stats: TestServer.Stats) { self.stats = stats }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else {
            if case .head(let head) = unwrapInboundIn(data) { self.head = head }
            return
        }
        guard let head else { return }
        stats.requestStarted(uri: head.uri)
        answering = true
        route(context: context, uri: head.uri)
    }

    private var head: HTTPRequestHead?

    func channelInactive(context: ChannelHandlerContext) {
        if answering { finishRequest() }
        context.fireChannelInactive()
    }

    private func route(context: ChannelHandlerContext, uri: String) {
        let (path, query) = split(uri)
        let parts = path.split(separator: "/").map(String.init)
        switch parts.first {
        case "status":
            respond(context, status: Int(parts[1]) ?? 500)
        case "retry-after":
            respond(context, status: Int(parts[1]) ?? 503, headers: [("Retry-After", parts[2].removingPercentEscapes)])
        case "delay":
            let ms = Int64(parts[1]) ?? 0
            let loop = context.eventLoop.assumeIsolated()
            loop.scheduleTask(in: .milliseconds(ms)) { [self] in
                respond(context, status: 200)
            }
        case "hang":
            break
        case "reset":
            let channel = context.channel
            (channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                .whenComplete { _ in channel.close(promise: nil) }
        case "redirect":
            respond(context, status: 302, headers: [("Location", (query["to"] ?? "/").removingPercentEscapes)])
        case "loop":
            respond(context, status: 302, headers: [("Location", "/loop")])
        case "body":
            sendBody(context, size: Int(parts[1]) ?? 0)
        default:
            respond(context, status: 204)
        }
    }

    private func respond(_ context: ChannelHandlerContext, status: Int, headers: [(String, String)] = []) {
        var head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status))
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Content-Length", value: "0")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        finishRequest()
    }

    private func sendBody(_ context: ChannelHandlerContext, size: Int) {
        var head = HTTPResponseHead(version: .http1_1, status: .ok)
        head.headers.add(name: "Content-Length", value: String(size))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let chunk = context.channel.allocator.buffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
        var left = size
        while left > 0 {
            let n = min(left, chunk.readableBytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: 0, length: n)!))), promise: nil)
            left -= n
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        finishRequest()
    }

    private func finishRequest() {
        if answering {
            answering = false
            stats.requestEnded()
        }
    }

    private func split(_ uri: String) -> (String, [String: String]) {
        let pieces = uri.split(separator: "?", maxSplits: 1)
        var query: [String: String] = [:]
        if pieces.count == 2 {
            for pair in pieces[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                query[String(kv[0])] = kv.count == 2 ? String(kv[1]) : ""
            }
        }
        return (String(pieces.first ?? ""), query)
    }
}

extension String {
    /// Percent-decoding for test URLs built with `percentEncoded`.
    public var removingPercentEscapes: String {
        var bytes: [UInt8] = []
        var it = utf8.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%"), let h = it.next(), let l = it.next(),
                let v = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16) {
                bytes.append(v)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Every byte but unreserved ones escaped, so a URL fits in a query value.
    public var percentEncoded: String {
        var out = ""
        for b in utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "%" + String(b >> 4, radix: 16) + String(b & 0xF, radix: 16)
            }
        }
        return out
    }
}
