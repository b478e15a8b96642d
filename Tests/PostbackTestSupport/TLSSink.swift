import Foundation
import Glibc

/// A real TLS server for the firing tests (issue 12): nginx on loopback with a throw-away CA
/// and certificates made here by the `openssl` command (EC P-256, as
/// /work/shared/bench/make-test-ca.sh), one server per way a partner endpoint can be set up,
/// and an access log that says which connection, protocol and TLS session served each request.
///
/// Every server answers 204 unless said otherwise. `stop()` quits nginx and removes the folder;
/// `deinit` is the safety net. Tests use `.enabled(if: TLSSink.testsRun, ...)`.
public final class TLSSink: @unchecked Sendable {
    // @unchecked: everything is set in init; `nginx` is only signalled and waited on after.

    public enum Server: String, CaseIterable, Sendable {
        /// TLS, HTTP/2 offered by ALPN; the good certificate.
        case http2
        /// TLS, HTTP/1.1 only; the good certificate.
        case http1
        /// A certificate whose validity ended in 2020.
        case expired
        /// A certificate for `wrong.example` alone: no other name, no IP address.
        case wrongName
        /// The good names, signed by a second CA that nobody trusts.
        case untrusted
        /// Plain HTTP, for https:// URLs aimed at a port that does not speak TLS. Over
        /// http://, `/redirect` answers 302 to `/after-redirect` on itself.
        case plain
        /// TLS; every request is answered 302 to the same path on `plain`, over http.
        case downgrade
        /// TLS, HTTP/1.1, at most 5 requests per connection, so clients reconnect often and
        /// the log shows whether they resumed their TLS session.
        case resumption
    }

    /// One line of the access log.
    public struct Request: Sendable, Hashable {
        public var port: Int
        /// nginx's serial number of the connection ($connection): distinct per connection.
        public var connection: Int
        /// "HTTP/2.0", "HTTP/1.1".
        public var serverProtocol: String
        /// "r" when the TLS session was resumed, "." when not, "-" without TLS.
        public var sessionReused: String
        /// "TLSv1.3"; "-" without TLS.
        public var tlsProtocol: String
        public var status: Int
        /// The name asked for ($host: the Host header, else the server's address).
        public var host: String
        public var uri: String
    }

    /// The names and addresses of the good certificate (and the expired and untrusted ones).
    public static let goodNames = ["localhost", "*.partners.test"]

    public let directory: String
    public let ports: [Server: Int]
    /// The good certificate's notAfter as OpenSSL prints it ("Dec  3 23:36:43 2026 GMT").
    public let certificateExpiry: String
    private let nginx: ProcessRunner.Child
    private var stopped = false

    /// The CA that signed every certificate but `untrusted`'s: what `ca_file` should name.
    public var caFile: String { directory + "/pki/ca.crt" }
    /// The CA that signed `untrusted`'s certificate.
    public var otherCAFile: String { directory + "/pki/other-ca.crt" }
    public var accessLogPath: String { directory + "/access.log" }

    static let nginxPath: String? = ["/usr/sbin/nginx", "/usr/bin/nginx", "/sbin/nginx"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    static let opensslPath: String? = ["/usr/bin/openssl", "/bin/openssl", "/usr/local/bin/openssl"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// nginx and openssl are installed (scripts/setup.sh installs both).
    public static let isAvailable = nginxPath != nil && opensslPath != nil

    /// Whether TLS tests run: where nginx and openssl are, and always in CI (`CI=true`), where
    /// their absence must fail the tests instead of skipping them unseen.
    public static let testsRun: Bool = isAvailable || ProcessInfo.processInfo.environment["CI"] == "true"

    /// Makes the certificates and starts nginx, inside `namespace` when given (its ports are
    /// then that namespace's; the access log is still read from here). Returns once nginx has
    /// bound every port.
    public init(in namespace: NetworkNamespace? = nil) throws {
        guard let nginxPath = Self.nginxPath, let opensslPath = Self.opensslPath else {
            throw Failure("nginx or openssl not found (scripts/setup.sh installs nginx-light and openssl)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("postbackd-tls-\(UUID().uuidString)").path
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory + "/pki", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: directory + "/tmp", withIntermediateDirectories: true)
            certificateExpiry = try PKI(directory: directory + "/pki", openssl: opensslPath).make()
            // Another test's server may take a port between choosing it and nginx binding it:
            // choose again, a bounded number of times.
            var attempt = 0
            while true {
                attempt += 1
                let ports = try Self.freePorts(Server.allCases.count)
                let chosen = Dictionary(uniqueKeysWithValues: zip(Server.allCases, ports))
                try Data(Self.configuration(ports: chosen).utf8).write(to: URL(fileURLWithPath: directory + "/nginx.conf"))
                let command = (namespace?.inside ?? []) + [
                    nginxPath, "-c", directory + "/nginx.conf", "-p", directory + "/", "-e", directory + "/error.log",
                    "-g", "daemon off;",
                ]
                let child = try ProcessRunner.Child(
                    executable: URL(fileURLWithPath: command[0]), arguments: Array(command.dropFirst()),
                    stdin: nil, environment: nil)
                // nginx writes its pid file once every listening socket is bound.
                let started = eventually(10) { FileManager.default.fileExists(atPath: directory + "/nginx.pid") || !child.process.isRunning }
                if started && child.process.isRunning {
                    self.ports = chosen
                    nginx = child
                    break
                }
                child.kill()
                child.wait(timeoutSeconds: 5)
                let errors = (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? ""
                if attempt < 3 && errors.contains("Address already in use") { continue }
                throw Failure("nginx did not start: \(child.stderr) \(errors)")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    deinit {
        stop()
    }

    public func port(_ server: Server) -> Int { ports[server]! }

    /// "https://HOST:PORT" of `server` (`scheme` http only makes sense for `plain`).
    public func base(_ server: Server, host: String = "127.0.0.1", scheme: String = "https") -> String {
        "\(scheme)://\(host):\(port(server))"
    }

    /// The access log so far, oldest first.
    public func requests() -> [Request] {
        let text = (try? String(contentsOfFile: accessLogPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 8, let port = Int(f[0]), let connection = Int(f[1]), let status = Int(f[5]) else { return nil }
            return Request(port: port, connection: connection, serverProtocol: f[2], sessionReused: f[3],
                           tlsProtocol: f[4], status: status, host: f[6], uri: f[7])
        }
    }

    /// The access log's lines for `server`, once it holds at least `count` of them (nginx writes
    /// a line just after it sent the answer, so a client can be a moment ahead of the log).
    public func requests(at server: Server, atLeast count: Int, timeoutSeconds: Double = 10) -> [Request] {
        var lines: [Request] = []
        _ = eventually(timeoutSeconds, every: 0.02) {
            lines = requests().filter { $0.port == port(server) }
            return lines.count >= count
        }
        return lines
    }

    /// Quits nginx (SIGQUIT: finish what it serves, then exit) and removes the folder; safe to
    /// call more than once.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        nginx.signal(SIGQUIT)
        nginx.wait(timeoutSeconds: 10)
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: configuration

    static func configuration(ports: [Server: Int]) -> String {
        func listen(_ server: Server, _ options: String = " ssl") -> String {
            "listen 127.0.0.1:\(ports[server]!)\(options);"
        }
        func certificate(_ name: String) -> String {
            "ssl_certificate pki/\(name).crt; ssl_certificate_key pki/\(name).key;"
        }
        let plain = ports[.plain]!
        return """
            worker_processes 1;
            worker_rlimit_nofile 16384;
            pid nginx.pid;
            error_log error.log;
            events { worker_connections 8192; }
            http {
              log_format connections '$server_port $connection $server_protocol $ssl_session_reused $ssl_protocol $status $host $request_uri';
              access_log access.log connections;
              keepalive_requests 1000000;
              keepalive_timeout 120s;
              client_body_temp_path tmp;
              ssl_session_cache shared:tls:10m;
              \(certificate("server"))
              server { \(listen(.http2, " ssl http2")) location / { return 204; } }
              server { \(listen(.http1)) location / { return 204; } }
              server { \(listen(.expired)) \(certificate("expired")) location / { return 204; } }
              server { \(listen(.wrongName)) \(certificate("wrong-name")) location / { return 204; } }
              server { \(listen(.untrusted)) \(certificate("untrusted")) location / { return 204; } }
              server { \(listen(.plain, ""))
                location = /redirect { return 302 http://127.0.0.1:\(plain)/after-redirect; }
                location / { return 204; } }
              server { \(listen(.downgrade)) location / { return 302 http://127.0.0.1:\(plain)$request_uri; } }
              server { \(listen(.resumption)) keepalive_requests 5; location / { return 204; } }
            }

            """
    }

    /// `count` distinct loopback ports that were free a moment ago (bound to port 0, then closed).
    static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { sockets.forEach { _ = close($0) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
                }
            }
            guard bound else { throw Failure("bind: \(String(cString: strerror(errno)))") }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}

/// The throw-away certificates, all EC P-256: two CAs and four server certificates.
private struct PKI {
    let directory: String
    let openssl: String

    /// Returns the good certificate's notAfter.
    func make() throws -> String {
        let good = TLSSink.goodNames.map { "DNS:\($0)" } + ["IP:127.0.0.1", "IP:::1"]
        try authority("ca", "postbackd test CA")
        try authority("other-ca", "untrusted test CA")
        try certificate("server", signedBy: "ca", names: good)
        // `openssl x509 -req` (OpenSSL 3.0) cannot set a start date; `openssl ca` can.
        try certificate("expired", signedBy: "ca", names: good, dates: ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"])
        try certificate("wrong-name", signedBy: "ca", names: ["DNS:wrong.example"])
        try certificate("untrusted", signedBy: "other-ca", names: good)
        let notAfter = try run(["x509", "-in", "server.crt", "-noout", "-enddate"])
        return String(notAfter.drop { $0 != "=" }.dropFirst()).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A self-signed CA, and the files `openssl ca` keeps for it.
    private func authority(_ name: String, _ commonName: String) throws {
        try run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", "\(name).key", "-out", "\(name).crt", "-days", "3", "-subj", "/CN=\(commonName)"])
        try write("\(name).index", "")
        try write("\(name).cnf", """
            [ca]
            default_ca = this
            [this]
            database = \(name).index
            new_certs_dir = .
            rand_serial = yes
            default_md = sha256
            policy = any
            unique_subject = no
            [any]
            commonName = supplied

            """)
    }

    /// A server certificate for `names` (subjectAltName entries), the first DNS name as its CN.
    private func certificate(_ name: String, signedBy ca: String, names: [String], dates: [String] = ["-days", "2"]) throws {
        let commonName = names.first { $0.hasPrefix("DNS:") }.map { String($0.dropFirst(4)) } ?? name
        try run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(commonName)"])
        try write("\(name).ext", """
            [server]
            subjectAltName = \(names.joined(separator: ","))
            basicConstraints = CA:FALSE
            extendedKeyUsage = serverAuth

            """)
        try run(["ca", "-batch", "-notext", "-config", "\(ca).cnf", "-cert", "\(ca).crt", "-keyfile", "\(ca).key",
                 "-in", "\(name).csr", "-out", "\(name).crt", "-extfile", "\(name).ext", "-extensions", "server"] + dates)
    }

    private func write(_ file: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + file))
    }

    @discardableResult
    private func run(_ arguments: [String]) throws -> String {
        // openssl resolves the relative names against its working directory: run it in ours.
        let child = try ProcessRunner.Child(
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", "cd \"$0\" && exec \"$@\"", directory, openssl] + arguments, stdin: nil, environment: nil)
        // Milliseconds on a quiet machine; 30 s once ran out in CI's ThreadSanitizer pass (the
        // whole suite in parallel on 2 cores under TSan): a bound against a hang, not a budget.
        let status = child.wait(timeoutSeconds: 120)
        guard status == 0 else {
            throw TLSSink.Failure("openssl \(arguments.joined(separator: " ")): exit \(status): \(child.stderr)")
        }
        return child.stdout
    }
}
