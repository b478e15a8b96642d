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

    /// A flat `[field, value, field, value, ...]` array (a stream entry's fields, `HGETALL`,
    /// one group of `XINFO GROUPS`) as its pairs, in order; a field that is not text is named
    /// "", and a last field without a value is left out.
    public var fieldPairs: [(name: String, value: RedisReply)] {
        let flat = elements
        var pairs: [(name: String, value: RedisReply)] = []
        pairs.reserveCapacity(flat.count / 2)
        var i = 0
        while i + 1 < flat.count {
            pairs.append((flat[i].text ?? "", flat[i + 1]))
            i += 2
        }
        return pairs
    }

    /// A stream entry as XRANGE and XREADGROUP give it, `[id, [field, value, ...]]`; nil for a
    /// reply of another shape.
    public var streamEntry: (id: String, fields: [(name: String, value: [UInt8])])? {
        let parts = elements
        guard parts.count == 2, let id = parts[0].text else { return nil }
        return (id, parts[1].fieldPairs.map { ($0.name, $0.value.bytes ?? []) })
    }
}
