import Foundation
import Testing
@testable import PostbackSpool

@Suite struct ThroughputTests {
    /// Not a benchmark gate (CI machines vary), a smoke check that group commit keeps the
    /// ledger far from one fsync per fire: 100k outcomes must take well under the ~100 s one
    /// fsync each would cost. The rate is printed for the record.
    @Test func aHundredThousandOutcomesAreGroupCommitted() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let count = 100_000
        try spool.ingest(Array(String(repeating: record("t") + "\n", count: count).utf8), name: "big")
        let file = try #require(try spool.claimNext()?.activeFile)
        let sent = attempt()
        let start = SpoolTime.unixMicros()
        for line in 1...count { try file.succeeded(line: line, postbackID: 17, attempt: sent) }
        try file.finish()
        let seconds = Double(SpoolTime.unixMicros() - start) / 1e6
        print("ledger: \(count) outcomes in \(seconds) s = \(Int(Double(count) / seconds))/s")
        #expect(seconds < 30)
        #expect(spool.counters.snapshot.succeeded == count)
    }
}
