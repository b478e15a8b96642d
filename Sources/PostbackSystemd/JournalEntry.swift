import CSystemd
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One log event as journal fields, sent with `sd_journal_sendv(3)`.
///
/// Logging sits on the firing path (every fire's outcome is logged), so an entry costs no heap
/// allocation of its own beyond its list of fields: all `KEY=value` fields are
/// copied into one temporary buffer (on the stack for ordinary sizes) and the iovecs point into
/// it; PRIORITY= points at static memory. sd_journal_sendv needs each `KEY=value` contiguous in
/// one iovec (it looks for the `=` there), hence the copy.
struct JournalEntry {
    var level: Logger.Level
    var message: String
    /// `SYSLOG_IDENTIFIER=<identifier>`, built once per handler.
    var identifierField: String
    /// Metadata keys (sanitized here, ``JournalFieldName``) and rendered values, in any order.
    var fields: [(key: String, value: String)]
    var error: (any Error)?
    var file: String
    var function: String
    var line: UInt

    /// 0, or a negative errno when journald could not be reached.
    func send() -> Int32 {
        let errorText = error.map { String(describing: $0) }
        let fieldCount = 6 + (errorText == nil ? 0 : 1) + fields.count
        var byteCount = 0
        for (key, value) in fields {
            byteCount += JournalFieldName.maximumBytes(for: key) + 1 + value.utf8.count
        }
        byteCount += "MESSAGE=".utf8.count + message.utf8.count
        byteCount += identifierField.utf8.count
        byteCount += "CODE_FILE=".utf8.count + file.utf8.count
        byteCount += "CODE_LINE=".utf8.count + 20  // digits of UInt64.max
        byteCount += "CODE_FUNC=".utf8.count + function.utf8.count
        byteCount += errorText.map { "ERROR=".utf8.count + $0.utf8.count } ?? 0

        return withUnsafeTemporaryAllocation(byteCount: byteCount, alignment: 1) { bytes in
            withUnsafeTemporaryAllocation(of: iovec.self, capacity: fieldCount) { vectors in
                var writer = FieldWriter(bytes: bytes.baseAddress!, vectors: vectors.baseAddress!)
                writer.add(JournalPriority.field(for: level))
                writer.add("MESSAGE=", message)
                writer.add(whole: identifierField)
                writer.add("CODE_FILE=", file)
                writer.add("CODE_LINE=", line)
                writer.add("CODE_FUNC=", function)
                if let errorText { writer.add("ERROR=", errorText) }
                for (key, value) in fields {
                    writer.add(key: key, value: value)
                }
                precondition(writer.used <= byteCount && writer.count == fieldCount)
                return sd_journal_sendv(vectors.baseAddress, Int32(writer.count))
            }
        }
    }
}

/// Appends `KEY=value` fields to a byte buffer and one iovec per field.
private struct FieldWriter {
    let bytes: UnsafeMutableRawPointer
    let vectors: UnsafeMutablePointer<iovec>
    private(set) var used = 0
    private(set) var count = 0

    init(bytes: UnsafeMutableRawPointer, vectors: UnsafeMutablePointer<iovec>) {
        self.bytes = bytes
        self.vectors = vectors
    }

    /// A whole field that already lives in static memory: no copy.
    mutating func add(_ field: StaticString) {
        vectors[count] = iovec(
            iov_base: UnsafeMutableRawPointer(mutating: field.utf8Start), iov_len: field.utf8CodeUnitCount)
        count += 1
    }

    /// A whole `KEY=value` field prepared earlier.
    mutating func add(whole field: String) {
        let start = used
        append(field)
        close(from: start)
    }

    mutating func add(_ name: StaticString, _ value: String) {
        let start = used
        append(name)
        append(value)
        close(from: start)
    }

    mutating func add(_ name: StaticString, _ value: UInt) {
        let start = used
        append(name)
        var digits = value
        let first = used
        repeat {
            bytes.storeBytes(of: UInt8(ascii: "0") + UInt8(digits % 10), toByteOffset: used, as: UInt8.self)
            used += 1
            digits /= 10
        } while digits > 0
        // Digits were written least significant first; put them in reading order.
        var low = first
        var high = used - 1
        while low < high {
            let swap = bytes.load(fromByteOffset: low, as: UInt8.self)
            bytes.storeBytes(of: bytes.load(fromByteOffset: high, as: UInt8.self), toByteOffset: low, as: UInt8.self)
            bytes.storeBytes(of: swap, toByteOffset: high, as: UInt8.self)
            low += 1
            high -= 1
        }
        close(from: start)
    }

    mutating func add(key: String, value: String) {
        let start = used
        used += JournalFieldName.write(key, into: bytes + used)
        bytes.storeBytes(of: UInt8(ascii: "="), toByteOffset: used, as: UInt8.self)
        used += 1
        append(value)
        close(from: start)
    }

    private mutating func append(_ text: StaticString) {
        (bytes + used).copyMemory(from: text.utf8Start, byteCount: text.utf8CodeUnitCount)
        used += text.utf8CodeUnitCount
    }

    private mutating func append(_ text: String) {
        var text = text  // withUTF8 is mutating; for native strings it neither copies nor allocates
        text.withUTF8 { utf8 in
            guard let source = utf8.baseAddress else { return }
            (bytes + used).copyMemory(from: source, byteCount: utf8.count)
            used += utf8.count
        }
    }

    private mutating func close(from start: Int) {
        vectors[count] = iovec(iov_base: bytes + start, iov_len: used - start)
        count += 1
    }
}
