import Testing
@testable import PostbackCore
@testable import PostbackSpool

/// The chunked reader must number and cut lines exactly as `RecordParser.parseLines` does on a
/// whole file, whatever the chunk size, so ledgers and byte ranges mean what they always meant.
@Suite struct LineReaderTests {
    static func read(_ bytes: [UInt8], maxLine: Int, chunk: Int) throws -> [(number: Int, range: Range<Int>, bytes: [UInt8], length: Int, tooLong: Bool)] {
        let reader = LineReader(maxLineBytes: maxLine, chunk: chunk) { (buffer, offset) throws(SpoolError) -> Int in
            let count = max(0, min(buffer.count, bytes.count - offset))
            for i in 0..<count { buffer[i] = bytes[offset + i] }
            return count
        }
        var lines: [(number: Int, range: Range<Int>, bytes: [UInt8], length: Int, tooLong: Bool)] = []
        try reader.forEach { line in
            lines.append((line.number, line.range, Array(line.bytes), line.length, line.tooLong))
            return true
        }
        return lines
    }

    /// What the whole-file parser sees: line numbers and each line's bytes and offsets.
    static func wholeFile(_ bytes: [UInt8]) -> [(number: Int, range: Range<Int>)] {
        var lines: [(number: Int, range: Range<Int>)] = []
        bytes.withUnsafeBufferPointer { data in
            RecordParser.parseLines(data) { number, raw, _ in
                let start = raw.baseAddress.map { data.baseAddress!.distance(to: $0) } ?? 0
                lines.append((number, start..<(start + raw.count)))
            }
        }
        return lines
    }

    @Test(arguments: [1, 2, 3, 7, 64, 4096])
    func sameLinesAsTheWholeFileParser(chunk: Int) throws {
        let texts = [
            "", "\n", "a", "a\n", "a\r\n", "a\r", "\u{FEFF}a\nb", "\u{FEFF}", "\n\n \t \r\n\nx\n",
            "{\"a\":1}\n\n{\"b\":2}\r\n   \n{\"c\":3}", "one\ntwo\nthree\n", String(repeating: "xy\n", count: 50),
        ]
        for text in texts {
            let bytes = Array(text.utf8)
            let got = try Self.read(bytes, maxLine: 1 << 20, chunk: chunk)
            let want = Self.wholeFile(bytes)
            #expect(got.map(\.number) == want.map(\.number), "\(text.debugDescription) chunk \(chunk)")
            #expect(got.map(\.range) == want.map(\.range), "\(text.debugDescription) chunk \(chunk)")
            #expect(got.allSatisfy { Array(bytes[$0.range]) == $0.bytes && $0.length == $0.bytes.count })
        }
    }

    /// A line over the limit comes alone, its first bytes only, its length whole; the lines
    /// around it are untouched, whichever chunk it falls across.
    @Test(arguments: [5, 16, 100, 4096])
    func aLongLineIsReadPastNotHeld(chunk: Int) throws {
        let long = String(repeating: "é", count: 3000)  // 6,000 bytes, two per character
        let bytes = Array("first\n\(long)\r\nlast\n\(long)".utf8)
        let lines = try Self.read(bytes, maxLine: 100, chunk: chunk)
        #expect(lines.map(\.number) == [1, 2, 3, 4])
        #expect(lines[0].bytes == Array("first".utf8) && lines[2].bytes == Array("last".utf8))
        for i in [1, 3] {
            #expect(lines[i].length == 6000, "line \(i + 1): \(lines[i].length)")
            #expect(lines[i].bytes.count == LineReader.heldPrefix, "cut between two-byte characters")
            #expect(lines[i].range == lines[i].range.lowerBound..<(lines[i].range.lowerBound + 1024))
            #expect(Array(bytes[lines[i].range]) == lines[i].bytes)
        }
        #expect(lines[1].range.lowerBound == 6 && lines[3].range.lowerBound == 6 + 6000 + 2 + 5)
        // Exactly at the limit is not too long, a CR before the LF not counted.
        let exact = try Self.read(Array((String(repeating: "a", count: 100) + "\r\n").utf8), maxLine: 100, chunk: chunk)
        #expect(exact.count == 1 && exact[0].length == 100 && exact[0].bytes.count == 100 && !exact[0].tooLong)
        // Over the limit but shorter than the kept prefix: whole, and still too long.
        let over = try Self.read(Array((String(repeating: "a", count: 101) + "\n").utf8), maxLine: 100, chunk: chunk)
        #expect(over.count == 1 && over[0].length == 101 && over[0].bytes.count == 101 && over[0].tooLong)
    }
}
