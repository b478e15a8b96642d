// Which destination addresses a postback may reach (DESIGN.md, Safety rules).
//
// Postback URLs are partner-editable, so they are untrusted: without these rules a partner
// could point the daemon at loopback services, the private network or the cloud metadata
// endpoint (169.254.169.254). The firing engine applies `AddressRules` to the address curl is
// about to connect to, after DNS and on every redirect hop; this file is the pure decision.

/// The kind of address, as far as the safety rules care.
public enum AddressCategory: String, Sendable, CaseIterable {
    case global = "global"
    case loopback = "loopback"
    case privateUse = "private (RFC 1918)"
    case sharedCGNAT = "shared address space (CGNAT 100.64/10)"
    case linkLocal = "link-local"
    case uniqueLocal = "unique-local (fc00::/7)"
    case unspecified = "unspecified"
    case multicast = "multicast"
    case broadcast = "broadcast"
    case reserved = "reserved"
}

/// How an IPv6 address carries an IPv4 one. These forms reach the IPv4 address (directly, or
/// through a translator or relay), so they are judged by the address they embed.
public enum IPv4Embedding: String, Sendable {
    case mapped = "IPv4-mapped"
    case compatible = "IPv4-compatible"
    case translated = "IPv4-translated"
    case nat64 = "NAT64"
    case sixToFour = "6to4"
    case teredo = "Teredo"
}

/// The verdict on one destination address.
public enum AddressCheck: Sendable, Equatable {
    case permitted
    /// `reason` reads as a sentence fragment, e.g. "127.0.0.1 is loopback".
    case refused(reason: String)
}

/// The safety rules with the operator's allow-list. An allow-listed CIDR wins over every
/// category, so an operator can let a postback reach, say, an internal partner on 10.1.2.0/24.
public struct AddressRules: Sendable, Equatable {
    public var allowList: [CIDR]

    public init(allowList: [CIDR] = []) {
        self.allowList = allowList
    }

    public func check(_ address: IPAddress) -> AddressCheck {
        let (category, embedded) = address.classification
        if category == .global { return .permitted }
        if isAllowListed(address) { return .permitted }
        if let embedded, isAllowListed(.v4(embedded.address)) { return .permitted }
        if let embedded {
            return .refused(
                reason: "\(address) is \(category.rawValue) (\(embedded.kind.rawValue) \(embedded.address))")
        }
        return .refused(reason: "\(address) is \(category.rawValue)")
    }

    private func isAllowListed(_ address: IPAddress) -> Bool {
        allowList.contains { $0.contains(address) }
    }
}

extension IPAddress {
    /// The category, judged through any IPv4 address the IPv6 form embeds.
    public var classification: (AddressCategory, embedded: (kind: IPv4Embedding, address: IPv4Address)?) {
        switch self {
        case .v4(let a):
            return (a.category, nil)
        case .v6(let a):
            if let embedded = a.embeddedIPv4 {
                return (embedded.address.category, embedded)
            }
            return (a.category, nil)
        }
    }
}

extension IPv4Address {
    /// Ranges that are not the public Internet (IANA special-purpose registry, trimmed to
    /// the ones a partner has no business pointing us at).
    public var category: AddressCategory {
        for (network, prefix, category) in Self.specialRanges
        where value & Self.mask(prefix) == network {
            return category
        }
        return .global
    }

    private static let specialRanges: [(UInt32, Int, AddressCategory)] = [
        (0xFFFF_FFFF, 32, .broadcast),
        (0x0000_0000, 8, .unspecified),  // "this network"; Linux connects 0.0.0.0 to localhost
        (0x7F00_0000, 8, .loopback),
        (0x0A00_0000, 8, .privateUse),
        (0xAC10_0000, 12, .privateUse),
        (0xC0A8_0000, 16, .privateUse),
        (0x6440_0000, 10, .sharedCGNAT),
        (0xA9FE_0000, 16, .linkLocal),
        (0xE000_0000, 4, .multicast),
        (0xF000_0000, 4, .reserved),
        (0xC000_0000, 24, .reserved),  // IETF protocol assignments
        (0xC612_0000, 15, .reserved),  // benchmarking
    ]

    static func mask(_ prefix: Int) -> UInt32 {
        prefix == 0 ? 0 : UInt32.max << (32 - prefix)
    }
}

extension IPv6Address {
    public var category: AddressCategory {
        if high == 0 && low == 0 { return .unspecified }
        if high == 0 && low == 1 { return .loopback }
        let top16 = high >> 48
        if top16 & 0xFFC0 == 0xFE80 { return .linkLocal }
        if top16 & 0xFFC0 == 0xFEC0 { return .reserved }  // deprecated site-local
        if top16 & 0xFE00 == 0xFC00 { return .uniqueLocal }
        if top16 & 0xFF00 == 0xFF00 { return .multicast }
        if high >> 16 == 0x0064_FF9B_0001 { return .reserved }  // local-use NAT64, 64:ff9b:1::/48
        if high >> 32 == 0x2001_0DB8 { return .reserved }  // documentation
        if high == 0x0100_0000_0000_0000 { return .reserved }  // discard-only 100::/64
        return .global
    }

    /// The IPv4 address this one reaches, for the transition forms that embed one.
    public var embeddedIPv4: (kind: IPv4Embedding, address: IPv4Address)? {
        let low32 = IPv4Address(UInt32(truncatingIfNeeded: low))
        if high == 0 && low >> 32 == 0xFFFF { return (.mapped, low32) }
        if high == 0 && low >> 32 == 0xFFFF_0000 { return (.translated, low32) }
        if high == 0 && low >> 32 == 0 && low > 1 { return (.compatible, low32) }
        if high == 0x0064_FF9B_0000_0000 && low >> 32 == 0 { return (.nat64, low32) }
        if high >> 48 == 0x2002 {
            return (.sixToFour, IPv4Address(UInt32(truncatingIfNeeded: high >> 16)))
        }
        if high >> 32 == 0x2001_0000 {
            // Teredo obfuscates the client address by inverting its bits.
            return (.teredo, IPv4Address(~UInt32(truncatingIfNeeded: low)))
        }
        return nil
    }
}

// MARK: - Address values

/// An IPv4 address as a host-order integer, so ranges are plain mask-and-compare.
public struct IPv4Address: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) {
        self.value = value
    }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Strict dotted quad, four decimal parts: the form configuration files use.
    public init?(dottedQuad text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(\.isAddressDigit),
                let byte = UInt32(part), byte <= 255
            else { return nil }
            value = value << 8 | byte
        }
        self.value = value
    }

    /// Every spelling inet_aton(3) accepts: one to four parts, each decimal, octal (leading
    /// 0) or hex (0x); the last part fills the remaining bytes. So 2130706433, 0x7f000001,
    /// 0177.0.0.1 and 127.1 are all 127.0.0.1. A URL host in one of these forms must be
    /// judged as the address it becomes, not refused or allowed as a name.
    public init?(inetAton text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var numbers: [UInt32] = []
        for part in parts {
            guard let n = Self.parseNumber(part) else { return nil }
            numbers.append(n)
        }
        var value: UInt32 = 0
        for (i, n) in numbers.dropLast().enumerated() {
            guard n <= 255 else { return nil }
            value |= n << (24 - 8 * i)
        }
        let lastBits = 32 - 8 * (numbers.count - 1)
        let last = numbers[numbers.count - 1]
        guard lastBits == 32 || last >> lastBits == 0 else { return nil }
        self.value = value | last
    }

    private static func parseNumber(_ part: Substring) -> UInt32? {
        var digits = part
        var radix: UInt32 = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            radix = 16
            digits = digits.dropFirst(2)
            if digits.isEmpty { return 0 }  // glibc reads a bare "0x" as zero
        } else if digits.hasPrefix("0") && digits.count > 1 {
            radix = 8
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var n: UInt64 = 0
        for c in digits {
            guard let d = c.hexDigitValue, UInt32(d) < radix else { return nil }
            n = n * UInt64(radix) + UInt64(d)
            guard n <= UInt64(UInt32.max) else { return nil }
        }
        return UInt32(n)
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }
}

/// An IPv6 address as two host-order halves, so prefixes are mask-and-compare.
public struct IPv6Address: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// 16 bytes in network order, as in `sockaddr_in6.sin6_addr`.
    public init<C: Collection<UInt8>>(bytes: C) {
        precondition(bytes.count == 16, "an IPv6 address is 16 bytes")
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 8 { high = high << 8 | UInt64(b) } else { low = low << 8 | UInt64(b) }
        }
        self.init(high: high, low: low)
    }

    /// RFC 4291 text: hex groups, one "::", an optional dotted-quad tail. A zone ("%eth0")
    /// is dropped: it picks an interface, not a different address.
    public init?(_ text: Substring) {
        var text = text
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        guard !text.isEmpty else { return nil }
        let halves = text.split(separator: "::", maxSplits: 1, omittingEmptySubsequences: false)
        guard halves.count <= 2, halves.allSatisfy({ !$0.contains("::") }) else { return nil }
        guard let head = Self.groups(halves[0]) else { return nil }
        var groups = head
        if halves.count == 2 {
            guard let tail = Self.groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            groups += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard groups.count == 8 else { return nil }
        self.init(
            high: groups[0..<4].reduce(0) { $0 << 16 | UInt64($1) },
            low: groups[4..<8].reduce(0) { $0 << 16 | UInt64($1) })
    }

    /// The groups of one side of "::"; a dotted quad may end the address.
    private static func groups(_ text: Substring) -> [UInt16]? {
        if text.isEmpty { return [] }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (i, part) in parts.enumerated() {
            if i == parts.count - 1, part.contains(".") {
                guard let v4 = IPv4Address(dottedQuad: part) else { return nil }
                groups += [UInt16(v4.value >> 16), UInt16(v4.value & 0xFFFF)]
            } else {
                guard (1...4).contains(part.count), let g = UInt16(part, radix: 16) else { return nil }
                groups.append(g)
            }
        }
        return groups
    }

    /// RFC 5952 canonical text; IPv4-mapped addresses keep their dotted tail (::ffff:1.2.3.4)
    /// so a refusal names the IPv4 address people recognise.
    public var description: String {
        if high == 0 && low >> 32 == 0xFFFF {
            return "::ffff:\(IPv4Address(UInt32(truncatingIfNeeded: low)))"
        }
        let groups = (0..<8).map { i -> UInt16 in
            let half = i < 4 ? high : low
            return UInt16(truncatingIfNeeded: half >> (48 - 16 * (i % 4)))
        }
        var best = (start: -1, length: 0)
        var run = (start: -1, length: 0)
        for (i, g) in groups.enumerated() {
            if g == 0 {
                run = run.start < 0 ? (i, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":")
        let tail = hex[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }
}

/// A destination address of either family.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// The address a URL's host names without DNS: "[v6]" or any inet_aton spelling. Nil for
    /// a DNS name (those are judged after resolution, at connect time).
    public init?(urlHost host: Substring) {
        if host.hasPrefix("["), host.hasSuffix("]") {
            guard let v6 = IPv6Address(host.dropFirst().dropLast()) else { return nil }
            self = .v6(v6)
        } else if host.contains(":") {
            guard let v6 = IPv6Address(host) else { return nil }
            self = .v6(v6)
        } else if let v4 = IPv4Address(inetAton: host) {
            self = .v4(v4)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .v4(let a): return a.description
        case .v6(let a): return a.description
        }
    }
}

// MARK: - CIDR

/// A network for the allow-list, e.g. "10.1.2.0/24", "fd00::/8", or one address.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    /// Host bits are cleared ("10.1.2.3/24" means 10.1.2.0/24), as ip(8) reads them.
    public init?(_ text: Substring) {
        let pieces = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let addressText = pieces[0]
        let address: IPAddress
        if let v4 = IPv4Address(dottedQuad: addressText) {
            address = .v4(v4)
        } else if let v6 = IPv6Address(addressText), !addressText.contains("%") {
            address = .v6(v6)
        } else {
            return nil
        }
        let maxLength = if case .v4 = address { 32 } else { 128 }
        var length = maxLength
        if pieces.count == 2 {
            guard (1...3).contains(pieces[1].count), pieces[1].allSatisfy(\.isAddressDigit),
                let n = Int(pieces[1]), n <= maxLength
            else { return nil }
            length = n
        }
        prefixLength = length
        network = Self.masked(address, length)
    }

    public init?(_ text: String) {
        self.init(text[...])
    }

    public func contains(_ address: IPAddress) -> Bool {
        switch (network, address) {
        case (.v4, .v4), (.v6, .v6): return Self.masked(address, prefixLength) == network
        default: return false
        }
    }

    private static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let a):
            return .v4(IPv4Address(a.value & IPv4Address.mask(length)))
        case .v6(let a):
            let highMask: UInt64 = length >= 64 ? .max : (length == 0 ? 0 : .max << (64 - length))
            let lowMask: UInt64 = length <= 64 ? 0 : (length == 128 ? .max : .max << (128 - length))
            return .v6(IPv6Address(high: a.high & highMask, low: a.low & lowMask))
        }
    }

    public var description: String { "\(network)/\(prefixLength)" }
}

extension Character {
    fileprivate var isAddressDigit: Bool { isASCII && isNumber }
}
