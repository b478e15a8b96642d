#if canImport(Glibc)
import Glibc
#endif

/// How swift-log metadata keys become journal field names.
///
/// journald keeps a field only if its name is 1–64 characters of `A-Z`, `0-9` and `_`, not
/// starting with a digit, and drops names starting with `_` (those are the trusted fields it
/// sets itself), silently. So `postback_id` becomes `POSTBACK_ID`, operators can run
/// `journalctl POSTBACK_ID=17`, and no key a library picks can lose its value.
///
/// Rules, in order: ASCII letters are upper-cased, digits and `_` kept, anything else becomes
/// `_`; leading underscores are dropped; a name that is then empty, starts with a digit, or
/// equals a field the handler writes itself (`MESSAGE`, `PRIORITY`, ...) gets an `X_` prefix,
/// so it can neither vanish nor shadow them; the result is cut at 64 bytes.
public enum JournalFieldName {
    /// journald's limit on a field name (systemd 252, journal_field_valid).
    static let maximumLength = 64

    /// Fields the handler sets on every entry; metadata must not add second values to them.
    static let reserved: [StaticString] = [
        "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "ERROR",
    ]

    /// The field name a metadata key is written under.
    public static func sanitize(_ key: String) -> String {
        withUnsafeTemporaryAllocation(byteCount: maximumBytes(for: key), alignment: 1) { buffer in
            let count = write(key, into: buffer.baseAddress!)
            return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[..<count]), as: UTF8.self)
        }
    }

    /// Room ``write(_:into:)`` may need for `key`.
    static func maximumBytes(for key: String) -> Int {
        min(key.utf8.count, maximumLength) + 2
    }

    /// Writes the sanitized name of `key` at `destination` (which has ``maximumBytes(for:)``
    /// bytes) and returns its length. Works in place so logging allocates nothing per key.
    static func write(_ key: String, into destination: UnsafeMutableRawPointer) -> Int {
        let prefix = 2  // room for "X_"; closed up below when no prefix is needed
        var count = 0
        for scalar in key.unicodeScalars where count < maximumLength {
            let byte: UInt8
            switch scalar.value {
            case 0x61...0x7A: byte = UInt8(scalar.value) - 0x20
            case 0x41...0x5A, 0x30...0x39: byte = UInt8(scalar.value)
            default: byte = UInt8(ascii: "_")
            }
            if count == 0 && byte == UInt8(ascii: "_") { continue }
            destination.storeBytes(of: byte, toByteOffset: prefix + count, as: UInt8.self)
            count += 1
        }
        let name = UnsafeRawBufferPointer(start: destination + prefix, count: count)
        if count == 0 || isDigit(name[0]) || isReserved(name) {
            destination.storeBytes(of: UInt8(ascii: "X"), as: UInt8.self)
            destination.storeBytes(of: UInt8(ascii: "_"), toByteOffset: 1, as: UInt8.self)
            return min(prefix + count, maximumLength)
        }
        memmove(destination, destination + prefix, count)
        return count
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isReserved(_ name: UnsafeRawBufferPointer) -> Bool {
        reserved.contains { field in
            field.utf8CodeUnitCount == name.count
                && memcmp(field.utf8Start, name.baseAddress!, name.count) == 0
        }
    }
}
