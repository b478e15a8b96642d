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
///     /sequence/A,B,...           answer A to the first arrival of this exact target, B to
///                                 the next, ...; the last code again after that
///     /chaos/SEED?QUERY           a fault drawn from SEED, the whole target and how many times
///                                 that target arrived before (see `ChaosOutcome`)
///
/// and it counts what the engine did to it: connections accepted, connections and requests
/// open at once (the per-host cap), requests seen, requests answered 2xx, chaos dealt; and it
/// keeps every request whole (method, headers, body bytes) in `stats.received`.
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
            var succeededURIs: [String] = []
            var chaosArrivals: [String: Int] = [:]
            var chaosOutcomes: [ChaosOutcome: Int] = [:]
            var received: [ReceivedRequest] = []
            var sequenceArrivals: [String: Int] = [:]
        }
        private let counts = Mutex(Counts())

        public var accepted: Int { counts.withLock { $0.accepted } }
        public var maxOpenConnections: Int { counts.withLock { $0.maxOpenConnections } }
        public var requests: Int { counts.withLock { $0.requests } }
        public var maxOpenRequests: Int { counts.withLock { $0.maxOpenRequests } }
        /// Every request's target (path and query) in arrival order, for end-to-end checks.
        public var uris: [String] { counts.withLock { $0.uris } }
        /// The target of every request whose 2xx answer was handed to the kernel in full, in
        /// that order: what a partner would count as received. A soak test checks no fire
        /// landed twice from this, since `uris` also holds the attempts that failed.
        public var succeededURIs: [String] { counts.withLock { $0.succeededURIs } }
        /// How many times each chaos outcome was dealt, for a soak test's report.
        public var chaosOutcomes: [ChaosOutcome: Int] { counts.withLock { $0.chaosOutcomes } }

        /// Every request whole, in arrival order.
        public var received: [ReceivedRequest] { counts.withLock { $0.received } }

        func receivedWhole(_ request: ReceivedRequest) { counts.withLock { $0.received.append(request) } }

        /// How many times `uri` arrived before this one (for `/sequence/`).
        func sequenceArrival(_ uri: String) -> Int {
            counts.withLock {
                let n = $0.sequenceArrivals[uri, default: 0]
                $0.sequenceArrivals[uri] = n + 1
                return n
            }
        }

        func answered2xx(uri: String) { counts.withLock { $0.succeededURIs.append(uri) } }

        /// Draws the outcome for this arrival of `uri` and counts it. Keyed by the arrival
        /// number too, so each retry of the same URL gets a fresh draw, yet the sequence for
        /// one URL is the same in every run whatever the order other URLs arrive in.
        func chaos(seed: UInt64, uri: String) -> ChaosOutcome {
            counts.withLock {
                let arrival = $0.chaosArrivals[uri, default: 0]
                $0.chaosArrivals[uri] = arrival + 1
                let outcome = ChaosOutcome.draw(seed: seed, uri: uri, arrival: arrival)
                $0.chaosOutcomes[outcome, default: 0] += 1
                return outcome
            }
        }

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
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
            return
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
            return
        case .end:
            break
        }
        guard let head else { return }
        stats.receivedWhole(ReceivedRequest(
            method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }, body: body))
        stats.requestStarted(uri: head.uri)
        answering = true
        route(context: context, uri: head.uri)
    }

    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

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
        case "sequence":
            let codes = (parts.count > 1 ? parts[1] : "").split(separator: ",").compactMap { Int($0) }
            let n = stats.sequenceArrival(uri)
            respond(context, status: codes.isEmpty ? 500 : codes[min(n, codes.count - 1)])
        case "chaos":
            let rawQuery = uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
            chaos(context, seed: parts.count > 1 ? UInt64(parts[1]) ?? 0 : 0, uri: uri, query: rawQuery)
        default:
            respond(context, status: 204)
        }
    }

    private func respond(_ context: ChannelHandlerContext, status: Int, headers: [(String, String)] = []) {
        var head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status))
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Content-Length", value: "0")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: succeeded(context, status: status))
        finishRequest()
    }

    /// For a 2xx, a promise that records the request in `succeededURIs` once the whole answer
    /// is written: an answer the kernel never took (the client gave up first) is not a success.
    private func succeeded(_ context: ChannelHandlerContext, status: Int) -> EventLoopPromise<Void>? {
        guard (200..<300).contains(status), let uri = head?.uri else { return nil }
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenSuccess { [stats] in stats.answered2xx(uri: uri) }
        return promise
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
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: succeeded(context, status: 200))
        finishRequest()
    }

    private func chaos(_ context: ChannelHandlerContext, seed: UInt64, uri: String, query: String) {
        switch stats.chaos(seed: seed, uri: uri) {
        case .ok:
            respond(context, status: 200)
        case .redirect:
            // A 2xx path that carries the same query, so the success is told apart by its query.
            respond(context, status: 302, headers: [("Location", "/status/204" + (query.isEmpty ? "" : "?" + query))])
        case .drip:
            drip(context)
        case .unavailableRetryAfter:
            respond(context, status: 503, headers: [("Retry-After", "0")])
        case .unavailable:
            respond(context, status: 503)
        case .tooManyRequests:
            respond(context, status: 429)
        case .notFound:
            respond(context, status: 404)
        case .hang:
            break
        case .resetMidHeaders:
            writeRaw(context, "HTTP/1.1 200 OK\r\nContent-Ty").assumeIsolated().whenComplete { _ in
                let channel = context.channel
                (channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                    .whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }

    /// A 200 whose header block arrives in `ChaosOutcome.dripPieces` pieces
    /// `ChaosOutcome.dripInterval` apart, then the connection closes. Written as raw bytes under
    /// the HTTP encoder (which sends a head in one write); "Connection: close" because the
    /// pipelining handler above never saw this answer, so the connection cannot be reused.
    private func drip(_ context: ChannelHandlerContext) {
        let text = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\nX-Chaos: drip\r\n\r\n".utf8)
        let pieces = ChaosOutcome.dripPieces
        let size = (text.count + pieces - 1) / pieces
        let uri = head?.uri ?? ""
        let loop = context.eventLoop.assumeIsolated()
        for i in 0..<pieces {
            let piece = String(decoding: text[min(text.count, i * size)..<min(text.count, (i + 1) * size)], as: UTF8.self)
            loop.scheduleTask(in: ChaosOutcome.dripInterval * Int64(i)) { [self, stats] in
                let written = writeRaw(context, piece)
                guard i == pieces - 1 else { return }
                written.assumeIsolated().whenComplete { result in
                    if case .success = result { stats.answered2xx(uri: uri) }
                    context.channel.close(promise: nil)
                }
                finishRequest()
            }
        }
    }

    /// Writes bytes straight to the socket, below the HTTP encoder, for answers no well-behaved
    /// server sends (a header block cut short, dripped out).
    private func writeRaw(_ context: ChannelHandlerContext, _ text: String) -> EventLoopFuture<Void> {
        guard let below = try? context.pipeline.syncOperations.context(handlerType: ConnectionCounter.self) else {
            return context.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        return below.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: text)))
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

/// What `/chaos/SEED` does with one request: the faults a partner's server, a proxy or the network
/// deal out, in proportions (per cent, `weight`) that keep most fires succeeding within a few
/// attempts while every failure path of the engine is taken thousands of times in a soak.
///
/// Outcomes that answer 2xx do it at once (or, dripped, well within a 300 ms timeout), so a
/// client that times out never does so on an answer the server counted as delivered: the soak
/// test can then require that no fire was received twice.
public enum ChaosOutcome: String, CaseIterable, Sendable, Hashable, Comparable {
    /// 200 at once.
    case ok
    /// 302 to `/status/204` with the same query.
    case redirect
    /// 200, its header block sent in a few pieces over ~30 ms, then the connection closed.
    case drip
    /// 503 with "Retry-After: 0": transient, and the retry may come at once.
    case unavailableRetryAfter
    /// 503 without Retry-After.
    case unavailable
    /// 429 without Retry-After.
    case tooManyRequests
    /// 404: permanent, dead-lettered at once.
    case notFound
    /// No answer at all: the client's total timeout ends it.
    case hang
    /// Part of a header block, then a TCP reset.
    case resetMidHeaders

    /// Per cent of draws; the weights add up to 100.
    public var weight: Int {
        switch self {
        case .ok: return 54
        case .redirect: return 8
        case .drip: return 6
        case .unavailableRetryAfter: return 7
        case .unavailable: return 7
        case .tooManyRequests: return 6
        case .notFound: return 4
        case .hang: return 4
        case .resetMidHeaders: return 4
        }
    }

    /// Ends in a 2xx the client receives.
    public var succeeds: Bool { self == .ok || self == .redirect || self == .drip }

    static let dripPieces = 4
    static let dripInterval = TimeAmount.milliseconds(10)

    /// The outcome for the `arrival`-th (0-based) request for `uri` under `seed`: a pure
    /// function, so a failing soak run can be replayed and a single draw reasoned about.
    /// FNV-1a rather than `Hasher`, which is seeded afresh in every process.
    public static func draw(seed: UInt64, uri: String, arrival: Int) -> ChaosOutcome {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(seed)|\(uri)|\(arrival)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        // SplitMix64's finalizer spreads FNV's weak low bits before taking the remainder.
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        var roll = Int(hash % 100)
        for outcome in allCases {
            if roll < outcome.weight { return outcome }
            roll -= outcome.weight
        }
        return .ok
    }

    public static func < (a: ChaosOutcome, b: ChaosOutcome) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One request as the server read it.
public struct ReceivedRequest: Sendable {
    public var method: String
    public var uri: String
    /// In arrival order, names as sent.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    /// The first value of a header, by name in any case.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}
