/// Decides whether a claimed file is text the record parser should see at all, and why a
/// single line is not.
///
/// A file goes to `bad/` whole only when it is not text at all (DESIGN.md, Records): a NUL
/// byte in its first 4 KiB (a binary dropped in by mistake), or not one line of it valid
/// UTF-8 (a Latin-1 export from a misconfigured platform). Otherwise a line holding invalid
/// UTF-8 or a NUL is rejected alone, like any other bad line, and the rest of the file fires:
/// a file of conversions is money owed to partners.
enum TextCheck {
    /// How much of a file's start must be free of NUL bytes for it to be text.
    static let headBytes = 4096

    /// nil when the file is text; otherwise why it goes to `bad/` whole. Reads the file's
    /// start, then its lines only until one is valid UTF-8 (usually the first).
    static func notText(_ file: FileBytes, maxLineBytes: Int) throws(SpoolError) -> String? {
        let head = try file.bytes(0..<headBytes)
        if let nul = head.firstIndex(of: 0) { return "binary: NUL byte at offset \(nul)" }
        var firstProblem: String?
        var text = false
        try file.lines(maxLineBytes: maxLineBytes).forEach { line in
            guard let (at, problem) = utf8Problem(in: line.bytes) else {
                text = true
                return false
            }
            if firstProblem == nil { firstProblem = "\(problem) at offset \(line.range.lowerBound + at) (line \(line.number))" }
            return true
        }
        guard !text, let firstProblem else { return nil }  // text, or no line at all
        return "not UTF-8 text: no line is valid UTF-8; the first problem: \(firstProblem)"
    }

    /// nil when the bytes are valid UTF-8 (NUL included); otherwise where the first problem
    /// is and what it is.
    static func utf8Problem(in b: UnsafeBufferPointer<UInt8>) -> (offset: Int, String)? {
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 {
                i += 1
                continue
            }
            let length: Int
            var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; upper = 0x9F
            case 0xF0: length = 4; lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; upper = 0x8F
            default: return (i, "invalid byte 0x\(String(c, radix: 16))")
            }
            guard i + length <= n else { return (i, "truncated sequence") }
            for k in 1..<length {
                let cc = b[i + k]
                let (lo, hi) = k == 1 ? (lower, upper) : (UInt8(0x80), UInt8(0xBF))
                guard cc >= lo, cc <= hi else { return (i, "invalid sequence") }
            }
            i += length
        }
        return nil
    }
}
