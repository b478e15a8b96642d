/// The knobs an operator turns; defaults suit a daemon firing ~50k postbacks a second.
/// `Spool.update` replaces the ones a reload may change (sizes, retention).
public struct SpoolConfiguration: Sendable, Equatable {
    /// Files larger than this go to `bad/` unread: one runaway export must not keep the
    /// daemon busy for hours, nor fill `deferred/` and `failed/` from one file.
    public var maxFileBytes: Int = 64 << 20
    /// Lines longer than this are rejected alone and read past: a file is read a chunk at a
    /// time, and no line longer than this is ever held whole.
    public var maxLineBytes: Int = 1 << 20
    /// Group commit: a ledger is fsync'd once this many entries are waiting...
    public var ledgerBatchEntries: Int = 256
    /// ...or once the oldest waiting entry is this old, whichever comes first.
    public var ledgerBatchInterval: Duration = .milliseconds(5)
    /// Keep finished files (and their ledgers) in `done/` this long; nil removes them at once.
    public var doneRetention: Duration? = nil
    /// How much of a partner's answer the ledger keeps per attempt; history, not an archive.
    public var answerPrefixBytes: Int = 128
    /// How many past attempts a deferred fire carries with it (the budget is 10 by default).
    public var historyLimit: Int = 12
    /// Mode for directories the spool creates (the unit's umask may narrow it).
    public var directoryMode: UInt32 = 0o750

    public init() {}
}
