/// A Redis reply, copied out of hiredis's reply tree so it outlives `freeReplyObject`.
public enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case error(String)
    case integer(Int64)
    case array([RedisReply])
    case null

    /// The bytes of a bulk string (or a status), else nil.
    public var bytes: [UInt8]? {
        switch self {
        case .string(let b): return b
        case .status(let s): return Array(s.utf8)
        default: return nil
        }
    }

    public var text: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    public var elements: [RedisReply] {
        if case .array(let items) = self { return items }
        return []
    }

    public var integer: Int64? {
        if case .integer(let n) = self { return n }
        return nil
    }

    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }

    /// A stream entry as XRANGE and XREADGROUP give it, `[id, [field, value, ...]]`; nil for a
    /// reply of another shape.
    public var streamEntry: (id: String, fields: [(name: String, value: [UInt8])])? {
        let parts = elements
        guard parts.count == 2, let id = parts[0].text else { return nil }
        let flat = parts[1].elements
        var fields: [(name: String, value: [UInt8])] = []
        fields.reserveCapacity(flat.count / 2)
        var i = 0
        while i + 1 < flat.count {
            fields.append((flat[i].text ?? "", flat[i + 1].bytes ?? []))
            i += 2
        }
        return (id, fields)
    }
}
