import PostbackCore

/// The Redis nodes one owner talks to: a single node, or a cluster's masters, found with
/// `CLUSTER SLOTS` from whichever seed answers. One connection per node, made on first use.
/// Not thread-safe: one owner (a thread or a serial queue), like its connections.
public final class RedisNodes: @unchecked Sendable {
    // @unchecked: touched only by the one owner, as documented.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) { (self.host, self.port) = (host, port) }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public let seeds: [Node]
    /// Several seeds: a cluster, whose slots are looked up; one: that node holds every key.
    public var isCluster: Bool { seeds.count > 1 }
    private var connections: [Node: RedisConnection] = [:]
    /// Slot ranges and their master, sorted; empty until loaded (or after `forgetSlots`).
    private var slots: [(range: ClosedRange<Int>, node: Node)] = []

    public init(seeds: [Node]) {
        precondition(!seeds.isEmpty, "at least one Redis node")
        self.seeds = seeds
    }

    /// The nodes of `redis_url` (`redis://host:port`, read by `RedisAddress` as the settings
    /// check it); a URL that is not one is left out.
    public convenience init(urls: [String]) {
        self.init(seeds: urls.compactMap(RedisAddress.init(url:)).map { Node(host: $0.host, port: $0.port) })
    }

    /// The connection of the node that holds `slot`.
    public func connection(forSlot slot: Int) throws(RedisConnectionError) -> RedisConnection {
        try connection(to: node(forSlot: slot))
    }

    public func node(forSlot slot: Int) throws(RedisConnectionError) -> Node {
        guard isCluster else { return seeds[0] }
        if slots.isEmpty { try loadSlots() }
        if let owner = slots.first(where: { $0.range.contains(slot) }) { return owner.node }
        throw RedisConnectionError(node: seeds.map(\.description).joined(separator: ","),
                                   message: "no cluster node serves slot \(slot)")
    }

    public func connection(to node: Node) -> RedisConnection {
        if let existing = connections[node] { return existing }
        let made = RedisConnection(host: node.host, port: node.port)
        connections[node] = made
        return made
    }

    /// Every node that holds slots (the masters of a cluster), or the one node.
    public func masters() throws(RedisConnectionError) -> [Node] {
        guard isCluster else { return [seeds[0]] }
        if slots.isEmpty { try loadSlots() }
        var seen: [Node] = []
        for owner in slots where !seen.contains(owner.node) { seen.append(owner.node) }
        return seen
    }

    /// The streams whose names match `pattern` (Redis glob: `*`, `?`, `[...]`) on every
    /// master, sorted; the first node that does not answer throws.
    public func streams(matching pattern: String) throws(RedisConnectionError) -> [String] {
        var found: Set<String> = []
        for node in try masters() { found.formUnion(try streams(matching: pattern, on: node)) }
        return found.sorted()
    }

    /// The streams on `node` whose names match `pattern`, by `SCAN ... MATCH ... TYPE stream`
    /// (Redis 6.0+): SCAN walks the key space a page at a time, so it does not hold Redis up
    /// as `KEYS` would. In a cluster each master is asked for its own keys.
    public func streams(matching pattern: String, on node: Node) throws(RedisConnectionError) -> Set<String> {
        var found: Set<String> = []
        let connection = connection(to: node)
        var cursor = "0"
        repeat {
            let reply = try connection.command("SCAN", cursor, "MATCH", pattern, "TYPE", "stream", "COUNT", "1000")
            if let error = reply.errorMessage {
                throw RedisConnectionError(node: node.description, message: "SCAN MATCH \(pattern): \(error)")
            }
            let parts = reply.elements
            guard parts.count == 2, let next = parts[0].text else { break }
            for name in parts[1].elements { if let text = name.text { found.insert(text) } }
            cursor = next
        } while cursor != "0"
        return found
    }

    /// After a `MOVED` answer: the next lookup asks the cluster again.
    public func forgetSlots() {
        slots = []
    }

    private func loadSlots() throws(RedisConnectionError) {
        var lastError: RedisConnectionError?
        for seed in seeds {
            do throws(RedisConnectionError) {
                let reply = try connection(to: seed).command("CLUSTER", "SLOTS")
                if let error = reply.errorMessage {
                    throw RedisConnectionError(node: seed.description, message: "CLUSTER SLOTS: \(error)")
                }
                var loaded: [(range: ClosedRange<Int>, node: Node)] = []
                for range in reply.elements {
                    let parts = range.elements
                    guard parts.count >= 3, let start = parts[0].integer, let end = parts[1].integer else { continue }
                    let master = parts[2].elements
                    guard master.count >= 2, let port = master[1].integer else { continue }
                    let host = master[0].text.flatMap { $0.isEmpty ? nil : $0 } ?? seed.host
                    loaded.append((Int(start)...Int(end), Node(host: host, port: Int(port))))
                }
                slots = loaded.sorted { $0.range.lowerBound < $1.range.lowerBound }
                return
            } catch {
                lastError = error
            }
        }
        throw lastError!
    }
}
