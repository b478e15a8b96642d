/// One request header a postback adds: a fixed name and a value template.
///
/// Macros are allowed in the value only; the name is an HTTP token (RFC 9110 §5.6.2) fixed by
/// the catalog, and the headers that frame the message (`Host`, `Content-Length`,
/// `Transfer-Encoding`, `Connection`) or that postbackd sets itself are refused, so a catalog
/// entry cannot reshape the request. Values are sent as their bytes: a value that would hold
/// CR, LF or NUL once expanded is never sent (that fire fails permanently, `Unsendable`), so
/// a record cannot add a header line.
public struct HeaderTemplate: Sendable, Equatable {
    public let name: String
    public let value: String
    let literalBytes: [UInt8]
    let segments: [BodyTemplate.Segment]
    public let macros: [Macro]

    /// Names the catalog may not set: they frame the message, or postbackd writes them.
    static let forbidden: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "content-type", "expect",
        "webhook-id", "webhook-timestamp", "webhook-signature",
    ]

    /// Problems with a name, as shown after `headers: `.
    static func problems(name: String) -> [String] {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return ["a header name is empty"] }
        if !MacroText.references(in: bytes).isEmpty || bytes.contains(UInt8(ascii: "{")) {
            return ["header name \"\(name)\": macros are allowed in values only"]
        }
        if let bad = bytes.first(where: { !isTokenByte($0) }) {
            let what = bad < 0x20 || bad >= 0x7F ? "byte 0x" + String(bad, radix: 16, uppercase: true) : "'\(Character(Unicode.Scalar(bad)))'"
            return ["header name \"\(name)\" is not an HTTP token (it holds \(what))"]
        }
        let lowered = name.lowercased()
        if forbidden.contains(lowered) {
            switch lowered {
            case "content-type": return ["header \"\(name)\" is set by content_type"]
            case "webhook-id", "webhook-timestamp", "webhook-signature": return ["header \"\(name)\" is set by signing_secret"]
            default: return ["header \"\(name)\" may not be set: postbackd frames the request itself"]
            }
        }
        return []
    }

    /// tchar: `!#$%&'*+-.^_`|~`, digits and letters.
    static func isTokenByte(_ b: UInt8) -> Bool {
        if MacroText.isNameByte(b) { return true }
        return Array("!#$%&'*+-.^`|~".utf8).contains(b)
    }

    /// Compiles one header; problems of the name and of the value, each as a message.
    public static func compile(name: String, value: String) throws(URLTemplate.Problems) -> HeaderTemplate {
        var problems = problems(name: name)
        let bytes = Array(value.utf8)
        if let bad = bytes.firstIndex(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
            problems.append("header \"\(name)\": the value holds a control character at position \(bad + 1)")
        }
        var literal: [UInt8] = []
        var segments: [BodyTemplate.Segment] = []
        var macros: [Macro] = []
        var runStart = 0
        for reference in MacroText.references(in: bytes) {
            guard let macro = reference.macro else {
                problems.append("header \"\(name)\": " + MacroText.unknown(reference.name))
                continue
            }
            let start = literal.count
            literal.append(contentsOf: bytes[runStart..<reference.range.lowerBound])
            segments.append(BodyTemplate.Segment(literal: start..<literal.count, macro: macro, encoding: .raw))
            macros.append(macro)
            runStart = reference.range.upperBound
        }
        let start = literal.count
        literal.append(contentsOf: bytes[runStart...])
        segments.append(BodyTemplate.Segment(literal: start..<literal.count, macro: nil, encoding: .raw))
        if !problems.isEmpty { throw URLTemplate.Problems(all: problems.map { URLTemplate.Problem(message: $0) }) }
        return HeaderTemplate(name: name, value: value, literalBytes: literal, segments: segments, macros: macros)
    }

    /// Why a header cannot be sent for this fire.
    public struct Unsendable: Error, Sendable, Equatable, CustomStringConvertible {
        public var header: String
        public var reason: String
        public var description: String { "header \(header): \(reason); not sent" }
    }

    /// The header line's value for this fire: its bytes, or why it cannot be sent.
    public func expand(_ record: Record, context: URLTemplate.Context) throws(Unsendable) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(literalBytes.count + 32)
        literalBytes.withUnsafeBufferPointer { lit in
            for segment in segments {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: lit[segment.literal]))
                if let macro = segment.macro { MacroText.append(macro, record, context, .raw, to: &out) }
            }
        }
        for (byte, what) in [(UInt8(0x0D), "a carriage return (CR)"), (0x0A, "a line feed (LF)"), (0x00, "a NUL byte")]
        where out.contains(byte) {
            throw Unsendable(header: name, reason: "the value would hold \(what) once its macros are filled")
        }
        // Other control characters (not CR/LF/NUL) are not header syntax either; curl would
        // send them, partners' servers refuse them: the same verdict.
        if let bad = out.first(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
            throw Unsendable(header: name, reason: "the value would hold the control character 0x\(String(bad, radix: 16, uppercase: true)) once its macros are filled")
        }
        return String(decoding: out, as: UTF8.self)
    }
}
