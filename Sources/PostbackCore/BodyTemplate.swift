/// The two body encodings a POST postback may use; anything else is refused at load.
public enum BodyContentType: String, Sendable, CaseIterable {
    case json = "application/json"
    case form = "application/x-www-form-urlencoded"
}

/// A POST body compiled once, when the catalog loads, into literal runs and macro slots, each
/// slot with the encoding its place needs; expanding it for a fire is one pass into a reused
/// buffer, as for URLs.
///
/// JSON: a macro inside a JSON string gets JSON string escaping, so a value holding `"`, `\`,
/// a newline, `€` or `&` stays one string value; a numeric macro (`Macro.isNumeric`) may stand
/// outside quotes and becomes the number, or `null` when absent. Form: every value is
/// percent-encoded, so `&` and `=` in a value cannot add a field.
public struct BodyTemplate: Sendable, Equatable {
    struct Segment: Sendable, Equatable {
        var literal: Range<Int>
        var macro: Macro?
        var encoding: MacroText.Encoding
    }

    public let source: String
    public let contentType: BodyContentType
    let literalBytes: [UInt8]
    let segments: [Segment]
    /// The macros used, in order of appearance.
    public let macros: [Macro]

    /// Every problem found, each as shown after `body: `.
    public static func compile(_ source: String, contentType: BodyContentType) throws(URLTemplate.Problems) -> BodyTemplate {
        var problems: [String] = []
        let bytes = Array(source.utf8)
        var literal: [UInt8] = []
        literal.reserveCapacity(bytes.count)
        var segments: [Segment] = []
        var macros: [Macro] = []
        var runStart = 0
        // Where JSON strings are: a quote not escaped by a backslash opens or closes one.
        // Macro text holds no quote or backslash, so scanning the template as written is exact.
        var inString = false
        // Bytes still belonging to an escape: 1 after a backslash, 4 after `\u`. A macro there
        // would complete the escape with record data (`\u{postback_id}` is `\u1...` for one id
        // and invalid for another), so it is refused (found by the body fuzz target).
        var escapeLeft = 0
        var afterBackslash = false
        var scanned = 0
        func scan(upTo end: Int) {
            while scanned < end {
                let b = bytes[scanned]
                if escapeLeft > 0 {
                    if afterBackslash && b == UInt8(ascii: "u") { escapeLeft = 4 } else { escapeLeft -= 1 }
                    afterBackslash = false
                } else if inString && b == UInt8(ascii: "\\") {
                    escapeLeft = 1
                    afterBackslash = true
                } else if b == UInt8(ascii: "\"") {
                    inString.toggle()
                }
                scanned += 1
            }
        }
        for reference in MacroText.references(in: bytes) {
            guard let macro = reference.macro else {
                problems.append(MacroText.unknown(reference.name))
                continue
            }
            let encoding: MacroText.Encoding
            switch contentType {
            case .form:
                encoding = .form
            case .json:
                scan(upTo: reference.range.lowerBound)
                if inString && escapeLeft > 0 {
                    problems.append("macro {\(macro.rawValue)} stands inside a JSON escape sequence (after a backslash)")
                    encoding = .jsonString
                    escapeLeft = 0
                    afterBackslash = false
                } else if inString {
                    encoding = .jsonString
                } else if macro.isNumeric {
                    encoding = .jsonBare
                    if !Self.standsAlone(reference.range, in: bytes) {
                        problems.append("numeric macro {\(macro.rawValue)} outside quotes must stand alone as a JSON value (after '[', ',' or ':' and before ',', ']' or '}')")
                    }
                } else {
                    problems.append("macro {\(macro.rawValue)} stands outside a JSON string; put it in quotes (only numeric macros may stand bare)")
                    encoding = .jsonString
                }
                scanned = reference.range.upperBound
            }
            let start = literal.count
            literal.append(contentsOf: bytes[runStart..<reference.range.lowerBound])
            segments.append(Segment(literal: start..<literal.count, macro: macro, encoding: encoding))
            macros.append(macro)
            runStart = reference.range.upperBound
        }
        let start = literal.count
        literal.append(contentsOf: bytes[runStart...])
        segments.append(Segment(literal: start..<literal.count, macro: nil, encoding: .raw))
        let template = BodyTemplate(source: source, contentType: contentType, literalBytes: literal, segments: segments, macros: macros)
        if problems.isEmpty, contentType == .json, let why = template.invalidJSON() {
            problems.append(why)
        }
        if !problems.isEmpty { throw URLTemplate.Problems(all: problems.map { URLTemplate.Problem(message: $0) }) }
        return template
    }

    /// A bare number must be a whole JSON value: `2{postback_id}` would be `21` for one id and
    /// invalid for a negative one, so only a separator (or the body's start or end) may sit
    /// next to it, blanks aside (found by the body fuzz target).
    static func standsAlone(_ range: Range<Int>, in bytes: [UInt8]) -> Bool {
        func blank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        var before = range.lowerBound - 1
        while before >= 0, blank(bytes[before]) { before -= 1 }
        var after = range.upperBound
        while after < bytes.count, blank(bytes[after]) { after += 1 }
        let okBefore = before < 0 || [UInt8(ascii: "["), UInt8(ascii: ","), UInt8(ascii: ":")].contains(bytes[before])
        let okAfter = after >= bytes.count || [UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}")].contains(bytes[after])
        return okBefore && okAfter
    }

    /// Appends the body for this fire to `out`.
    public func expand(_ record: Record, context: URLTemplate.Context, into out: inout [UInt8]) {
        literalBytes.withUnsafeBufferPointer { lit in
            for segment in segments {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: lit[segment.literal]))
                if let macro = segment.macro { MacroText.append(macro, record, context, segment.encoding, to: &out) }
            }
        }
    }

    public func expand(_ record: Record, context: URLTemplate.Context) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(literalBytes.count + 64)
        expand(record, context: context, into: &out)
        return out
    }

    /// Why the body is not one JSON value once its macros are filled, or nil. Checked with
    /// every value present (awkward ones: quotes, backslashes, newlines, `€`) and with every
    /// value absent (numbers become `null`), so no record can make it invalid.
    func invalidJSON() -> String? {
        var full = Record(kind: .event, transactionID: "t\"\\\n€&", partnerID: 1, offerID: 2, eventID: 3)
        for field in RecordField.allCases where full[field] == nil {
            switch field {
            case .payout, .saleAmount: full[field] = "1.50"
            case .timestamp: full[field] = "1700000000"
            default: full[field] = "v\"\\\n€&"
            }
        }
        let context = URLTemplate.Context(postbackID: 1, arrivalTime: 1_700_000_000, random: 1, fireID: "fire_x")
        for (record, context) in [(full, context), (Self.emptyRecord, URLTemplate.Context(postbackID: 1, arrivalTime: 0, random: 0))] {
            let body = expand(record, context: context)
            let failure: JSONScanner.Failure? = body.withUnsafeBufferPointer { buffer in
                var scanner = JSONScanner(buffer)
                do throws(JSONScanner.Failure) {
                    try scanner.skipValue(depth: 0)
                    try scanner.expectEnd()
                    return nil
                } catch {
                    return error
                }
            }
            if let failure {
                let filled = record[.sub1] == nil ? "absent" : "present"
                return "is not valid JSON with its macros filled (values \(filled)): \(failure.message) at byte \(failure.offset + 1) of \(String(decoding: body.prefix(200), as: UTF8.self))"
            }
        }
        return nil
    }

    /// A record with every optional value absent (the ids the parser always has stay).
    static let emptyRecord: Record = {
        var r = Record(kind: .conversion, transactionID: "t", partnerID: 1, offerID: 2)
        r[.partnerID] = nil
        r[.offerID] = nil
        return r
    }()
}
