import Dispatch
import Glibc
import PostbackCore
import Synchronization
import Testing

@testable import PostbackFiring

/// What goes over the wire, byte for byte, against a one-shot raw socket: the request
/// headers we set through a fixed list, and answer headers only the C filter lets through.
@Suite("PostbackFiringTests: request and answer headers on the wire")
struct WireTests {
    @Test func sendsUserAgentAndNoAcceptAndReadsHeadersInAnyCase() async throws {
        let server = try OneShotServer(
            answer: "HTTP/1.1 503 Service Unavailable\r\nSERVER: x\r\nretry-AFTER: 7\r\n"
                + "X-Long: \(String(repeating: "h", count: 300))\r\nContent-Length: 0\r\n\r\n")
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(url: "http://127.0.0.1:\(server.port)/pb?x=1")
        engine.shutdown()
        let request = server.request()

        #expect(request.hasPrefix("GET /pb?x=1 HTTP/1.1\r\n"))
        #expect(request.contains("\r\nUser-Agent: postbackd\r\n"))
        #expect(!request.lowercased().contains("\r\naccept:"), "curl's default Accept: */* is dropped")
        #expect(result.status == 503)
        #expect(result.retryAfter == .seconds(7))
        #expect(result.verdict.kind == .transient)
    }

    @Test func emptyUserAgentSendsNone() async throws {
        let server = try OneShotServer(answer: "HTTP/1.1 204 No Content\r\n\r\n")
        var configuration = testConfiguration()
        configuration.userAgent = ""
        let engine = FiringEngine(configuration: configuration)
        let result = await engine.fire(url: "http://127.0.0.1:\(server.port)/")
        engine.shutdown()
        #expect(!server.request().lowercased().contains("user-agent"))
        #expect(result.verdict.kind == .success)
    }
}

/// Accepts one connection on 127.0.0.1, keeps the request head, sends `answer`, closes.
private final class OneShotServer: Sendable {
    let port: UInt16
    private let state = State()

    private final class State: Sendable {
        let received = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
    }

    init(answer: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 1) == 0 else { close(fd); throw POSIXError(errno) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        let state = state
        let thread = Thread {
            defer { close(fd); state.done.signal() }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            var head: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !head.ends(with: Array("\r\n\r\n".utf8)) {
                let n = read(client, &buffer, buffer.count)
                guard n > 0 else { break }
                head += buffer[..<n]
            }
            state.received.withLock { $0 = String(decoding: head, as: UTF8.self) }
            _ = answer.utf8CString.withUnsafeBufferPointer { write(client, $0.baseAddress, $0.count - 1) }
        }
        thread.start()
    }

    /// The request head, once the answer is sent ("" if nothing came within 10 s).
    func request() -> String {
        guard state.done.wait(timeout: .now() + 10) == .success else { return "" }
        return state.received.withLock { $0 } ?? ""
    }
}

private struct POSIXError: Error {
    let code: Int32
    init(_ code: Int32) { self.code = code }
}

/// A plain pthread for the blocking accept, off the Swift concurrency pool.
private final class Thread: @unchecked Sendable {
    private let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func start() {
        let retained = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        precondition(pthread_create(&thread, nil, { arg in
            let me = Unmanaged<Thread>.fromOpaque(arg!).takeRetainedValue()
            me.body()
            return nil
        }, retained) == 0)
        pthread_detach(thread)
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
