import CHiredis
import Glibc


/// A Redis connection failed, or a command could not be sent or answered.
public struct RedisConnectionError: Error, CustomStringConvertible, Sendable {
    /// `host:port`.
    public var node: String
    public var message: String
    public var description: String { "redis://\(node): \(message)" }
}

/// One connection to one Redis node through hiredis: commands as byte-string arguments,
/// several at once as a pipeline (one round trip). Not thread-safe: one owner (a thread or
/// a serial queue) uses it at a time. After an error the connection is dropped and the next
/// command connects again, so a restarted Redis is picked up without the owner's help.
public final class RedisConnection: @unchecked Sendable {
    // @unchecked: `context` is touched only by the one owner, as documented.
    public let host: String
    public let port: Int
    /// Connect, read and write timeout; a blocking read (`XREADGROUP ... BLOCK`) must ask
    /// for less.
    public let timeout: Duration
    private var context: UnsafeMutablePointer<redisContext>?

    public init(host: String, port: Int, timeout: Duration = .seconds(5)) {
        (self.host, self.port) = (host, port)
        self.timeout = timeout
    }

    private var node: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    deinit {
        if let context { redisFree(context) }
    }

    /// Drops the connection; the next command connects again.
    public func disconnect() {
        if let context { redisFree(context) }
        context = nil
    }

    /// Sends one command and waits for its reply. An error reply (`-ERR ...`) is a reply,
    /// not a thrown error: only a lost or refused connection throws.
    public func command(_ arguments: [[UInt8]]) throws(RedisConnectionError) -> RedisReply {
        try pipeline([arguments])[0]
    }

    public func command(_ arguments: String...) throws(RedisConnectionError) -> RedisReply {
        try command(arguments.map { Array($0.utf8) })
    }

    /// Sends every command, then reads every reply, in order: one round trip for all.
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisConnectionError) -> [RedisReply] {
        let context = try connected()
        for arguments in commands {
            let status = Self.withArgv(arguments) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            if status != REDIS_OK { throw failed("sending a command") }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw failed("reading a reply") }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.copy(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Runs `commands` as one `MULTI`/`EXEC`, in one round trip. Returns the first error
    /// Redis answered (a command refused when queued, or inside `EXEC`'s result), nil when
    /// every command ran.
    public func transaction(_ commands: [[[UInt8]]]) throws(RedisConnectionError) -> String? {
        let replies = try pipeline([[Array("MULTI".utf8)]] + commands + [[Array("EXEC".utf8)]])
        return replies.lazy.compactMap(\.errorMessage).first
            ?? replies[replies.count - 1].elements.lazy.compactMap(\.errorMessage).first
    }

    private func connected() throws(RedisConnectionError) -> UnsafeMutablePointer<redisContext> {
        if let context { return context }
        let seconds = timeout.components.seconds
        let micros = timeout.components.attoseconds / 1_000_000_000_000
        let tv = timeval(tv_sec: Int(seconds), tv_usec: Int(micros))
        guard let made = redisConnectWithTimeout(host, Int32(port), tv) else {
            throw RedisConnectionError(node: node, message: "cannot allocate a connection")
        }
        if made.pointee.err != 0 {
            let message = Self.errorText(made)
            redisFree(made)
            throw RedisConnectionError(node: node, message: "cannot connect: \(message)")
        }
        _ = redisSetTimeout(made, tv)
        context = made
        return made
    }

    private func failed(_ what: String) -> RedisConnectionError {
        let message = context.map(Self.errorText) ?? "not connected"
        disconnect()
        return RedisConnectionError(node: node, message: "\(what): \(message)")
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }

    private static func withArgv<R>(
        _ arguments: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        // One buffer for all the arguments' bytes; hiredis copies them into its output buffer.
        var flat: [UInt8] = []
        flat.reserveCapacity(arguments.reduce(0) { $0 + $1.count } + 1)
        var lengths: [Int] = []
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            flat += argument
            lengths.append(argument.count)
        }
        flat.append(0)
        return flat.withUnsafeBufferPointer { bytes in
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(arguments.count)
            var offset = 0
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            for length in lengths {
                pointers.append(base + offset)
                offset += length
            }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { lens in
                    body(Int32(arguments.count), argv.baseAddress!, lens.baseAddress!)
                }
            }
        }
    }

    private static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = r.str, r.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: Int(r.len)))
        }
        switch r.type {
        case REDIS_REPLY_STRING: return .string(bytes())
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(Int(r.elements))
            for i in 0..<Int(r.elements) {
                if let element = r.element[i] { items.append(copy(element)) } else { items.append(.null) }
            }
            return .array(items)
        default: return .null
        }
    }
}
