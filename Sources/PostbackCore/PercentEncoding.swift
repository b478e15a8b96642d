/// RFC 3986 percent-encoding of macro values.
///
/// Only the unreserved characters (ALPHA / DIGIT / `-` `.` `_` `~`) pass; every other byte of
/// the value's UTF-8 becomes `%XX`. So no value (`&`, `#`, `=`, a space, `€`) can change the
/// shape of the URL it is placed in.
public enum PercentEncoding {
    /// `true` for the RFC 3986 unreserved bytes, indexed by byte value.
    static let unreserved: [Bool] = (0..<256).map { b in
        switch UInt8(b) {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Appends the encoded form of `value` to `out`.
    @inlinable
    public static func append(_ value: String, to out: inout [UInt8]) {
        var v = value
        v.withUTF8 { append(bytes: $0, to: &out) }
    }

    @usableFromInline
    static func append(bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        for b in bytes {
            if unreserved[Int(b)] {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
        }
    }

    /// The encoded form of `value` as a string.
    public static func encode(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        append(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
