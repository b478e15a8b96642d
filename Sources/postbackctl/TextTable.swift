import Foundation

/// Operator output shared by the spool commands: aligned columns, times and ages.
///
/// Columns are separated by two spaces and the last column is not padded, as `list` does, so
/// `awk`/`cut` work on the output and no line ends in spaces.
enum TextTable {
    static func lines(_ rows: [[String]]) -> [String] {
        guard let columns = rows.map(\.count).max(), columns > 0 else { return [] }
        let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            var line = ""
            for (c, cell) in row.enumerated() {
                line += c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count + 2)
            }
            return line
        }
    }

    static func print(_ rows: [[String]]) {
        for line in lines(rows) { Output.line(line) }
    }

    /// UTC, ISO 8601 with milliseconds: sortable, unambiguous across the hosts sharing a spool.
    static func time(millis: Int64) -> String {
        var t = time_t(millis / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let ms = Int(millis % 1000)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(msText)Z"
    }

    /// `-` when empty, else `45s`, `12m03s`, `3h02m`, `2d04h`: precise where it matters.
    static func age(seconds: Double, empty: Bool) -> String {
        if empty { return "-" }
        let s = Int(seconds.rounded(.down))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
        if s < 86_400 { return "\(s / 3600)h\(two(s % 3600 / 60))m" }
        return "\(s / 86_400)d\(two(s % 86_400 / 3600))h"
    }

    /// Microseconds as `850us`, `12.3ms` or `1.25s`.
    static func latency(micros: Int64) -> String {
        if micros < 1000 { return "\(micros)us" }
        if micros < 1_000_000 { return String(format: "%.1fms", Double(micros) / 1000) }
        return String(format: "%.2fs", Double(micros) / 1_000_000)
    }

    /// A JSON number that is whole when it can be (`12`, `0.5`), as the `--once` line prints.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.3f", value)
    }
}
