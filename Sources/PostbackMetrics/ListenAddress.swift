/// Where the metrics endpoint listens: `metrics_listen = host:port`, an IPv6 host in brackets
/// (`[::1]:9464`). Port 0 lets the kernel pick one; the daemon logs the port it got.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; the error names what is wrong, for the operator's config file.
    public static func parse(_ text: String) throws(MetricsEndpointError) -> ListenAddress {
        func refuse(_ why: String) -> MetricsEndpointError {
            MetricsEndpointError(message: "metrics_listen \"\(text)\": \(why); expected host:port, e.g. 127.0.0.1:9464")
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw refuse("no closing ] after the IPv6 address") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw refuse("no :port after the IPv6 address") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw refuse("no port") }
            host = text[..<colon]
            guard !host.contains(":") else { throw refuse("an IPv6 address goes in brackets") }
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { throw refuse("no host (say 127.0.0.1, or 0.0.0.0 to listen everywhere)") }
        guard let port = Int(portText), (0...65535).contains(port) else { throw refuse("the port is not a number from 0 to 65535") }
        return ListenAddress(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Why metrics could not be served, in one line an operator can act on.
public struct MetricsEndpointError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
