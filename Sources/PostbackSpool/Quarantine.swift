import Glibc

extension Spool {
    /// Moves a whole file to `bad/` and writes `bad/NAME.reason` beside it.
    ///
    /// The move comes first: once in `bad/` the file is out of every daemon's way, and the
    /// rename is what decides a race between two daemons (the loser sees ENOENT, returns nil).
    /// A crash between the move and the reason leaves the file in `bad/` without a reason,
    /// never a reason without its file. If `bad/NAME` is taken, a unique suffix is added:
    /// quarantine never overwrites.
    func quarantineUnopened(_ name: String, from source: System.Dir? = nil, reason: String) throws(SpoolError) -> ClaimOutcome? {
        let source = source ?? incoming
        var target = name
        var taken = try System.statAtIfPresent(bad, target) != nil
        if !taken { taken = try System.statAtIfPresent(bad, target + ".reason") != nil }
        if taken {
            target = name + "." + UniqueName.make()
        }
        guard try System.rename(source, name, bad, target) else { return nil }
        try System.fsync(bad)
        try System.fsync(source)
        let text = Array("\(reason)\nfrom: \(source.join(name))\nat: \(SpoolTime.unixMillis() / 1000) (Unix seconds)\n".utf8)
        try writeDurably(text, named: target + ".reason", into: bad)
        return .quarantined(name: target, reason: reason)
    }
}
