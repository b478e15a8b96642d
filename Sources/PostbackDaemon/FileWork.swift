import PostbackSpool
import Synchronization

/// Claimed records (a spool file, or a batch from another source) while their fires are
/// out: finished when the last one has an outcome.
///
/// `outstanding` starts at one, the planner's own token, so the count cannot reach zero
/// while fires are still being submitted; whoever brings it to zero finishes the file.
final class FileWork: Sendable {
    let records: any ClaimedRecords
    private let outstanding = Atomic<Int>(1)
    /// Set when an outcome could not be written; the file is then released, not finished,
    /// so a later run fires what has no outcome instead of the file vanishing.
    let broken = Atomic<Bool>(false)
    /// Set when a drain stopped dispatching the file part-way: released, not finished, too,
    /// but nothing went wrong.
    let interrupted = Atomic<Bool>(false)

    init(_ records: any ClaimedRecords) {
        self.records = records
    }

    func add() {
        outstanding.add(1, ordering: .relaxed)
    }

    /// True when this was the last outstanding piece of work.
    func done() -> Bool {
        outstanding.subtract(1, ordering: .acquiringAndReleasing).newValue == 0
    }

    /// Every outcome is in and the records only wait to be finished: a periodic flush must
    /// not write a spool file's ledger (that would send a small file the long way, five
    /// syncs, not one).
    var isComplete: Bool { outstanding.load(ordering: .acquiring) == 0 }

    /// The bytes of a line, for deferred fires and dead letters (read again from the
    /// records, which are not held in memory).
    func bytes(_ range: Range<Int>) throws -> [UInt8] {
        try records.bytes(range)
    }
}
