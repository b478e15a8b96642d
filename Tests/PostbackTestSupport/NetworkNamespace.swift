import Foundation
import Glibc

/// A private network namespace for tests about addresses other than loopback: the cloud
/// metadata address, private networks, names that resolve to them. Nothing in it is routed
/// off the machine (it has only its own `lo`), the addresses a test needs are bound to that
/// `lo`, and `/etc/netns/NAME/hosts` gives it its own DNS answers (`ip netns exec` mounts it
/// over /etc/hosts). Listeners started in it prove what connected and what did not.
///
/// Needs root and iproute2; tests use `.enabled(if: NetworkNamespace.testsRun, ...)`. Removed
/// by `remove()`, which the owner calls in a `defer`; `deinit` is the safety net.
public final class NetworkNamespace: @unchecked Sendable {
    // @unchecked: `name` never changes; the flags are only touched by the owning test's thread.
    public let name: String
    /// What this instance created, so `remove()` never deletes another test's namespace.
    private var ownsEtcDirectory = false
    private var ownsNamespace = false

    /// iproute2's `ip`, looked up once: the tests run children with a minimal PATH.
    static let ip: String? = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Root and a working `ip netns`.
    public static let isAvailable: Bool = {
        guard getuid() == 0, let ip else { return false }
        return (try? NetworkNamespace.run([ip, "netns", "list"]).status) == 0
    }()

    /// Whether namespace tests run: where namespaces work, and always in CI (`CI=true`), where a
    /// missing `ip netns` must fail them instead of skipping them unseen.
    public static let testsRun: Bool = isAvailable || ProcessInfo.processInfo.environment["CI"] == "true"

    /// Creates the namespace with `lo` up and `addresses` (CIDRs, IPv6 ones without duplicate
    /// address detection) on it. `hosts` becomes its /etc/hosts; names not there go to a
    /// resolver on its own loopback, where nothing answers, so no DNS query leaves either.
    public init(hosts: String, addresses: [String] = []) throws {
        name = "pbd-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        guard let ip = Self.ip else { throw Failure("no ip(8) found") }
        do {
            try FileManager.default.createDirectory(atPath: "/etc/netns", withIntermediateDirectories: true)
            guard mkdir(etcDirectory, 0o755) == 0 else { throw Failure("mkdir \(etcDirectory): \(String(cString: strerror(errno)))") }
            ownsEtcDirectory = true
            try Data(hosts.utf8).write(to: URL(fileURLWithPath: etcDirectory + "/hosts"))
            try Data("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n".utf8)
                .write(to: URL(fileURLWithPath: etcDirectory + "/resolv.conf"))
            try Self.check([ip, "netns", "add", name])  // fails if the name is taken
            ownsNamespace = true
            try Self.check([ip, "netns", "exec", name, ip, "link", "set", "lo", "up"])
            for address in addresses {
                let v6 = address.contains(":")
                try Self.check([ip, "netns", "exec", name, ip] + (v6 ? ["-6"] : [])
                               + ["addr", "add", address, "dev", "lo"] + (v6 ? ["nodad"] : []))
            }
        } catch {
            remove()
            throw error
        }
    }

    deinit {
        remove()
    }

    private var etcDirectory: String { "/etc/netns/\(name)" }

    /// Deletes the namespace and its /etc/netns folder; safe to call more than once.
    public func remove() {
        if ownsNamespace, let ip = Self.ip { _ = try? Self.run([ip, "netns", "del", name]) }
        ownsNamespace = false
        if ownsEtcDirectory { try? FileManager.default.removeItem(atPath: etcDirectory) }
        ownsEtcDirectory = false
    }

    /// Runs a command inside the namespace to completion (killed after `timeoutSeconds`).
    /// `environment` as for `ProcessRunner.run`: nil passes the test's own, minus postbackd's.
    public func run(_ arguments: [String], environment: [String: String]? = nil,
                    timeoutSeconds: Double = 120) throws -> ProcessRunner.Result {
        try Self.run(inside + arguments, environment: environment, timeoutSeconds: timeoutSeconds)
    }

    /// `ip netns exec NAME`: `ip` execs the command in place, so the child's pid is the command's.
    var inside: [String] { [Self.ip ?? "ip", "netns", "exec", name] }

    /// Starts listeners on `endpoints` inside the namespace (netns-listener.py) and returns
    /// once all of them listen. A serving endpoint answers by path from `routes`
    /// (path → status and Location), else 204.
    public func startListener(_ endpoints: [NamespaceListener.Endpoint],
                              routes: [String: (status: Int, location: String)] = [:]) throws -> NamespaceListener {
        let config: [String: Any] = [
            "endpoints": endpoints.map { ["host": $0.host, "port": $0.port, "serve": $0.serves] as [String: Any] },
            "routes": routes.mapValues { [$0.status, $0.location] as [Any] },
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("netns-listener.py").path
        let command = inside + ["python3", "-u", script, json]
        let child = try ProcessRunner.Child(executable: URL(fileURLWithPath: command[0]), arguments: Array(command.dropFirst()),
                                            stdin: nil, environment: nil)
        let listener = NamespaceListener(child: child, namespace: self)
        try listener.waitFor("ready", timeoutSeconds: 10)
        return listener
    }

    // MARK: helpers

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    static func run(_ arguments: [String], environment: [String: String]? = nil,
                    timeoutSeconds: Double = 60) throws -> ProcessRunner.Result {
        let child = try ProcessRunner.Child(executable: URL(fileURLWithPath: arguments[0]),
                                            arguments: Array(arguments.dropFirst()), stdin: nil, environment: environment)
        let status = child.wait(timeoutSeconds: timeoutSeconds)
        return ProcessRunner.Result(status: status, stdout: child.stdout, stderr: child.stderr)
    }

    private static func check(_ arguments: [String]) throws {
        let r = try run(arguments)
        guard r.status == 0 else {
            throw Failure("\(arguments.joined(separator: " ")): exit \(r.status): \(r.stderr)")
        }
    }
}

/// Listeners started by `NetworkNamespace.startListener`: what connected where, and what
/// the serving endpoints were asked.
public final class NamespaceListener: Sendable {
    public struct Endpoint: Sendable {
        public var host: String
        public var port: Int
        /// Answers HTTP (the good partner); otherwise a connection is counted and closed.
        public var serves: Bool

        /// `host` as an address literal; an IPv6 link-local one carries its zone (`fe80::1%lo`).
        public init(_ host: String, _ port: Int = 80, serves: Bool = false) {
            self.host = host
            self.port = port
            self.serves = serves
        }

        /// How events name it: "HOST:PORT".
        public var local: String { "\(host):\(port)" }
    }

    /// One request a serving endpoint read: the request line and the header lines, as sent.
    public struct Request: Sendable {
        public var line: String
        public var headers: [String]
    }

    private let child: ProcessRunner.Child
    private let namespace: NetworkNamespace

    init(child: ProcessRunner.Child, namespace: NetworkNamespace) {
        self.child = child
        self.namespace = namespace
    }

    private var events: [[String: Any]] {
        child.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Connections accepted, by endpoint ("HOST:PORT").
    public var accepted: [String: Int] {
        var counts: [String: Int] = [:]
        for e in events where e["event"] as? String == "accept" {
            counts[e["local"] as? String ?? "?", default: 0] += 1
        }
        return counts
    }

    /// The requests `endpoint` read, in order.
    public func requests(at endpoint: Endpoint) -> [Request] {
        events.filter { $0["event"] as? String == "request" && $0["local"] as? String == endpoint.local }
            .map { Request(line: $0["line"] as? String ?? "", headers: $0["headers"] as? [String] ?? []) }
    }

    /// Returns once every connection made before this call has been counted: connects to the
    /// barrier endpoint and waits for the listener to report it.
    public func settle(timeoutSeconds: Double = 10) throws {
        let before = events.filter { $0["event"] as? String == "barrier" }.count
        let knock = try namespace.run(
            ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 9), 5).close()"],
            timeoutSeconds: timeoutSeconds)
        guard knock.status == 0 else { throw NetworkNamespace.Failure("barrier connection failed: \(knock.stderr)") }
        try waitFor("barrier", count: before + 1, timeoutSeconds: timeoutSeconds)
    }

    func waitFor(_ event: String, count: Int = 1, timeoutSeconds: Double) throws {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if events.filter({ $0["event"] as? String == event }).count >= count { return }
            usleep(10_000)
        }
        throw NetworkNamespace.Failure(
            "listener did not report \(event) within \(timeoutSeconds) s; stdout: \(child.stdout) stderr: \(child.stderr)")
    }

    /// Stops the listener (its sockets close with it).
    public func stop() {
        child.kill()
        child.wait(timeoutSeconds: 5)
    }
}
