/// A postback URL compiled once, when the catalog loads, into literal runs and macro slots,
/// so that expanding it for a record is one pass into one buffer with no searching.
public struct URLTemplate: Sendable, Equatable {
    /// One literal run followed by an optional macro slot.
    struct Segment: Sendable, Equatable {
        var literal: Range<Int>
        var macro: Macro?
    }

    /// The template text as the catalog wrote it.
    public let source: String
    let literalBytes: [UInt8]
    let segments: [Segment]
    /// The macros used, in order of appearance.
    public let macros: [Macro]
    /// The destination's `HostKey`: fixed by the template (no macro may touch the authority),
    /// so the circuit breaker can key on it without parsing each fire's URL; the engine finds
    /// the same key in the expanded URL.
    public let hostKey: String

    /// What is wrong with a URL template, as shown after `url: `.
    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Every problem a template has, found in one pass.
    public struct Problems: Error, Sendable {
        public var all: [Problem]
    }

    /// Compiles a template, reporting every problem found rather than only the first.
    /// `requireClickID`: false when the click ID travels elsewhere (a POST's body or headers).
    public static func compile(_ source: String, requireClickID: Bool = true) throws(Problems) -> URLTemplate {
        var problems: [Problem] = []
        let bytes = Array(source.utf8)
        var literal: [UInt8] = []
        literal.reserveCapacity(bytes.count)
        var segments: [Segment] = []
        var macros: [Macro] = []
        var runStart = 0

        if bytes.isEmpty {
            throw Problems(all: [Problem(message: "is empty")])
        }
        if let bad = bytes.firstIndex(where: { $0 <= 0x20 || $0 == 0x7F }) {
            let what = bytes[bad] == 0x20 ? "a space" : "a control character"
            problems.append(Problem(message: "contains \(what) at position \(bad + 1); encode it as %XX"))
        }

        // Where the authority (userinfo, host, port) is, so macros there can be refused.
        let shape = URLShape(bytes)
        switch shape.scheme {
        case nil:
            problems.append(Problem(message: "is not an absolute URL; it must start with http:// or https://"))
        case let scheme?:
            // A macro in the scheme is reported where the macro is read, below.
            if !scheme.contains(UInt8(ascii: "{")) {
                let lowered = String(decoding: scheme, as: UTF8.self).lowercased()
                if lowered != "http" && lowered != "https" {
                    problems.append(Problem(message: "scheme \"\(lowered)\" is not allowed; only http and https"))
                }
            }
        }
        if shape.scheme != nil, shape.host.isEmpty, !shape.host.contains(UInt8(ascii: "{")) {
            problems.append(Problem(message: "has no host"))
        }

        var i = 0
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "{") else {
                if bytes[i] == UInt8(ascii: "}") {
                    problems.append(Problem(message: "a '}' at position \(i + 1) closes no macro"))
                }
                i += 1
                continue
            }
            guard let close = bytes[(i + 1)...].firstIndex(where: { $0 == UInt8(ascii: "}") || $0 == UInt8(ascii: "{") }),
                bytes[close] == UInt8(ascii: "}")
            else {
                problems.append(Problem(message: "a '{' at position \(i + 1) is never closed"))
                i += 1
                continue
            }
            let name = String(decoding: bytes[(i + 1)..<close], as: UTF8.self)
            if let macro = Macro(rawValue: name) {
                if let part = shape.part(containing: i) {
                    problems.append(Problem(message: "macro {\(name)} in the \(part); a record must never choose where a fire goes"))
                }
                let start = literal.count
                literal.append(contentsOf: bytes[runStart..<i])
                segments.append(Segment(literal: start..<literal.count, macro: macro))
                macros.append(macro)
            } else if let near = Macro.nearest(to: name) {
                problems.append(Problem(message: "unknown macro {\(name)} (did you mean {\(near.rawValue)}?)"))
            } else {
                problems.append(Problem(message: "unknown macro {\(name)}"))
            }
            i = close + 1
            runStart = i
        }
        let start = literal.count
        literal.append(contentsOf: bytes[runStart...])
        segments.append(Segment(literal: start..<literal.count, macro: nil))

        if requireClickID, !macros.contains(where: \.isClickID), !problems.contains(where: { $0.message.hasPrefix("unknown macro") }) {
            problems.append(Problem(message: "no click-ID macro; add one of {sub1}..{sub10} or {transaction_id} so the partner can attribute the fire"))
        }
        if !problems.isEmpty { throw Problems(all: problems) }
        return URLTemplate(
            source: source, literalBytes: literal, segments: segments, macros: macros,
            hostKey: bytes.withUnsafeBufferPointer { HostKey.of($0) })
    }

    /// The values a fire supplies that are not in the record, so expansion stays pure.
    public struct Context: Sendable {
        public var postbackID: Int64
        /// Used for `{timestamp}` when the record carries none (the daemon's arrival time).
        public var arrivalTime: Int64
        /// The cache-buster for `{random}`, fresh per attempt.
        public var random: UInt64
        /// `{fire_id}`: one id per (record, postback), the same on every attempt; derived by
        /// the caller (`FireIdentity` in PostbackFiring), empty when the postback uses none.
        public var fireID: String

        public init(postbackID: Int64, arrivalTime: Int64, random: UInt64, fireID: String = "") {
            self.postbackID = postbackID
            self.arrivalTime = arrivalTime
            self.random = random
            self.fireID = fireID
        }
    }

    /// Appends the expanded URL to `out`; every value is percent-encoded, an absent one is empty.
    public func expand(_ record: Record, context: Context, into out: inout [UInt8]) {
        literalBytes.withUnsafeBufferPointer { lit in
            for segment in segments {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: lit[segment.literal]))
                guard let macro = segment.macro else { continue }
                if let field = macro.recordField {
                    if let value = record[field] { PercentEncoding.append(value, to: &out) }
                    continue
                }
                switch macro {
                case .postbackID: appendDecimal(context.postbackID, to: &out)
                case .random: appendDecimal(context.random, to: &out)
                case .timestamp:
                    if let value = record[.timestamp] {
                        PercentEncoding.append(value, to: &out)
                    } else {
                        appendDecimal(context.arrivalTime, to: &out)
                    }
                case .fireID: PercentEncoding.append(context.fireID, to: &out)
                default: break
                }
            }
        }
    }

    /// The expanded URL as a string.
    public func expand(_ record: Record, context: Context) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(literalBytes.count + 64)
        expand(record, context: context, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// Appends an integer's decimal digits without creating a String: URL expansion and the
/// spool's ledger lines both run once per fire. Inlinable so each caller gets it specialised.
@inlinable
public func appendDecimal<T: BinaryInteger>(_ value: T, to out: inout [UInt8]) {
    if value < 0 { out.append(UInt8(ascii: "-")) }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var magnitude = value.magnitude
    var n = 0
    withUnsafeMutableBytes(of: &digits) { buf in
        repeat {
            buf[n] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            n += 1
        } while magnitude > 0
        for i in stride(from: n - 1, through: 0, by: -1) { out.append(buf[i]) }
    }
}

/// The byte ranges of a URL's scheme and authority parts, found without decoding anything.
struct URLShape {
    var scheme: ArraySlice<UInt8>?
    var userinfo: Range<Int>?
    var hostRange: Range<Int> = 0..<0
    var port: Range<Int>?
    var host: ArraySlice<UInt8>

    init(_ bytes: [UInt8]) {
        host = []
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
            bytes.count >= colon + 3, bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/"),
            !bytes[..<colon].contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") })
        else { return }
        scheme = bytes[..<colon]
        let authorityStart = colon + 3
        let authorityEnd = bytes[authorityStart...].firstIndex(where: {
            $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#")
        }) ?? bytes.count
        var hostStart = authorityStart
        if let at = bytes[authorityStart..<authorityEnd].lastIndex(of: UInt8(ascii: "@")) {
            userinfo = authorityStart..<at
            hostStart = at + 1
        }
        var hostEnd = authorityEnd
        if hostStart < authorityEnd, bytes[hostStart] == UInt8(ascii: "[") {
            // Only a ':port' may follow the ']'; anything else stays part of the host, so a
            // macro there (`http://[::1]{sub1}/`) is refused as a macro in the host instead of
            // falling between the host and the port unchecked (caught by the template fuzz target).
            if let close = bytes[hostStart..<authorityEnd].firstIndex(of: UInt8(ascii: "]")),
                close + 1 == authorityEnd || bytes[close + 1] == UInt8(ascii: ":")
            {
                hostEnd = close + 1
            }
        } else if let portColon = bytes[hostStart..<authorityEnd].firstIndex(of: UInt8(ascii: ":")) {
            hostEnd = portColon
        }
        if hostEnd < authorityEnd { port = (hostEnd + 1)..<authorityEnd }
        hostRange = hostStart..<hostEnd
        host = bytes[hostRange]
    }

    /// The name of the destination-choosing part that holds `offset`, if any.
    func part(containing offset: Int) -> String? {
        if let scheme, scheme.indices.contains(offset) { return "scheme" }
        if let userinfo, userinfo.contains(offset) { return "userinfo" }
        if hostRange.contains(offset) { return "host" }
        if let port, port.contains(offset) { return "port" }
        return nil
    }
}
