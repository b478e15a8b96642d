import Foundation
import Glibc

/// A real `redis-server` (Debian's) on a loopback port of its own, its data in a temporary
/// directory: append-only with `appendfsync always`, so a write Redis answered survives a
/// kill -9 of Redis itself, as the Redis source's durability promise assumes.
public final class RedisServer: @unchecked Sendable {
    // @unchecked: `child` is replaced only by `start`, which the test calls in sequence.
    public let port: Int
    public let directory: URL
    /// A Redis Cluster node (`RedisCluster` joins them).
    public let clusterNode: Bool
    private var child: ProcessRunner.Child?

    public var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts one on a free port, or on `port` (a test that first needs nothing listening).
    public init(port: Int? = nil, start: Bool = true, clusterNode: Bool = false) throws {
        self.clusterNode = clusterNode
        self.port = try port ?? (clusterNode ? Self.freeClusterPort() : TLSSink.freePorts(1)[0])
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
        ] + (clusterNode ? [
            "--cluster-enabled", "yes", "--cluster-config-file", directory.appendingPathComponent("nodes.conf").path,
            "--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no",
        ] : []))
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

    /// A port below 55,536 free now with its cluster bus port (+10,000) free too.
    static func freeClusterPort() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000...29_999)
            if isFree(port), isFree(port + 10_000) { return port }
        }
        throw RedisServerError(message: "no free port pair for a cluster node")
    }

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

public struct RedisServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Three (or more) cluster nodes on loopback, masters without replicas, slots spread by
/// `redis-cli --cluster create`; a stopped node's slots wait for it
/// (`cluster-require-full-coverage no` keeps the others serving).
public final class RedisCluster: @unchecked Sendable {
    public let nodes: [RedisServer]

    public init(nodes count: Int = 3) throws {
        nodes = try (0..<count).map { _ in try RedisServer(clusterNode: true) }
        _ = try ProcessRunner.runSystem(
            ["redis-cli", "--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "0", "--cluster-yes"])
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if nodes.allSatisfy({ ((try? $0.cli(["CLUSTER", "INFO"])) ?? "").contains("cluster_state:ok") }) { return }
            usleep(100_000)
        }
        throw RedisServerError(message: "the cluster did not reach cluster_state:ok within 30 s")
    }

    /// `redis_url` for the daemon: every node, as seeds.
    public var urls: String { nodes.map(\.url).joined(separator: ",") }

    /// The node that holds `key` (`CLUSTER KEYSLOT`, then the node whose ranges hold it).
    public func node(holding key: String) throws -> RedisServer {
        let slot = Int(try nodes[0].cli(["CLUSTER", "KEYSLOT", key]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        for node in nodes {
            let mine = try node.cli(["CLUSTER", "NODES"]).split(separator: "\n").first { $0.contains("myself") } ?? ""
            for range in mine.split(separator: " ").dropFirst(8) {
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                if bounds.count == 2, (bounds[0]...bounds[1]).contains(slot) { return node }
                if bounds.count == 1, bounds[0] == slot { return node }
            }
        }
        throw RedisServerError(message: "no node holds \(key) (slot \(slot))")
    }
}
