// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. DESIGN.md: a 429 or 503 with
// Retry-After waits at least that long, so the engine reports it as a delay for RetryPolicy.

enum RetryAfter {
    /// - Parameter now: seconds since the Unix epoch when the answer arrived.
    /// - Returns: the delay (zero for a date already past), or nil if unreadable.
    static func parse(_ value: Substring, now: Int64) -> Duration? {
        let value = value.trimmingSpaces
        guard !value.isEmpty else { return nil }
        if value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            // Longer than a year's worth of digits is nonsense; cap rather than overflow.
            guard value.count <= 12, let seconds = Int64(value) else { return .seconds(Int64(999_999_999_999)) }
            return .seconds(seconds)
        }
        guard let date = httpDate(value) else { return nil }
        return .seconds(max(0, date - now))
    }

    /// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 ("Sunday, 06-Nov-94 08:49:37
    /// GMT") and asctime ("Sun Nov  6 08:49:37 1994"), as RFC 9110 requires recipients accept.
    static func httpDate(_ text: Substring) -> Int64? {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" })
        var numbers: [Int64] = []
        var month: Int64?
        var clock: [Int64]?
        for token in tokens.dropFirst() {  // the weekday carries nothing
            if token.contains(":") {
                let parts = token.split(separator: ":").compactMap { Int64($0) }
                guard parts.count == 3 else { return nil }
                clock = parts
            } else if let n = Int64(token) {
                numbers.append(n)
            } else if let m = months.firstIndex(of: token.lowercased()) {
                month = Int64(m + 1)
            } else if token != "GMT" && token != "UTC" {
                return nil
            }
        }
        guard numbers.count == 2, let month, let clock else { return nil }
        let day = numbers[0]
        var year = numbers[1]
        if year < 100 { year += year < 70 ? 2000 : 1900 }  // RFC 850's two-digit years
        guard (1...31).contains(day), clock[0] < 24, clock[1] < 60, clock[2] < 61 else { return nil }
        return daysFromCivil(year: year, month: month, day: day) * 86_400
            + clock[0] * 3600 + clock[1] * 60 + clock[2]
    }

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm,
    /// https://howardhinnant.github.io/date_algorithms.html#days_from_civil).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        // "\r\n" is one Character, so test isNewline rather than "\r" and "\n" apart.
        while let c = s.first, c == " " || c == "\t" || c.isNewline { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c.isNewline { s = s.dropLast() }
        return s
    }
}
