/// Why one spool line was refused; the rest of its file goes on.
public struct RecordRejection: Error, Equatable, Sendable, CustomStringConvertible {
    /// 1-based line number in the spool file.
    public var line: Int
    public var reason: String
    public var description: String { "line \(line): \(reason)" }

    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }
}

/// Reads JSON Lines spool files into records, each bad line rejected alone with its reason.
public enum RecordParser {
    /// Calls `body` for every non-blank line, in order, with its 1-based line number.
    /// A UTF-8 byte-order mark and Windows line endings are accepted.
    public static func parseLines(
        _ data: UnsafeBufferPointer<UInt8>,
        _ body: (_ line: Int, _ result: Result<Record, RecordRejection>) throws -> Void
    ) rethrows {
        try parseLines(data) { number, _, result in try body(number, result) }
    }

    /// `parseLines`, also handing over each line's raw bytes (without its line ending), which
    /// the daemon keeps with a deferred fire or a rejected line so nothing is lost.
    public static func parseLines(
        _ data: UnsafeBufferPointer<UInt8>,
        _ body: (_ line: Int, _ raw: UnsafeBufferPointer<UInt8>, _ result: Result<Record, RecordRejection>) throws -> Void
    ) rethrows {
        var start = 0
        if data.count >= 3, data[0] == 0xEF, data[1] == 0xBB, data[2] == 0xBF { start = 3 }
        var lineNumber = 0
        while start < data.count {
            lineNumber += 1
            var end = start
            while end < data.count, data[end] != 0x0A { end += 1 }
            let next = end + 1
            if end > start, data[end - 1] == 0x0D { end -= 1 }
            let line = UnsafeBufferPointer(rebasing: data[start..<end])
            start = next
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            switch parse(line: line) {
            case .success(let record): try body(lineNumber, line, .success(record))
            case .failure(let reason): try body(lineNumber, line, .failure(RecordRejection(line: lineNumber, reason: reason.message)))
            }
        }
    }

    /// `parseLines` over an array.
    public static func parseLines(
        _ data: [UInt8],
        _ body: (_ line: Int, _ result: Result<Record, RecordRejection>) throws -> Void
    ) rethrows {
        try data.withUnsafeBufferPointer { try parseLines($0, body) }
    }

    /// A reason a line is not a record.
    public struct Failure: Error, Equatable, Sendable {
        public var message: String

        public init(message: String) { self.message = message }
    }

    /// Parses one line (without its line ending).
    public static func parse(line: String) -> Result<Record, Failure> {
        var line = line
        return line.withUTF8 { parse(line: $0) }
    }

    /// Parses one line (without its line ending).
    public static func parse(line: UnsafeBufferPointer<UInt8>) -> Result<Record, Failure> {
        var scanner = JSONScanner(line)
        var kind: RecordKind?
        var kindError: String?
        var values = [String?](repeating: nil, count: RecordField.count)
        var seen: UInt64 = 0  // bit n: field n appeared
        assert(RecordField.count <= 64)
        var seenKind = false
        var fieldError: String?
        do throws(JSONScanner.Failure) {
            guard scanner.peek() == UInt8(ascii: "{") else {
                if scanner.atEnd { return .failure(Failure(message: "empty line")) }
                return .failure(Failure(message: "not a JSON object; each line must be one record {...}"))
            }
            try scanner.readObject(depth: 0) { (s: inout JSONScanner, key: String) throws(JSONScanner.Failure) in
                if key == "kind" {
                    let value = try s.readScalar(depth: 1)
                    if seenKind, fieldError == nil { fieldError = "kind: appears twice" }
                    seenKind = true
                    switch value {
                    case .string(let text):
                        kind = RecordKind(rawValue: text)
                        // Shown cut to 40 characters like every other echoed value: the reason
                        // is logged per line, and a hostile 10 MB kind must not become a 10 MB entry.
                        let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
                        if kind == nil { kindError = "kind: \"\(shown)\" is not one of conversion, event, click" }
                    case .null: break
                    default: kindError = "kind: expected a string, got \(value.described)"
                    }
                    return
                }
                guard let field = RecordField.byJSONName[key] else {
                    try s.skipValue(depth: 1)
                    return
                }
                let value = try s.readScalar(depth: 1)
                let bit: UInt64 = 1 << field.rawValue
                if seen & bit != 0, fieldError == nil { fieldError = "\(key): appears twice" }
                seen |= bit
                switch accept(value, for: field) {
                case .success(let text): values[field.rawValue] = text
                case .failure(let problem): if fieldError == nil { fieldError = "\(key): \(problem.message)" }
                }
            }
            try scanner.expectEnd()
        } catch {
            if String(validating: line, as: UTF8.self) == nil {
                return .failure(Failure(message: "not valid UTF-8 text"))
            }
            return .failure(Failure(message: "invalid JSON at column \(error.offset + 1): \(error.message)"))
        }
        if let kindError { return .failure(Failure(message: kindError)) }
        guard let kind else { return .failure(Failure(message: "kind: missing (conversion, event or click)")) }
        if let fieldError { return .failure(Failure(message: fieldError)) }
        for required in RecordField.required where values[required.rawValue] == nil {
            return .failure(Failure(message: "\(required.jsonName): missing"))
        }
        if values[RecordField.transactionID.rawValue]!.isEmpty {
            return .failure(Failure(message: "transaction_id: is empty"))
        }
        if kind == .event, values[RecordField.eventID.rawValue] == nil {
            return .failure(Failure(message: "event_id: missing (required for events)"))
        }
        return .success(Record(
            kind: kind,
            partnerID: Int64(values[RecordField.partnerID.rawValue]!)!,
            offerID: Int64(values[RecordField.offerID.rawValue]!)!,
            eventID: values[RecordField.eventID.rawValue].flatMap { Int64($0) },
            values: values))
    }

    /// How each field's JSON value becomes its text, or why it cannot.
    static func accept(_ value: JSONScanner.Scalar, for field: RecordField) -> Result<String?, Failure> {
        if case .null = value { return .success(nil) }
        switch field {
        case .partnerID, .offerID, .eventID, .timestamp:
            let what = field == .timestamp ? "Unix seconds as an integer" : "an integer"
            let text: String
            switch value {
            case .number(let n): text = n
            case .string(let s): text = s
            default: return .failure(Failure(message: "expected \(what), got \(value.described)"))
            }
            guard isInteger(text), let n = Int64(text), n >= 0 else {
                return .failure(Failure(message: "expected \(what), got \(value.described)"))
            }
            // Canonical digits: "007" and 7 name the same partner.
            return .success(String(n))
        case .payout, .saleAmount:
            switch value {
            case .number(let n): return .success(n)
            case .string(let s):
                guard isDecimal(s) else {
                    return .failure(Failure(message: "expected a decimal amount such as 1.50, got \(value.described)"))
                }
                return .success(s)
            default:
                return .failure(Failure(message: "expected a decimal amount, got \(value.described)"))
            }
        case .transactionID:
            guard case .string(let s) = value else {
                return .failure(Failure(message: "expected a string, got \(value.described)"))
            }
            return .success(s)
        default:
            switch value {
            case .string(let s): return .success(s)
            case .number(let n): return .success(n)
            default: return .failure(Failure(message: "expected a string, got \(value.described)"))
            }
        }
    }

    static func isInteger(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 19 && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// `-?digits(.digits)?`: what a platform stores as a money amount.
    static func isDecimal(_ s: String) -> Bool {
        var u = Substring(s).utf8[...]
        if u.first == UInt8(ascii: "-") { u = u.dropFirst() }
        let intPart = u.prefix { $0 >= 0x30 && $0 <= 0x39 }
        guard !intPart.isEmpty else { return false }
        u = u.dropFirst(intPart.count)
        if u.isEmpty { return true }
        guard u.first == UInt8(ascii: ".") else { return false }
        u = u.dropFirst()
        return !u.isEmpty && u.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}
