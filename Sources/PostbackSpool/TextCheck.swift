/// Decides whether a claimed file's bytes are text the record parser should see at all.
///
/// A NUL byte or broken UTF-8 means the file is not a JSON Lines export (a binary dropped in
/// by mistake, a Latin-1 export from a misconfigured platform). Rejecting it line by line
/// would fill `bad/` with noise and fire whatever ASCII lines happen to parse, so the whole
/// file goes to quarantine for an operator to fix and re-ingest.
enum TextCheck {
    /// nil when the bytes are UTF-8 text without NUL; otherwise the reason, with the offset.
    static func problem(in bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { problem(in: $0) }
    }

    static func problem(in b: UnsafeBufferPointer<UInt8>) -> String? {
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 {
                if c == 0 { return "binary: NUL byte at offset \(i)" }
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
            default: return "not UTF-8 text: invalid byte 0x\(String(c, radix: 16)) at offset \(i)"
            }
            guard i + length <= n else { return "not UTF-8 text: truncated sequence at offset \(i)" }
            for k in 1..<length {
                let cc = b[i + k]
                let (lo, hi) = k == 1 ? (lower, upper) : (UInt8(0x80), UInt8(0xBF))
                guard cc >= lo, cc <= hi else { return "not UTF-8 text: invalid sequence at offset \(i)" }
            }
            i += length
        }
        return nil
    }

    /// The 1-based numbers of the lines the record parser turns into records or rejections:
    /// every line except blank ones, numbered the way `RecordParser.parseLines` numbers them.
    static func recordLines(in bytes: [UInt8]) -> [Int] {
        var result: [Int] = []
        var start = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { start = 3 }
        var number = 0
        while start < bytes.count {
            number += 1
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            let next = end + 1
            if end > start, bytes[end - 1] == 0x0D { end -= 1 }
            if !bytes[start..<end].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { result.append(number) }
            start = next
        }
        return result
    }
}
