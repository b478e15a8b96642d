#if !POSTBACK_FUZZ
@testable import PostbackCore
#endif

/// What each libFuzzer target does with one input, shared by the fuzz builds (`Tests/Fuzz/`,
/// compiled together with the PostbackCore sources and `-D POSTBACK_FUZZ`) and by
/// `FuzzCorpusTests`, so the seed corpus and every crash kept in it replay in plain `swift test`
/// through exactly the code the fuzzer ran.
///
/// Each entry returns the invariants the input broke (empty when all hold) rather than trapping:
/// the fuzz targets turn a violation into a crash, the tests into a failed expectation that
/// names the file. A trap inside PostbackCore itself crashes both, which is the point.
enum FuzzEntries {
    /// Record parser: a whole spool file through `parseLines`, the way the daemon reads it.
    static func record(_ data: UnsafeBufferPointer<UInt8>) -> [String] {
        var violations: [String] = []
        var lines = 0
        RecordParser.parseLines(data) { number, raw, result in
            lines += 1
            if number < 1 { violations.append("line number \(number) < 1") }
            switch result {
            case .success(let record):
                if record.transactionID.isEmpty { violations.append("line \(number): accepted with an empty transaction_id") }
                if record.partnerID < 0 || record.offerID < 0 { violations.append("line \(number): accepted a negative id") }
                if record.kind == .event, record.eventID == nil { violations.append("line \(number): event without event_id") }
                if record[.partnerID] != String(record.partnerID) { violations.append("line \(number): partner_id text differs from its value") }
                // The same bytes parsed alone give the same answer: no state leaks between lines.
                if case .success(let again) = RecordParser.parse(line: raw), again == record {} else {
                    violations.append("line \(number): parsing the line alone gave a different result")
                }
            case .failure(let rejection):
                if rejection.reason.isEmpty { violations.append("line \(number): rejected without a reason") }
                if rejection.line != number { violations.append("line \(number): rejection names line \(rejection.line)") }
            }
        }
        return violations
    }

    /// Catalog decoder and validator: any bytes as a catalog file.
    static func catalog(_ data: UnsafeBufferPointer<UInt8>) -> [String] {
        switch Catalog.load(data) {
        case .failure(let error):
            if error.problems.isEmpty { return ["refused without a problem"] }
            if error.problems.contains(where: { $0.message.isEmpty }) { return ["a problem without a message"] }
            return []
        case .success(let catalog):
            var violations: [String] = []
            for (a, b) in zip(catalog.postbacks, catalog.postbacks.dropFirst()) where a.id >= b.id {
                violations.append("ids not strictly increasing: \(a.id), \(b.id)")
            }
            for p in catalog.postbacks where catalog[id: p.id]?.id != p.id {
                violations.append("postback \(p.id) not found by id")
            }
            // What the CLI writes back (catalogJSON, the secret kept) must load to the same postbacks.
            let file = { (p: Postback) in p.catalogJSON(revealingSecret: true) }
            let rewritten = "{\"postbacks\":[" + catalog.postbacks.map(file).joined(separator: ",") + "]}"
            switch Catalog.load(Array(rewritten.utf8)) {
            case .success(let again):
                if again.postbacks.map(file) != catalog.postbacks.map(file) {
                    violations.append("catalog changed when written back and reloaded")
                }
            case .failure(let error):
                violations.append("catalog refused when written back: \(error.problems.first?.description ?? "")")
            }
            return violations
        }
    }

    /// A record whose values try every way to change a URL's shape, for template expansion.
    static let hostileRecord: Record = {
        var r = Record(
            kind: .conversion, transactionID: "t/../@evil.example:1#?&=", partnerID: 7, offerID: 3, eventID: 9)
        let nasty = ["a&b=c", "#frag", "/path?q", "user@host:99", "%2F%00", " €\u{0}\r\n", "{sub1}", "[::1]", "\\", ""]
        for (i, field) in RecordField.allCases.enumerated()
        where ![.transactionID, .partnerID, .offerID, .eventID, .timestamp].contains(field) {
            r[field] = nasty[i % nasty.count]
        }
        r[.timestamp] = "1700000000"
        return r
    }()

    /// URL template compiler, then expansion of what compiles with `hostileRecord`.
    static func template(_ data: UnsafeBufferPointer<UInt8>) -> [String] {
        let source = String(decoding: data, as: UTF8.self)
        let template: URLTemplate
        do {
            template = try URLTemplate.compile(source)
        } catch {
            return error.all.isEmpty ? ["refused without a problem"] : []
        }
        var violations: [String] = []
        if !template.macros.contains(where: \.isClickID) { violations.append("compiled without a click-ID macro") }
        let context = URLTemplate.Context(postbackID: .min, arrivalTime: .max, random: .max)
        let url = template.expand(hostileRecord, context: context)
        // The safety rule: a record never chooses where a fire goes. The expanded URL's scheme
        // and authority are the template's own.
        // The engine keys the fire by HostKey of the expanded URL: it must name the template's.
        let shape = URLShape(Array(url.utf8))
        let expandedKey = HostKey.of(url)
        if expandedKey != template.hostKey {
            violations.append("expansion changed the destination: template host \(template.hostKey), expanded \(expandedKey)")
        }
        func scheme(_ shape: URLShape) -> String? { shape.scheme.map { String(decoding: $0, as: UTF8.self).lowercased() } }
        if scheme(shape) != scheme(URLShape(Array(source.utf8))) {
            violations.append("expansion changed the scheme")
        }
        if url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            violations.append("expanded URL holds a space or control byte")
        }
        if template.expand(hostileRecord, context: context) != url { violations.append("expansion is not deterministic") }
        return violations
    }

    /// Body and header templates (issue 15). The first byte picks the content type (even:
    /// JSON, odd: form); the rest is the body template, also tried as a header value. What
    /// compiles must expand, for the hostile record and for an empty one, to: one valid JSON
    /// value (JSON), no `&` or `=` beyond the template's own (form: a value never adds a
    /// field), and a header value without CR, LF or NUL unless the fire is refused.
    static func body(_ data: UnsafeBufferPointer<UInt8>) -> [String] {
        guard let first = data.first else { return [] }
        let contentType: BodyContentType = first & 1 == 0 ? .json : .form
        let source = String(decoding: UnsafeBufferPointer(rebasing: data.dropFirst()), as: UTF8.self)
        var violations: [String] = []
        let context = URLTemplate.Context(postbackID: .min, arrivalTime: .max, random: .max, fireID: "fire_\u{0}\"\r\n")
        if let template = try? BodyTemplate.compile(source, contentType: contentType) {
            for record in [hostileRecord, BodyTemplate.emptyRecord] {
                let body = template.expand(record, context: context)
                if template.expand(record, context: context) != body { violations.append("body expansion is not deterministic") }
                switch contentType {
                case .json:
                    let valid = body.withUnsafeBufferPointer { buffer -> Bool in
                        var scanner = JSONScanner(buffer)
                        do throws(JSONScanner.Failure) {
                            try scanner.skipValue(depth: 0)
                            try scanner.expectEnd()
                            return true
                        } catch {
                            return false
                        }
                    }
                    if !valid { violations.append("a compiled JSON body expanded to invalid JSON: \(String(decoding: body.prefix(200), as: UTF8.self))") }
                case .form:
                    for b in [UInt8(ascii: "&"), UInt8(ascii: "=")] where body.filter({ $0 == b }).count != template.literalBytes.filter({ $0 == b }).count {
                        violations.append("a value added a form separator '\(Character(Unicode.Scalar(b)))'")
                    }
                }
            }
        }
        if let header = try? HeaderTemplate.compile(name: "X-Fuzz", value: source) {
            if let value = try? header.expand(hostileRecord, context: context),
                value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
                violations.append("a header value with CR, LF or NUL was let through")
            }
        }
        return violations
    }

    /// Address rules: any text as a URL host, an inet_aton spelling and an allow-list CIDR.
    /// What parses must print back to itself: a refusal message names the address the rule
    /// judged, so the printed form has to be that same address.
    static func address(_ data: UnsafeBufferPointer<UInt8>) -> [String] {
        let text = String(decoding: data, as: UTF8.self)[...]
        var violations: [String] = []
        if let address = IPAddress(urlHost: text) {
            let printed: Substring
            switch address {
            case .v4: printed = address.description[...]
            case .v6: printed = "[\(address.description)]"
            }
            if IPAddress(urlHost: printed) != address { violations.append("host \(address) does not read back") }
            _ = AddressRules().check(address)
        }
        if let v4 = IPv4Address(inetAton: text), IPv4Address(dottedQuad: v4.description[...]) != v4 {
            violations.append("inet_aton \(v4) does not read back as a dotted quad")
        }
        if let cidr = CIDR(text) {
            if CIDR(cidr.description) != cidr { violations.append("CIDR \(cidr) does not read back") }
            if !cidr.contains(cidr.network) { violations.append("CIDR \(cidr) does not contain its network") }
            if AddressRules(allowList: [cidr]).check(cidr.network) != .permitted {
                violations.append("an allow-listed \(cidr.network) is not allowed")
            }
        }
        return violations
    }
}
