import Logging

/// The plain-text form of a log entry, for when there is no journal (a terminal, a container,
/// CI): `<level> <message> key=value ...`, one line per entry.
///
/// Keys are sorted so the same entry always prints the same way. A value that is empty or holds
/// a space, `"`, `=` or a control character is quoted with `\"`, `\\`, `\n`, `\r`, `\t` escaped,
/// and control characters in the message are escaped too, so a value can never forge another
/// key or split the entry over two lines (values come from partners' records).
public enum StderrLine {
    public static func format(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var line = level.rawValue
        line.reserveCapacity(256)
        line += " "
        line += escapedMessage(message)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line += " "
            line += key
            line += "="
            line += quoted(value.description)
        }
        line += "\n"
        return line
    }

    private static func escapedMessage(_ message: String) -> String {
        // Byte checks: every character tested for is ASCII, and no byte of a multi-byte UTF-8
        // sequence is below 0x80, so this finds the same ones as a scan of scalars, much faster.
        guard message.utf8.contains(where: isControlByte) else { return message }
        var result = ""
        for scalar in message.unicodeScalars { appendEscaped(scalar, to: &result) }
        return result
    }

    private static func quoted(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty
            || value.utf8.contains { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=") || isControlByte($0) }
        guard needsQuotes else { return value }
        var result = "\""
        for scalar in value.unicodeScalars {
            if scalar == "\"" || scalar == "\\" {
                result += "\\"
                result.unicodeScalars.append(scalar)
            } else {
                appendEscaped(scalar, to: &result)
            }
        }
        return result + "\""
    }

    private static func appendEscaped(_ scalar: Unicode.Scalar, to result: inout String) {
        switch scalar {
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case _ where isControl(scalar):
            result += "\\u{" + String(scalar.value, radix: 16) + "}"
        default: result.unicodeScalars.append(scalar)
        }
    }

    private static func isControlByte(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && isControlByte(UInt8(scalar.value))
    }
}
