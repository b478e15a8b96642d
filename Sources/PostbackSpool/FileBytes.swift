/// Where a claimed spool file's bytes are read from: held in memory when the file is small
/// (one read at claim, as most files of a healthy day are), else read when needed from a
/// descriptor of its own, so the file is never held whole however large it is.
///
/// The descriptor is not the claim's: that one is closed on finish or release to let go of
/// the `flock`, while a fire still out at a drain may read its record later. Its owner
/// (`ActiveFile`, or the claim that quarantined the file) closes it.
struct FileBytes: Sendable {
    let held: [UInt8]?
    let fd: Int32
    let path: String

    /// Reads at `offset` into `buffer`: the count, 0 at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(SpoolError) -> Int {
        guard let held else { return try System.pread(fd, into: buffer, at: offset, path: path) }
        let count = max(0, min(buffer.count, held.count - offset))
        if count > 0 { held.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) } }
        return count
    }

    /// The bytes of `range` (a line kept with a deferred fire or a rejection); shorter if
    /// the file is.
    func bytes(_ range: Range<Int>) throws(SpoolError) -> [UInt8] {
        if let held { return Array(held[min(range.lowerBound, held.count)..<min(range.upperBound, held.count)]) }
        var bytes = [UInt8](repeating: 0, count: range.count)
        var count = 0
        while count < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { raw in
                Result { () throws(SpoolError) in
                    try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[count...]), at: range.lowerBound + count)
                }
            }.get()
            if n == 0 { break }
            count += n
        }
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    /// The whole file, read now (for tests and tools).
    func all() throws(SpoolError) -> [UInt8] {
        if let held { return held }
        var bytes: [UInt8] = []
        while true {
            let more = try self.bytes(bytes.count..<(bytes.count + LineReader.chunkBytes))
            bytes += more
            if more.count < LineReader.chunkBytes { return bytes }
        }
    }

    func lines(maxLineBytes: Int) -> LineReader {
        LineReader(maxLineBytes: maxLineBytes, knownSize: held?.count) { (buffer, offset) throws(SpoolError) -> Int in try read(into: buffer, at: offset) }
    }
}

/// Records held in memory (a stream entry's field, from a source other than a spool file),
/// read with the spool's own line rules (`LineReader`): line numbers, CR before LF, blank
/// lines, a byte-order mark, and the kept prefix of a line past `maxLineBytes`.
public struct HeldLines: Sendable {
    private let source: FileBytes

    public init(_ bytes: [UInt8]) {
        source = FileBytes(held: bytes, fd: -1, path: "")
    }

    /// Calls `body` with each non-blank line in order until it returns false.
    public func forEach(maxLineBytes: Int, _ body: (SpoolLine) -> Bool) {
        // Held bytes are copied, never read from a descriptor: nothing here can fail.
        try! source.lines(maxLineBytes: maxLineBytes).forEach(body)
    }

    /// The bytes of `range` (a line's, as `forEach` handed it over).
    public func bytes(_ range: Range<Int>) -> [UInt8] {
        (try? source.bytes(range)) ?? []
    }
}
