import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

struct ReceiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "A loopback receiver that prints each postback it gets, for trying the daemon end to end.",
        discussion: """
            Prints one line per request: the time, the method and path, and the decoded query
            parameters (with --json, one JSON object per line). Answers every request with
            --status (default 204). Listens on loopback only unless told otherwise.

            Example: postbackctl receive --listen 127.0.0.1:18090
            """)

    @Option(help: "Address and port to listen on, e.g. 127.0.0.1:18090.")
    var listen: String = "127.0.0.1:18090"

    @Option(help: "The HTTP status to answer with.")
    var status: Int = 204

    @Flag(help: "One JSON object per request.")
    var json = false

    @Option(help: "Exit after this many requests (default: run until interrupted).")
    var count: Int?

    func validate() throws {
        guard Self.split(listen) != nil else { throw ValidationError("--listen: expected HOST:PORT, e.g. 127.0.0.1:18090") }
        guard (100...599).contains(status) else { throw ValidationError("--status: expected an HTTP status from 100 to 599") }
    }

    static func split(_ address: String) -> (host: String, port: Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    func run() async throws {
        let (host, port) = Self.split(listen)!
        let group = MultiThreadedEventLoopGroup.singleton
        let printer = RequestPrinter(json: json, limit: count)
        let answer = HTTPResponseStatus(statusCode: status)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(ReceiverHandler(printer: printer, status: answer))
                }
            }
            .bind(host: host, port: port).get()
        FileHandle.standardError.write(Data("receiving on \(channel.localAddress!), answering \(status)\n".utf8))
        try await printer.finished.futureResult(on: group.next()).get()
        try await channel.close()
    }
}

/// Prints requests in arrival order and counts them towards `--count`.
final class RequestPrinter: @unchecked Sendable {
    // @unchecked: `seen` is guarded by `lock`.
    let json: Bool
    let limit: Int?
    let lock = NSLock()
    var seen = 0
    let finished = FinishSignal()

    init(json: Bool, limit: Int?) {
        self.json = json
        self.limit = limit
    }

    func print(method: String, uri: String) {
        let time = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
        let components = URLComponents(string: uri)
        let path = components?.percentEncodedPath ?? uri
        let query = (components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }
        let line: String
        if json {
            let params = query.map { "\(Self.quote($0.0)):\(Self.quote($0.1))" }.joined(separator: ",")
            line = "{\"time\":\(Self.quote(time)),\"method\":\(Self.quote(method)),\"path\":\(Self.quote(path)),\"query\":{\(params)}}"
        } else {
            line = "\(time) \(method) \(path)" + query.map { " \($0.0)=\($0.1.debugDescription)" }.joined()
        }
        lock.lock()
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
        seen += 1
        let done = limit.map { seen >= $0 } ?? false
        lock.unlock()
        if done { finished.fire() }
    }

    static func quote(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}

/// A one-shot signal usable from any thread, awaited from async code.
final class FinishSignal: @unchecked Sendable {
    // @unchecked: `promise` and `fired` are guarded by `lock`.
    private let lock = NSLock()
    private var promise: EventLoopPromise<Void>?
    private var fired = false

    func futureResult(on loop: any EventLoop) -> EventLoopFuture<Void> {
        lock.lock()
        defer { lock.unlock() }
        let p = loop.makePromise(of: Void.self)
        if fired { p.succeed() } else { promise = p }
        return p.futureResult
    }

    func fire() {
        lock.lock()
        fired = true
        let p = promise
        promise = nil
        lock.unlock()
        p?.succeed()
    }
}

final class ReceiverHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    // @unchecked: used only on its channel's event loop.
    let printer: RequestPrinter
    let status: HTTPResponseStatus
    var head: HTTPRequestHead?

    init(printer: RequestPrinter, status: HTTPResponseStatus) {
        self.printer = printer
        self.status = status
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            printer.print(method: head.method.rawValue, uri: head.uri)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            let response = HTTPResponseHead(version: head.version, status: status, headers: headers)
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }
}
