/// What the body and header templates share: finding `{name}` macros in a template's text,
/// and appending a macro's value for one fire in the encoding its place needs.
///
/// A JSON body is full of braces, so only `{` + letters, digits or `_` + `}` is a macro
/// reference (`{"a":1}` and `{}` are literal text); a reference to a name outside the
/// vocabulary is an error, as in URLs, so a typo never goes out literally.
enum MacroText {
    /// One `{name}` reference: the byte range of the braces and the name between them.
    struct Reference {
        var range: Range<Int>
        var name: String
        var macro: Macro?
    }

    static func references(in bytes: [UInt8]) -> [Reference] {
        var found: [Reference] = []
        var i = 0
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "{") else { i += 1; continue }
            var j = i + 1
            while j < bytes.count, isNameByte(bytes[j]) { j += 1 }
            if j > i + 1, j < bytes.count, bytes[j] == UInt8(ascii: "}") {
                let name = String(decoding: bytes[(i + 1)..<j], as: UTF8.self)
                found.append(Reference(range: i..<(j + 1), name: name, macro: Macro(rawValue: name)))
                i = j + 1
            } else {
                i += 1
            }
        }
        return found
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "_")
    }

    /// "unknown macro {sbu1} (did you mean {sub1}?)"
    static func unknown(_ name: String) -> String {
        if let near = Macro.nearest(to: name) { return "unknown macro {\(name)} (did you mean {\(near.rawValue)}?)" }
        return "unknown macro {\(name)}"
    }

    /// How a value is written where its macro stands.
    enum Encoding: Sendable, Equatable {
        /// Inside a JSON string: JSON string escaping.
        case jsonString
        /// A numeric macro outside quotes in JSON: the number, or `null` when absent.
        case jsonBare
        /// A form field: RFC 3986 percent-encoding (what any form decoder reads back exactly).
        case form
        /// A header value: the bytes as they are; the header checks for CR, LF and NUL after.
        case raw
    }

    /// Appends the value of `macro` for this fire; an absent value appends nothing (or `null`).
    static func append(_ macro: Macro, _ record: Record, _ context: URLTemplate.Context,
                       _ encoding: Encoding, to out: inout [UInt8]) {
        if let field = macro.recordField {
            if let value = record[field] { appendText(value, encoding, to: &out) } else if encoding == .jsonBare { appendNull(&out) }
            return
        }
        switch macro {
        case .postbackID: appendDecimal(context.postbackID, to: &out)
        case .random: appendDecimal(context.random, to: &out)
        case .timestamp:
            if let value = record[.timestamp] { appendText(value, encoding, to: &out) } else { appendDecimal(context.arrivalTime, to: &out) }
        case .fireID:
            if context.fireID.isEmpty, encoding == .jsonBare { appendNull(&out) } else { appendText(context.fireID, encoding, to: &out) }
        default:
            break
        }
    }

    private static func appendNull(_ out: inout [UInt8]) {
        out.append(contentsOf: [UInt8(ascii: "n"), UInt8(ascii: "u"), UInt8(ascii: "l"), UInt8(ascii: "l")])
    }

    private static func appendText(_ value: String, _ encoding: Encoding, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in
            switch encoding {
            case .jsonString: JSONEscaping.append(bytes, to: &out)
            case .jsonBare: JSONEscaping.appendNumber(bytes, to: &out)
            case .form: PercentEncoding.append(bytes: bytes, to: &out)
            case .raw: out.append(contentsOf: bytes)
            }
        }
    }
}

/// JSON text for values placed in a body (RFC 8259 §7), written straight into the buffer.
enum JSONEscaping {
    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// The bytes as the inside of a JSON string: `"` and `\` escaped, control characters as
    /// `\n`, `\r`, `\t` or `\u00XX`; everything else (UTF-8 such as `€`) as it is.
    static func append(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(b)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20, 0x7F:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            default: out.append(b)
            }
        }
    }

    /// A numeric value as a JSON number. Record numbers are already JSON numbers or decimals
    /// (`RecordParser.isDecimal`); a decimal's extra leading zeros (`007.5`, which JSON
    /// forbids) are dropped. Anything else, which the parser should never let through, goes
    /// out as a JSON string rather than as broken JSON.
    static func appendNumber(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var start = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { start = 1 }
        var digitsStart = start
        while digitsStart + 1 < bytes.count, bytes[digitsStart] == UInt8(ascii: "0"),
            bytes[digitsStart + 1] >= 0x30, bytes[digitsStart + 1] <= 0x39 { digitsStart += 1 }
        let number = UnsafeBufferPointer(rebasing: bytes[digitsStart...])
        guard isNumber(number) else {
            out.append(UInt8(ascii: "\""))
            append(bytes, to: &out)
            out.append(UInt8(ascii: "\""))
            return
        }
        if negative { out.append(UInt8(ascii: "-")) }
        out.append(contentsOf: number)
    }

    /// RFC 8259's `int frac? exp?` (no sign: the caller took it), checked without allocating.
    static func isNumber(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        func digit(_ i: Int) -> Bool { i < b.count && b[i] >= 0x30 && b[i] <= 0x39 }
        var i = 0
        guard digit(0) else { return false }
        if b[0] == UInt8(ascii: "0") { i = 1 } else { while digit(i) { i += 1 } }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        return i == b.count
    }
}
