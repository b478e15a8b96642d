/// Tidies the registry's Prometheus text for people: families sorted by name, each with the
/// `# HELP` line from ``MetricFamily``.
///
/// swift-prometheus emits families in dictionary order and, made through swift-metrics (which
/// has no help text), without `# HELP`; registering the help directly would clash with the
/// empty help swift-metrics passes (the registry refuses two help texts for one name). So the
/// help is added here, on the way out, from the one table of names.
public enum Exposition {
    public static func render(_ text: String, families: [MetricFamily] = MetricFamily.all) -> String {
        let help = Dictionary(families.map { ($0.name, $0.help) }, uniquingKeysWith: { first, _ in first })
        // Split into blocks, each starting at a `# TYPE name kind` line.
        var blocks: [(name: String, lines: [Substring])] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") {
                let name = line.dropFirst("# TYPE ".count).split(separator: " ").first.map(String.init) ?? ""
                blocks.append((name, []))
                if let text = help[name] { blocks[blocks.count - 1].lines.append(Substring("# HELP \(name) \(escapeHelp(text))")) }
            } else if line.hasPrefix("# HELP ") {
                continue  // Ours replace any the registry had.
            } else if blocks.isEmpty {
                blocks.append(("", []))
            }
            blocks[blocks.count - 1].lines.append(line)
        }
        // Sort the series inside a family too, so two scrapes diff cleanly.
        var out = ""
        for block in blocks.sorted(by: { $0.name < $1.name }) {
            let comments = block.lines.prefix { $0.hasPrefix("#") }
            let series = block.lines.dropFirst(comments.count)
            for line in comments { out += line; out += "\n" }
            for line in series.sorted(by: seriesOrder) { out += line; out += "\n" }
        }
        return out
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

    /// Prometheus help text escapes backslash and newline.
    static func escapeHelp(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
