import Foundation
import Glibc
import Testing
@testable import PostbackSpool

@Suite struct QuarantineTests {
    /// Claims the one file in incoming/ and expects it quarantined with a reason containing `words`.
    private func expectQuarantined(_ spool: Spool, _ name: String, reasonContains words: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outcome = try #require(try spool.claimNext(), sourceLocation: sourceLocation)
        let reason = try #require(outcome.quarantineReason, "expected quarantine", sourceLocation: sourceLocation)
        #expect(reason.contains(words), "\(reason)", sourceLocation: sourceLocation)
        #expect(names(in: spool, .bad) == [name, name + ".reason"], sourceLocation: sourceLocation)
        #expect(text(spool.path(of: .bad) + "/" + name + ".reason").hasPrefix(reason + "\n"), sourceLocation: sourceLocation)
        #expect(names(in: spool, .incoming).isEmpty && names(in: spool, .active).isEmpty, sourceLocation: sourceLocation)
    }

    @Test func tooLargeGoesToBadUnread() throws {
        let temp = TempDir()
        let spool = try temp.spool { $0.maxFileBytes = 100 }
        try spool.ingest([UInt8](repeating: UInt8(ascii: "x"), count: 101), name: "big")
        try expectQuarantined(spool, "big", reasonContains: "too large: 101 bytes, the limit is 100")
    }

    @Test func exactlyAtTheLimitIsAccepted() throws {
        let temp = TempDir()
        let spool = try temp.spool { $0.maxFileBytes = 100 }
        try spool.ingest([UInt8](repeating: UInt8(ascii: "x"), count: 100), name: "edge")
        #expect(try spool.claimNext()?.activeFile?.contents.count == 100)
    }

    @Test func aFIFOIsNeverOpened() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        #expect(mkfifo(spool.path(of: .incoming) + "/pipe", 0o644) == 0)
        // Opening a FIFO for reading without a writer would block this test forever.
        try expectQuarantined(spool, "pipe", reasonContains: "not a regular file (FIFO)")
    }

    @Test func aSymlinkIsNotFollowed() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let before = contents("/etc/passwd")
        #expect(symlink("/etc/passwd", spool.path(of: .incoming) + "/link") == 0)
        try expectQuarantined(spool, "link", reasonContains: "symlink")
        // The link itself moved; its target is untouched and was never read into the spool.
        var st = stat()
        #expect(lstat(spool.path(of: .bad) + "/link", &st) == 0 && st.st_mode & S_IFMT == S_IFLNK)
        #expect(contents("/etc/passwd") == before)
    }

    @Test func aDirectoryIsQuarantined() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        #expect(mkdir(spool.path(of: .incoming) + "/dir", 0o755) == 0)
        try expectQuarantined(spool, "dir", reasonContains: "directory")
    }

    @Test func nulBytesMeanBinary() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest(Array((record("a") + "\n").utf8) + [0, 1, 2], name: "bin")
        try expectQuarantined(spool, "bin", reasonContains: "binary: NUL byte at offset")
    }

    @Test(arguments: [
        ([0xC3, 0x28], "invalid sequence at offset 7"),  // bad continuation
        ([0xE9, 0x74, 0xE9], "invalid sequence at offset 7"),  // Latin-1 "été"
        ([0xFF], "invalid byte 0xff"),
        ([0xED, 0xA0, 0x80], "invalid sequence"),  // a UTF-16 surrogate
        ([0xF0, 0x9F, 0x98], "truncated sequence"),
    ] as [([UInt8], String)])
    func invalidUTF8IsNotText(bytes: [UInt8], reason: String) throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest(Array("{\"a\":\"x".utf8) + bytes, name: "latin1")
        try expectQuarantined(spool, "latin1", reasonContains: reason)
    }

    @Test func validMultibyteUTF8IsText() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest(Array("{\"currency\":\"€ ₹ 😀 ü\"}\n".utf8), name: "utf8")
        #expect(try spool.claimNext()?.activeFile != nil)
    }

    @Test func anEmptyFileFinishesWithNoRecords() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest([], name: "empty")
        let file = try #require(try spool.claimNext()?.activeFile)
        #expect(file.contents.isEmpty)
        #expect(file.linesWithoutOutcome().isEmpty)
        try file.finish()
        for queue in Spool.Queue.allCases { #expect(names(in: spool, queue).isEmpty, "\(queue)") }
        #expect(spool.counters.snapshot == SpoolTally())
    }

    @Test func quarantineNeverOverwritesAnEarlierBadFile() throws {
        let temp = TempDir()
        let spool = try temp.spool { $0.maxFileBytes = 1 }
        try spool.ingest([1, 2], name: "same")
        _ = try spool.claimNext()
        try spool.ingest([3, 4], name: "same")
        let second = try #require(try spool.claimNext())
        guard case .quarantined(let name, _) = second else { Issue.record("not quarantined"); return }
        #expect(name != "same" && name.hasPrefix("same."))
        #expect(contents(spool.path(of: .bad) + "/same") == [1, 2])
        #expect(contents(spool.path(of: .bad) + "/" + name) == [3, 4])
    }

    @Test func aNameAlreadyActiveIsQuarantinedNotBlocking() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest([], name: "dup")
        let held = try spool.claimNext()?.activeFile
        #expect(held != nil)
        try spool.ingest([1], name: "dup")
        let outcome = try #require(try spool.claimNext())
        #expect(outcome.quarantineReason?.contains("name collision") == true)
        #expect(names(in: spool, .active) == ["dup"])
        #expect(names(in: spool, .incoming).isEmpty)
    }

    @Test func reservedNamesAreQuarantined() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        _ = FileManager.default.createFile(atPath: spool.path(of: .incoming) + "/x.ledger", contents: Data())
        try expectQuarantined(spool, "x.ledger", reasonContains: "reserved name")
    }

    @Test func rejectedLinesKeepTheirRawBytesExactly() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        try spool.ingest(Array("not json\n{\"kind\":\"click\"}\n".utf8), name: "mixed")
        let file = try #require(try spool.claimNext()?.activeFile)
        try file.rejected(line: 1, reason: "not a JSON object", raw: Array("not json \"quoted\" \\".utf8))
        let binary: [UInt8] = [0x7B, 0xFF, 0xFE, 0x00, 0x7D]
        try file.rejected(line: 2, reason: "not valid UTF-8 text", raw: binary)
        try file.flush()
        let lines = try jsonLines(spool.path(of: .bad) + "/mixed.rejected")
        #expect(lines.count == 2)
        #expect(lines[0]["line"] as? Int == 1)
        #expect(lines[0]["reason"] as? String == "not a JSON object")
        #expect(lines[0]["raw"] as? String == "not json \"quoted\" \\")
        #expect(lines[1]["raw"] == nil)
        let encoded = try #require(lines[1]["raw_base64"] as? String)
        #expect(Data(base64Encoded: encoded).map(Array.init) == binary)
        try file.finish()
        #expect(spool.counters.snapshot.rejected == 2)
        // The rejected file stays in bad/ after the source file is finished.
        #expect(names(in: spool, .bad) == ["mixed.rejected"])
    }
}
