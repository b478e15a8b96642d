/// Puts the registry's Prometheus text in a stable order for people: families sorted by name,
/// series sorted inside each, histogram buckets by their bound.
///
/// swift-prometheus emits families in dictionary order, so two scrapes of the same numbers
/// could differ line by line. The text itself, `# HELP` included (``HelpTextFactory``), is the
/// registry's; only the order is ours.
public enum Exposition {
    public static func render(_ text: String) -> String {
        // Split into blocks, one per family: its `# HELP` and `# TYPE` lines, then its series.
        var blocks: [(name: String, lines: [Substring])] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let name = familyName(line), blocks.last?.name != name || !(blocks.last?.lines.last?.hasPrefix("#") ?? false) {
                blocks.append((name, []))
            } else if blocks.isEmpty {
                blocks.append(("", []))
            }
            blocks[blocks.count - 1].lines.append(line)
        }
        var out = ""
        for block in blocks.sorted(by: { $0.name < $1.name }) {
            let comments = block.lines.prefix { $0.hasPrefix("#") }
            let series = block.lines.dropFirst(comments.count)
            for line in comments { out += line; out += "\n" }
            for line in series.sorted(by: seriesOrder) { out += line; out += "\n" }
        }
        return out
    }

    /// The family a `# HELP name …` or `# TYPE name …` line opens; nil for a series.
    private static func familyName(_ line: Substring) -> String? {
        guard line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") else { return nil }
        return line.dropFirst("# HELP ".count).split(separator: " ").first.map(String.init) ?? ""
    }

    /// By series (name and labels), histogram buckets by their `le` bound: the registry writes
    /// them ascending with `+Inf` last, which plain text order would scramble.
    private static func seriesOrder(_ a: Substring, _ b: Substring) -> Bool {
        let (ka, kb) = (sortKey(a), sortKey(b))
        return ka.series != kb.series ? ka.series < kb.series : ka.le < kb.le
    }

    /// `name{labels} value` → the series without its value and `le` label, and the `le` bound.
    static func sortKey(_ line: Substring) -> (series: String, le: Double) {
        let series = line.lastIndex(of: " ").map { line[..<$0] } ?? line
        guard let start = series.firstRange(of: "le=\"") else { return (String(series), 0) }
        let bound = series[start.upperBound...].prefix { $0 != "\"" }
        let after = series.index(start.upperBound, offsetBy: bound.count + 1, limitedBy: series.endIndex) ?? series.endIndex
        return (String(series[..<start.lowerBound]) + series[after...], bound == "+Inf" ? .infinity : Double(bound) ?? .infinity)
    }
}
