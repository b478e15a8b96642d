/// A Redis stream entry id, `<unix ms>-<sequence>`. Redis writes the time of the `XADD` into
/// the id it makes (`*`), so the age of an entry needs no field of its own: `postbackctl
/// spool` reads the oldest waiting, pending and dead-lettered entries' ages from their ids.
public enum RedisEntryID {
    /// The id's Unix milliseconds; nil for anything not `<digits>-<digits>` (or `<digits>`).
    public static func millis(_ id: String) -> Int64? {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }),
              let ms = Int64(parts[0]), ms >= 0, parts.count == 1 || UInt64(parts[1]) != nil
        else { return nil }
        return ms
    }

    /// Seconds from the entry's time to `now` (Unix ms), never negative (a clock behind
    /// Redis's must not show an age below zero); 0 for an id that is not an entry id.
    public static func ageSeconds(_ id: String, now: Int64) -> Double {
        guard let ms = millis(id) else { return 0 }
        return Double(max(0, now - ms)) / 1000
    }
}
