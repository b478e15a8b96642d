/// A set of line numbers as a bitmap: line numbers are dense (1...N), so a file of five
/// million records costs 625 KB to account for, where a `Set<Int>` cost over 100 MB.
struct LineSet: Sendable, Equatable {
    private var words: [UInt64] = []

    init() {}

    init(_ lines: some Sequence<Int>) {
        for line in lines { insert(line) }
    }

    func contains(_ line: Int) -> Bool {
        let (word, bit) = line.quotientAndRemainder(dividingBy: 64)
        return line >= 0 && word < words.count && words[word] & (1 << UInt64(bit)) != 0
    }

    /// True when `line` was not in the set.
    @discardableResult
    mutating func insert(_ line: Int) -> Bool {
        precondition(line >= 0, "line numbers are positive")
        let (word, bit) = line.quotientAndRemainder(dividingBy: 64)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: max(word + 1, words.count * 2) - words.count)) }
        let mask: UInt64 = 1 << UInt64(bit)
        defer { words[word] |= mask }
        return words[word] & mask == 0
    }
}
