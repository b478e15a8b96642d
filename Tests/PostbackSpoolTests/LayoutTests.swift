import Foundation
import Glibc
import Testing
@testable import PostbackSpool

@Suite struct LayoutTests {
    @Test func createsEveryQueueUnderANewRoot() throws {
        let temp = TempDir()
        let spool = try Spool(root: temp.path + "/a/b/spool/")
        #expect(spool.root == temp.path + "/a/b/spool")
        for queue in Spool.Queue.allCases {
            var st = stat()
            #expect(lstat(spool.path(of: queue), &st) == 0 && st.st_mode & S_IFMT == S_IFDIR, "\(queue)")
        }
        // Opening again over an existing layout is fine.
        _ = try Spool(root: spool.root)
    }

    @Test func aFileWhereAQueueShouldBeIsNamedInTheError() throws {
        let temp = TempDir()
        let root = temp.path + "/spool"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/active", contents: Data("oops".utf8))
        let error = try #require(throws: SpoolError.self) { try Spool(root: root) }
        #expect(error.code == .notADirectory)
        #expect(error.path == root + "/active")
        #expect(error.description.contains(root + "/active"))
    }

    @Test func aSymlinkWhereAQueueShouldBeIsRefused() throws {
        let temp = TempDir()
        let root = temp.path + "/spool"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        symlink("/tmp", root + "/incoming")
        let error = try #require(throws: SpoolError.self) { try Spool(root: root) }
        #expect(error.code == .notADirectory)
        #expect(error.description.contains("symlink"))
    }

    @Test(.enabled(if: geteuid() != 0, "as root, permission bits do not stop writes; see the read-only mount test"))
    func anUnwritableQueueIsNamedWithTheErrnoText() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        chmod(spool.path(of: .deferred), 0o500)
        let error = try #require(throws: SpoolError.self) { try Spool(root: spool.root) }
        #expect(error.code == .notWritable)
        #expect(error.description.contains(spool.path(of: .deferred)))
        #expect(error.description.contains("Permission denied"))
    }

    /// A read-only filesystem stops even root: bind-mount the spool read-only over itself.
    @Test func aReadOnlyFilesystemIsNamedWithTheErrnoText() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let root = spool.root
        guard mount(root, root, nil, UInt(MS_BIND), nil) == 0 else {
            print("skipped: cannot bind-mount here (errno \(errno)); needs CAP_SYS_ADMIN")
            return
        }
        defer { umount2(root, 0) }
        guard mount(nil, root, nil, UInt(MS_REMOUNT | MS_BIND | MS_RDONLY), nil) == 0 else {
            print("skipped: cannot remount read-only here (errno \(errno))")
            return
        }
        let error = try #require(throws: SpoolError.self) { try Spool(root: root) }
        #expect(error.code == .notWritable)
        #expect(error.errno == EROFS)
        #expect(error.description.contains(root + "/tmp"))
        #expect(error.description.contains("Read-only file system"))
    }

    @Test func ingestWritesThroughTmpAndNeverOverwrites() throws {
        let temp = TempDir()
        let spool = try temp.spool()
        let name = try spool.ingest(Array("hello\n".utf8))
        #expect(names(in: spool, .incoming) == [name])
        #expect(names(in: spool, .tmp).isEmpty)
        #expect(text(spool.path(of: .incoming) + "/" + name) == "hello\n")
        try spool.ingest([], name: "fixed")
        let error = try #require(throws: SpoolError.self) { try spool.ingest([1], name: "fixed") }
        #expect(error.code == .nameCollision)
        #expect(names(in: spool, .tmp).isEmpty)
        #expect(throws: SpoolError.self) { try spool.ingest([], name: "x.ledger") }
        #expect(throws: SpoolError.self) { try spool.ingest([], name: "a/b") }
    }
}
