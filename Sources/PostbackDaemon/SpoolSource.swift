import PostbackSpool

// The spool's side of the source seam (`RecordSource.swift`): a claimed file is claimed
// records, a taken deferred file is a due fire.

extension ActiveFile: ClaimedRecords {
    /// The ledger keeps them: a file released part-way resumes where it stopped.
    var releaseKeepsOutcomes: Bool { true }

    func hasOutcome(line: Int, postbackID: Int64) -> Bool {
        replay.hasOutcome(line: line, postbackID: postbackID)
    }

    func deferred(line: Int, postbackID: Int64, record: [UInt8], attempt: FireAttempt?, nextDue: Int64, error: String) throws {
        try deferred(line: line, postbackID: postbackID, record: record[...], attempt: attempt, nextDue: nextDue, error: error)
    }

    func failed(line: Int, postbackID: Int64, record: [UInt8], attempt: FireAttempt?, error: String) throws {
        try failed(line: line, postbackID: postbackID, record: record[...], attempt: attempt, error: error)
    }

    func rejected(line: Int, reason: String, raw: [UInt8]) throws {
        try rejected(line: line, reason: reason, raw: raw[...])
    }

    /// The removals of every file finished in the group, with one directory fsync.
    func syncFinishedGroup() throws {
        try spool.syncRemovals()
    }
}

extension TakenFire: DueFire {}
