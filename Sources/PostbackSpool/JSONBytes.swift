import PostbackCore

/// Appends JSON text to a byte buffer without Foundation and without intermediate strings:
/// the ledger writes one of these lines per fire, ~50k a second.
struct JSONBytes {
    var bytes: [UInt8]

    init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func int(_ value: Int64) {
        appendDecimal(value, to: &bytes)
    }

    mutating func int(_ value: Int) { int(Int64(value)) }

    /// A JSON string from Swift text, which is valid UTF-8 by construction.
    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(utf8: $0) }
    }

    /// A JSON string from bytes that may not be UTF-8 (a partner's answer): printable ASCII
    /// passes, every other byte becomes `\u00XX`, so the line stays valid JSON and readable.
    mutating func string(bytes source: some Collection<UInt8>, limit: Int) {
        bytes.append(UInt8(ascii: "\""))
        for byte in source.prefix(limit) { escape(byte, passHigh: false) }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Text with nothing to escape (a fire's URL, almost always) is copied whole: a ledger
    /// entry per fire made the byte-at-a-time loop show in the recorder's profile.
    private mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        if utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            for byte in utf8 { escape(byte, passHigh: true) }
        } else {
            bytes.append(contentsOf: utf8)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    @inline(__always)
    private mutating func escape(_ byte: UInt8, passHigh: Bool) {
        switch byte {
        case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
        case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
        case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
        case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
        case 0x20..<0x7F: bytes.append(byte)
        case 0x80...0xFF where passHigh: bytes.append(byte)
        default:
            let hex: StaticString = "0123456789abcdef"
            raw("\\u00")
            hex.withUTF8Buffer { h in
                bytes.append(h[Int(byte >> 4)])
                bytes.append(h[Int(byte & 0xF)])
            }
        }
    }
}
