import Foundation
import Glibc

/// A real `redis-server` (Debian's) on a loopback port of its own, its data in a temporary
/// directory: append-only with `appendfsync always`, so a write Redis answered survives a
/// kill -9 of Redis itself, as the Redis source's durability promise assumes.
public final class RedisServer: @unchecked Sendable {
    // @unchecked: `child` is replaced only by `start`, which the test calls in sequence.
    public let port: Int
    public let directory: URL
    private var child: ProcessRunner.Child?

    public var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts one on a free port, or on `port` (a test that first needs nothing listening).
    public init(port: Int? = nil, start: Bool = true) throws {
        self.port = try port ?? Self.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("postbackd-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if start { try self.start() }
    }

    /// Starts (again, after `kill`/`stop`) on the same port and data, and waits until it
    /// answers PING (not LOADING).
    public func start() throws {
        child = try ProcessRunner.startSystem([
            "redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path,
            "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no",
            "--logfile", directory.appendingPathComponent("redis.log").path,
        ])
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? cli(["PING"]))?.hasPrefix("PONG") == true { return }
            usleep(50_000)
        }
        throw RedisServerError(message: "redis-server on port \(port) did not answer PING within 20 s; log: "
            + ((try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""))
    }

    /// kill -9: Redis itself crashes.
    public func kill() {
        child?.kill()
        child?.wait(timeoutSeconds: 10)
    }

    public func stop() {
        child?.signal(SIGTERM)
        child?.wait(timeoutSeconds: 20)
    }

    /// `redis-cli -p PORT ARGS...`, its standard output.
    public func cli(_ arguments: [String]) throws -> String {
        try ProcessRunner.runSystem(["redis-cli", "-p", String(port)] + arguments)
    }

    deinit {
        child?.kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A loopback port nothing listens on now (the kernel's pick for a socket bound to 0).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RedisServerError(message: "socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw RedisServerError(message: "bind: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public struct RedisServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
