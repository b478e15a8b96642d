/// The one name of a fire's destination: what the per-host cap, the slow-host rule and the
/// circuit breaker all key by (one `Destination` each in the firing engine), computed the same
/// way from a template when the catalog loads (`URLTemplate.hostKey`) and from an expanded URL
/// when a fire reaches the engine.
///
/// The key is the URL's host, ASCII lower-cased, with IPv6 brackets (and a zone) kept as
/// written, user info dropped, then `:port` unless the port is 80 or 443. Why each part:
/// - It has to group fires at least as coarsely as libcurl does. The per-host cap exists so
///   that curl never holds more transfers for a host than CURLMOPT_MAX_HOST_CONNECTIONS lets
///   it run (the excess would wait in curl's unbounded pending queue, not in the spool). curl
///   7.88 counts that limit per connection bundle, keyed `scope/port/hostname`, lower-cased
///   (conncache.c `hashkey`): the host name without brackets or user info and the *effective*
///   port, whatever the scheme. If two of our keys fell on one bundle, each could fill it.
/// - So the port is part of it, and an explicit default port is the same destination as none:
///   `https://example.com:443/`, `https://example.com/` and `HTTPS://Example.COM/` are one.
/// - 80 and 443 are both dropped, whatever the scheme, so the key is a function of curl's
///   bundle alone: `http://example.com:443` and `https://example.com` share curl's bundle and
///   share our key. `http://example.com` and `https://example.com` are two bundles in curl but
///   one destination here: the same partner host on its two web ports, judged by one breaker
///   and one slow-host rule, under one cap. Coarser than curl is safe (it never lets curl's
///   queue fill); finer would not be.
/// - The scheme is not in it (it changes only the default port, covered above).
/// - Lower-casing is ASCII only, as curl's; a non-ASCII name is lower-cased by Unicode rules,
///   an approximation of the IDNA mapping curl applies (libidn2). Percent-escapes in a host
///   are left as written (templates holding them are rare and then still get one key each).
/// - Brackets stay so the key reads as an authority and `[::1]:8080` cannot be mistaken for a
///   host `::1:8080`; they are the same for every spelling of one URL, so they cost nothing.
///
/// A byte scan, not a URL parser: it runs once per fire on the producer's thread. It only has
/// to name the same destination the same way each time; curl does the real parsing, and a
/// URL too odd to scan still gets its own (bounded) key. Without `://` the key is the text up
/// to the first `/`, `?` or `#`, so such a URL (refused by curl) is still named.
public enum HostKey {
    /// The key of `url` (an expanded URL or a template whose authority has no macro).
    public static func of(_ url: String) -> String {
        var url = url
        return url.withUTF8 { of($0) }
    }

    public static func of(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let slash = UInt8(ascii: "/"), question = UInt8(ascii: "?"), hash = UInt8(ascii: "#")
        var start = 0
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon + 2 < bytes.count,
            bytes[colon + 1] == slash, bytes[colon + 2] == slash,
            !bytes[..<colon].contains(where: { $0 == slash || $0 == question || $0 == hash })
        {
            start = colon + 3
        }
        var end = start
        while end < bytes.count, bytes[end] != slash, bytes[end] != question, bytes[end] != hash {
            if bytes[end] == UInt8(ascii: "@") { start = end + 1 }  // the last '@' ends the user info
            end += 1
        }
        // The host: a bracketed IPv6 literal only when a ':port' or nothing follows its ']'
        // (as URLShape, so a template's host and this key are cut in the same place).
        var hostEnd = end
        if start < end, bytes[start] == UInt8(ascii: "[") {
            if let close = bytes[start..<end].firstIndex(of: UInt8(ascii: "]")),
                close + 1 == end || bytes[close + 1] == UInt8(ascii: ":")
            {
                hostEnd = close + 1
            }
        } else if let colon = bytes[start..<end].firstIndex(of: UInt8(ascii: ":")) {
            hostEnd = colon
        }
        let host = UnsafeBufferPointer(rebasing: bytes[start..<hostEnd])
        let port = hostEnd < end ? UnsafeBufferPointer(rebasing: bytes[(hostEnd + 1)..<end]) : UnsafeBufferPointer(rebasing: bytes[end..<end])
        let portValue = decimal(port)
        let dropsPort = port.isEmpty || portValue == 80 || portValue == 443
        // The common case (a lower-case host, no port or a plain one) is the authority as
        // written: one String, no copy through an array.
        let asWritten = hostEnd == end || (!dropsPort && portValue != nil && port.first != UInt8(ascii: "0"))
        if asWritten, !host.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") || $0 >= 0x80 }) {
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
        var key: String
        if host.contains(where: { $0 >= 0x80 }) {
            key = String(decoding: host, as: UTF8.self).lowercased()
        } else {
            key = String(decoding: host.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }, as: UTF8.self)
        }
        if !dropsPort {
            key += ":"
            if let portValue { key += String(portValue) } else { key += String(decoding: port, as: UTF8.self).lowercased() }
        }
        return key
    }

    /// A port written in digits (leading zeros allowed, as curl reads it), else nil.
    private static func decimal(_ digits: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 10 else { return nil }
        var value = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(d - UInt8(ascii: "0"))
        }
        return value
    }
}
