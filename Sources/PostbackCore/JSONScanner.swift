/// A forward-only JSON reader over UTF-8 bytes.
///
/// Why not Foundation's `JSONSerialization`: the daemon must print a payout exactly as the
/// platform sent it (`1.50` stays `1.50`, never `1.5000000001`), so numbers are kept as their
/// source text; a catalog error must name a line and column; and a record line is read in one
/// pass straight into the record's fields, without building a dictionary first.
struct JSONScanner {
    /// Nesting deeper than this is refused: hostile input must not exhaust the stack.
    static let maxDepth = 64

    let bytes: UnsafeBufferPointer<UInt8>
    private(set) var offset: Int = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    var atEnd: Bool { offset >= bytes.count }

    /// A failure at a byte offset; `position(in:)` turns it into a line and column.
    struct Failure: Error, Equatable {
        var offset: Int
        var message: String
    }

    /// A scalar value as it appeared in the source.
    enum Scalar: Equatable {
        case string(String)
        /// The number's own text, e.g. `1.50` or `-3e2`.
        case number(String)
        case bool(Bool)
        case null
        /// An object or array that was skipped over.
        case composite(kind: String)
    }

    func fail(_ message: String, at: Int? = nil) -> Failure {
        Failure(offset: at ?? offset, message: message)
    }

    mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1
            default: return
            }
        }
    }

    /// The next non-blank byte, without consuming it.
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return offset < bytes.count ? bytes[offset] : nil
    }

    mutating func expect(_ byte: UInt8) throws(Failure) {
        skipWhitespace()
        guard offset < bytes.count else {
            throw fail("expected '\(Character(Unicode.Scalar(byte)))' but the input ended")
        }
        guard bytes[offset] == byte else {
            throw fail("expected '\(Character(Unicode.Scalar(byte)))' but found \(describeByte(bytes[offset]))")
        }
        offset += 1
    }

    func describeByte(_ b: UInt8) -> String {
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x" + String(b, radix: 16, uppercase: true)
    }

    /// Iterates an object's members: `body` is called with each key, positioned at its value,
    /// and must consume the value.
    mutating func readObject(depth: Int, _ body: (inout JSONScanner, String) throws(Failure) -> Void) throws(Failure) {
        guard depth < Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth) levels") }
        try expect(UInt8(ascii: "{"))
        if peek() == UInt8(ascii: "}") { offset += 1; return }
        while true {
            guard peek() == UInt8(ascii: "\"") else {
                if atEnd { throw fail("the input ended inside an object") }
                throw fail("expected a member name in quotes but found \(describeByte(bytes[offset]))")
            }
            let key = try readString()
            try expect(UInt8(ascii: ":"))
            try body(&self, key)
            guard let next = peek() else { throw fail("the input ended inside an object") }
            offset += 1
            if next == UInt8(ascii: "}") { return }
            guard next == UInt8(ascii: ",") else {
                throw fail("expected ',' or '}' but found \(describeByte(next))", at: offset - 1)
            }
        }
    }

    /// Iterates an array's elements: `body` is called positioned at each element and must consume it.
    mutating func readArray(depth: Int, _ body: (inout JSONScanner, Int) throws(Failure) -> Void) throws(Failure) {
        guard depth < Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth) levels") }
        try expect(UInt8(ascii: "["))
        if peek() == UInt8(ascii: "]") { offset += 1; return }
        var index = 0
        while true {
            try body(&self, index)
            index += 1
            guard let next = peek() else { throw fail("the input ended inside an array") }
            offset += 1
            if next == UInt8(ascii: "]") { return }
            guard next == UInt8(ascii: ",") else {
                throw fail("expected ',' or ']' but found \(describeByte(next))", at: offset - 1)
            }
        }
    }

    /// Reads a scalar; an object or array is skipped (validated) and reported as `.composite`.
    mutating func readScalar(depth: Int) throws(Failure) -> Scalar {
        guard let b = peek() else { throw fail("expected a value but the input ended") }
        switch b {
        case UInt8(ascii: "\""): return .string(try readString())
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            try skipValue(depth: depth)
            return .composite(kind: b == UInt8(ascii: "{") ? "an object" : "an array")
        case UInt8(ascii: "t"): try readLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try readLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try readLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try readNumber())
        default: throw fail("expected a value but found \(describeByte(b))")
        }
    }

    /// Consumes any value, checking its syntax.
    mutating func skipValue(depth: Int) throws(Failure) {
        guard let b = peek() else { throw fail("expected a value but the input ended") }
        switch b {
        case UInt8(ascii: "{"):
            try readObject(depth: depth + 1) { (s: inout JSONScanner, _: String) throws(Failure) in try s.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            try readArray(depth: depth + 1) { (s: inout JSONScanner, _: Int) throws(Failure) in try s.skipValue(depth: depth + 1) }
        default:
            _ = try readScalar(depth: depth)
        }
    }

    private mutating func readLiteral(_ word: StaticString) throws(Failure) {
        let start = offset
        let n = word.utf8CodeUnitCount
        guard offset + n <= bytes.count else { throw fail("unknown word; expected a value", at: start) }
        let w = word.utf8Start
        for i in 0..<n where bytes[offset + i] != w[i] {
            throw fail("unknown word; expected a value", at: start)
        }
        offset += n
    }

    /// Reads a number per RFC 8259 and returns its exact text.
    mutating func readNumber() throws(Failure) -> String {
        let start = offset
        func digit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        guard offset < bytes.count, digit(bytes[offset]) else { throw fail("malformed number", at: start) }
        if bytes[offset] == UInt8(ascii: "0") {
            offset += 1
        } else {
            while offset < bytes.count, digit(bytes[offset]) { offset += 1 }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard offset < bytes.count, digit(bytes[offset]) else { throw fail("malformed number", at: start) }
            while offset < bytes.count, digit(bytes[offset]) { offset += 1 }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard offset < bytes.count, digit(bytes[offset]) else { throw fail("malformed number", at: start) }
            while offset < bytes.count, digit(bytes[offset]) { offset += 1 }
        }
        if offset < bytes.count, digit(bytes[offset]) { throw fail("malformed number (leading zero)", at: start) }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
    }

    /// Reads a string, decoding escapes; refuses raw control characters and invalid UTF-8.
    mutating func readString() throws(Failure) -> String {
        let open = offset
        try expect(UInt8(ascii: "\""))
        let start = offset
        // Fast path: no escapes.
        var allBits: UInt8 = 0
        while offset < bytes.count {
            let b = bytes[offset]
            if b == UInt8(ascii: "\"") {
                let run = UnsafeBufferPointer(rebasing: bytes[start..<offset])
                offset += 1
                // ASCII is valid UTF-8 as it stands, and String(decoding:) copies it directly.
                // String(validating:) is kept for the rest: it is generic in the standard
                // library, not specialised here, and its metadata lookups made it a third of
                // loading a catalog (callgrind, Benchmarks/micro).
                if allBits < 0x80 { return String(decoding: run, as: UTF8.self) }
                guard let s = String(validating: run, as: UTF8.self) else {
                    throw fail("string is not valid UTF-8", at: open)
                }
                return s
            }
            allBits |= b
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw fail("control character \(describeByte(b)) inside a string; it must be escaped") }
            offset += 1
        }
        guard offset < bytes.count else { throw fail("unterminated string", at: open) }
        // Slow path: escapes present.
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<offset]))
        while offset < bytes.count {
            let b = bytes[offset]
            if b == UInt8(ascii: "\"") {
                offset += 1
                guard let s = String(validating: out, as: UTF8.self) else {
                    throw fail("string is not valid UTF-8", at: open)
                }
                return s
            }
            if b < 0x20 { throw fail("control character \(describeByte(b)) inside a string; it must be escaped") }
            if b != UInt8(ascii: "\\") { out.append(b); offset += 1; continue }
            offset += 1
            guard offset < bytes.count else { break }
            let e = bytes[offset]
            offset += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try readHex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    offset += 2
                    let low = try readHex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("unpaired surrogate in \\u escape")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: UTF8.encode(u)!)
            default:
                throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'", at: offset - 2)
            }
        }
        throw fail("unterminated string", at: open)
    }

    private mutating func readHex4() throws(Failure) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[offset]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - 0x30)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - 0x61 + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - 0x41 + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            offset += 1
        }
        return v
    }

    /// Requires that only whitespace remains.
    mutating func expectEnd() throws(Failure) {
        skipWhitespace()
        if offset < bytes.count { throw fail("unexpected \(describeByte(bytes[offset])) after the end of the value") }
    }

    /// 1-based line and column (in bytes) of an offset, for error messages.
    static func position(of offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (line: Int, column: Int) {
        var line = 1, lineStart = 0
        for i in 0..<min(offset, bytes.count) where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        return (line, offset - lineStart + 1)
    }
}

extension JSONScanner.Scalar {
    /// How a wrong-typed value is described in an error, e.g. `a string ("abc")`.
    var described: String {
        switch self {
        case .string(let s): return "a string (\"\(s.count > 40 ? String(s.prefix(40)) + "…" : s)\")"
        case .number(let n): return "a number (\(n))"
        case .bool(let b): return "a boolean (\(b))"
        case .null: return "null"
        case .composite(let kind): return kind
        }
    }
}
