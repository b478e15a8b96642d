import Logging

/// The plain-text form of a log entry, for when there is no journal (a terminal, a container,
/// CI): `<level> <message> key=value ...`, one line per entry.
///
/// Keys are sorted so the same entry always prints the same way. A value that is empty or holds
/// a space, `"`, `=` or a control character is quoted with `\"`, `\\`, `\n`, `\r`, `\t` escaped,
/// and control characters in the message are escaped too, so a value can never forge another
/// key or split the entry over two lines (values come from partners' records).
///
/// Encoded byte by byte: every character the rules test for is ASCII, and no byte of a multi-byte
/// UTF-8 sequence is below 0x80, so bytes at or above it are copied as they are. Every fire's
/// outcome is one such line, so this sits on the firing path.
public enum StderrLine {
    public static func format(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var bytes: [UInt8] = []
        append(level: level, message: message, metadata: metadata, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the line (with its newline) to `bytes`.
    public static func append(level: Logger.Level, message: String, metadata: Logger.Metadata, to bytes: inout [UInt8]) {
        append(level: level, message: message, orderedFields: metadata.orderedFields(), to: &bytes)
    }

    /// `append` with fields already in key order.
    public static func append(
        level: Logger.Level, message: String, orderedFields fields: [(key: String, value: String)],
        to bytes: inout [UInt8]
    ) {
        bytes.reserveCapacity(bytes.count + 256)
        bytes.append(contentsOf: level.rawValue.utf8)
        bytes.append(UInt8(ascii: " "))
        appendMessage(message, to: &bytes)
        for (key, value) in fields {
            bytes.append(UInt8(ascii: " "))
            bytes.append(contentsOf: key.utf8)
            bytes.append(UInt8(ascii: "="))
            appendValue(value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "\n"))
    }

    /// The usual message (no control byte) and the usual value (nothing to quote) are copied
    /// whole from the string's contiguous UTF-8: byte-by-byte appends were most of this
    /// line's cost, once per fire.
    private static func appendMessage(_ message: String, to bytes: inout [UInt8]) {
        var message = message
        message.withUTF8 { utf8 in
            guard utf8.contains(where: isControlByte) else {
                bytes.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                if isControlByte(byte) { appendEscaped(byte, to: &bytes) } else { bytes.append(byte) }
            }
        }
    }

    private static func appendValue(_ value: String, to bytes: inout [UInt8]) {
        var value = value
        value.withUTF8 { appendValue(utf8: $0, to: &bytes) }
    }

    private static func appendValue(utf8 value: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        let needsQuotes =
            value.isEmpty
            || value.contains { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=") || isControlByte($0) }
        guard needsQuotes else {
            bytes.append(contentsOf: value)
            return
        }
        bytes.append(UInt8(ascii: "\""))
        for byte in value {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            } else if isControlByte(byte) {
                appendEscaped(byte, to: &bytes)
            } else {
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `\n`, `\r`, `\t`, or `\u{hex}` for any other control byte.
    private static func appendEscaped(_ byte: UInt8, to bytes: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
        case UInt8(ascii: "\r"): bytes.append(contentsOf: #"\r"#.utf8)
        case UInt8(ascii: "\t"): bytes.append(contentsOf: #"\t"#.utf8)
        default:
            bytes.append(contentsOf: #"\u{"#.utf8)
            bytes.append(contentsOf: String(byte, radix: 16).utf8)
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private static func isControlByte(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F
    }
}
