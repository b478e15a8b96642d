import Glibc

/// One line of a spool file, as `LineReader` hands it over.
public struct SpoolLine {
    /// 1-based, counting every line (blank ones too), as `RecordParser.parseLines` numbers them.
    public var number: Int
    /// Where `bytes` are in the file: the whole line without its ending, or for a line
    /// longer than the limit only its first bytes.
    public var range: Range<Int>
    /// The line's bytes, valid only during the call.
    public var bytes: UnsafeBufferPointer<UInt8>
    /// The whole line's length without its ending.
    public var length: Int
    /// Longer than the limit: `bytes` is at most its first `LineReader.heldPrefix` bytes (cut
    /// before a UTF-8 sequence), enough for the quarantine to show what it was.
    public var tooLong: Bool

    /// For sources other than a spool file, which hand their records over as lines too.
    public init(number: Int, range: Range<Int>, bytes: UnsafeBufferPointer<UInt8>, length: Int, tooLong: Bool) {
        self.number = number
        self.range = range
        self.bytes = bytes
        self.length = length
        self.tooLong = tooLong
    }
}

/// Reads a spool file's lines a chunk at a time, so memory stays bounded by the longest
/// line allowed, not by the file: a 1 GB file costs one buffer, and a line longer than
/// `maxLineBytes` is read past, only its first bytes kept.
///
/// The rules are `RecordParser.parseLines`': lines end at LF (a CR before it is dropped), a
/// UTF-8 byte-order mark at the start of the file is skipped, and lines of only spaces and
/// tabs are counted but not handed over. Byte offsets are the file's, so the ranges a ledger,
/// a deferred fire or a rejected line refer to are the same as when files were read whole.
struct LineReader {
    /// Bytes asked of the kernel at a time.
    static let chunkBytes = 256 << 10
    /// What is kept of a line longer than the limit.
    static let heldPrefix = 1024

    /// Fills the buffer at a file offset, returning the count read (0 at end of file).
    typealias Read = (_ into: UnsafeMutableRawBufferPointer, _ fileOffset: Int) throws(SpoolError) -> Int

    let maxLineBytes: Int
    /// `chunkBytes`, smaller in tests so lines cross chunk boundaries.
    var chunk = LineReader.chunkBytes
    let read: Read

    /// The file's size when known (a file held in memory): the first buffer is no larger.
    let knownSize: Int?

    init(maxLineBytes: Int, chunk: Int = LineReader.chunkBytes, knownSize: Int? = nil, read: @escaping Read) {
        (self.maxLineBytes, self.chunk, self.knownSize, self.read) = (maxLineBytes, chunk, knownSize, read)
    }

    /// 3 when the file starts with a UTF-8 byte-order mark (not part of its first line), else 0.
    private static func byteOrderMarkLength(_ read: Read) throws(SpoolError) -> Int {
        var start: [UInt8] = [0, 0, 0]
        var count = 0
        while count < 3 {
            let n = try start.withUnsafeMutableBytes { raw in
                Result { () throws(SpoolError) in try read(UnsafeMutableRawBufferPointer(rebasing: raw[count...]), count) }
            }.get()
            if n == 0 { break }
            count += n
        }
        return count == 3 && start == [0xEF, 0xBB, 0xBF] ? 3 : 0
    }

    /// Calls `body` for each non-blank line, in order, until it returns false.
    func forEach(_ body: (SpoolLine) -> Bool) throws(SpoolError) {
        // Sized to the file when it is known to be smaller than a chunk: a 256 KiB buffer
        // zeroed (and page-faulted in) for a one-record file cost more than the rest of
        // reading it, and most files of a low-latency ingest hold one record or a few.
        // (+ 1: room for the read that finds the end.)
        var buffer = [UInt8](repeating: 0, count: min(chunk, maxLineBytes + 2, (knownSize ?? .max - 1) + 1))
        // A partial line past this is too long whatever its ending (a CR may come before the
        // LF); by then at least `heldPrefix` bytes of it are held, to keep.
        let skipAt = max(maxLineBytes + 1, Self.heldPrefix)
        let bufferLimit = skipAt + 1 + chunk
        var base = try Self.byteOrderMarkLength(read)  // file offset of buffer[0]
        var filled = 0        // valid bytes in buffer
        var lineStart = 0     // buffer index where the current line starts
        var scanned = 0       // buffer index up to which no LF was found
        var number = 0
        var atEnd = false
        // A line longer than the limit being read past: its number, start, and kept prefix.
        var skipping: (number: Int, start: Int, prefix: [UInt8])?
        var lastDiscarded: UInt8 = 0  // the byte just before buffer[0] while skipping

        func emit(_ bytes: UnsafeBufferPointer<UInt8>, number: Int, start: Int, length: Int) -> Bool {
            body(SpoolLine(number: number, range: start..<(start + bytes.count), bytes: bytes, length: length,
                           tooLong: length > maxLineBytes))
        }
        func prefix(_ line: UnsafeBufferPointer<UInt8>) -> [UInt8] {
            var cut = min(Self.heldPrefix, line.count)
            if cut < line.count {
                // Do not split a UTF-8 sequence: back off over continuation bytes.
                var steps = 0
                while cut > 0, steps < 3, line[cut] & 0xC0 == 0x80 { cut -= 1; steps += 1 }
            }
            return Array(line[0..<cut])
        }

        while true {
            let newline: Int? = buffer.withUnsafeBufferPointer { b in
                guard scanned < filled, let start = b.baseAddress,
                      let found = memchr(start + scanned, 0x0A, filled - scanned) else { return nil }
                return start.distance(to: found.assumingMemoryBound(to: UInt8.self))
            }
            if newline != nil || atEnd {
                let end = newline ?? filled
                let more: Bool = buffer.withUnsafeBufferPointer { b in
                    if let skip = skipping {
                        let cr = end > 0 ? b[end - 1] == 0x0D : lastDiscarded == 0x0D
                        let length = base + end - (cr ? 1 : 0) - skip.start
                        return skip.prefix.withUnsafeBufferPointer { p in emit(p, number: skip.number, start: skip.start, length: length) }
                    }
                    if newline == nil && lineStart >= filled { return true }  // no last line
                    number += 1
                    var stop = end
                    if stop > lineStart, b[stop - 1] == 0x0D { stop -= 1 }
                    let line = UnsafeBufferPointer(rebasing: b[lineStart..<stop])
                    if line.count > maxLineBytes {
                        return prefix(line).withUnsafeBufferPointer { p in
                            emit(p, number: number, start: base + lineStart, length: line.count)
                        }
                    }
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return true }
                    return emit(line, number: number, start: base + lineStart, length: line.count)
                }
                skipping = nil
                if !more || newline == nil { return }
                lineStart = end + 1
                scanned = lineStart
                continue
            }
            // No LF in what is held: make room, then read more.
            if skipping != nil {
                lastDiscarded = filled > 0 ? buffer[filled - 1] : lastDiscarded
                base += filled
                (filled, lineStart) = (0, 0)
            } else if filled - lineStart > skipAt {
                // Too long whatever its ending: keep its first bytes, drop the rest as it passes.
                number += 1
                let kept = buffer.withUnsafeBufferPointer { prefix(UnsafeBufferPointer(rebasing: $0[lineStart..<filled])) }
                skipping = (number, base + lineStart, kept)
                lastDiscarded = buffer[filled - 1]
                base += filled
                (filled, lineStart) = (0, 0)
            } else if lineStart > 0 {
                buffer.withUnsafeMutableBufferPointer { b in
                    let count = filled - lineStart
                    if count > 0 { b.baseAddress!.update(from: b.baseAddress! + lineStart, count: count) }
                }
                base += lineStart
                filled -= lineStart
                lineStart = 0
            }
            if filled == buffer.count {
                // Grown by copying what is held into a new buffer (`append(contentsOf:)` of a
                // repeated zero went element by element: seconds per 10 MB in a debug build).
                var grown = [UInt8](repeating: 0, count: min(bufferLimit, buffer.count * 2))
                grown.withUnsafeMutableBufferPointer { g in
                    buffer.withUnsafeBufferPointer { g.baseAddress!.update(from: $0.baseAddress!, count: filled) }
                }
                buffer = grown
            }
            scanned = filled
            let n = try buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SpoolError) in try read(UnsafeMutableRawBufferPointer(rebasing: raw[filled...]), base + filled) }
            }.get()
            if n == 0 { atEnd = true }
            filled += n
        }
    }
}
