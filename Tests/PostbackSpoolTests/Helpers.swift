import Foundation
import Glibc
import Testing
@testable import PostbackSpool

/// A fresh directory under /tmp for one test, removed when the test ends.
final class TempDir {
    let path: String

    init() {
        var template = Array("/tmp/spooltest.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: errno \(errno)")
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit {
        // Quarantine tests leave FIFOs and read-only modes behind; make everything removable.
        _ = chmodRecursively(path)
        try? FileManager.default.removeItem(atPath: path)
    }

    private func chmodRecursively(_ dir: String) -> Bool {
        chmod(dir, 0o700)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            var st = stat()
            let child = dir + "/" + name
            if lstat(child, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { _ = chmodRecursively(child) }
        }
        return true
    }

    func spool(_ configure: (inout SpoolConfiguration) -> Void = { _ in }) throws -> Spool {
        var configuration = SpoolConfiguration()
        configure(&configuration)
        return try Spool(root: path + "/spool", configuration: configuration)
    }
}

func names(in spool: Spool, _ queue: Spool.Queue) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: spool.path(of: queue))) ?? []).sorted()
}

func contents(_ path: String) -> [UInt8] {
    (FileManager.default.contents(atPath: path)).map(Array.init) ?? []
}

func text(_ path: String) -> String {
    String(decoding: contents(path), as: UTF8.self)
}

/// The lines of a JSON Lines file, each parsed; fails the test on a line that is not JSON.
func jsonLines(_ path: String) throws -> [[String: Any]] {
    try text(path).split(separator: "\n").map { line in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any])
    }
}

func record(_ transaction: String, partner: Int = 7, offer: Int = 3) -> String {
    "{\"kind\":\"conversion\",\"transaction_id\":\"\(transaction)\",\"partner_id\":\(partner),\"offer_id\":\(offer)}"
}

func attempt(status: Int = 200, url: String = "https://partner.example/pb?click=abc", answer: String = "OK") -> FireAttempt {
    FireAttempt(time: SpoolTime.unixMicros(), url: url, httpStatus: status, latencyMicros: 1234, answerPrefix: Array(answer.utf8))
}

extension ClaimOutcome {
    var activeFile: ActiveFile? {
        if case .active(let file) = self { return file }
        return nil
    }

    var quarantineReason: String? {
        if case .quarantined(_, let reason) = self { return reason }
        return nil
    }
}

/// Sets a file's modification time, to order files or age them for pruning.
func setMTime(_ path: String, secondsAgo: Int) {
    // Whole seconds from a whole-second "now": equal ages give equal times, for tie tests.
    let now = time(nil)
    var times = [timespec(tv_sec: now - secondsAgo, tv_nsec: 0), timespec(tv_sec: now - secondsAgo, tv_nsec: 0)]
    precondition(utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) == 0, "utimensat \(path): errno \(errno)")
}

/// Takes the earliest due deferred fire, failing the test when there is none.
func takeFirstDue(_ spool: Spool, now: Int64, sourceLocation: SourceLocation = #_sourceLocation) throws -> TakenFire {
    let ticket = try #require(try spool.due(now: now).first, sourceLocation: sourceLocation)
    return try #require(try spool.take(ticket), sourceLocation: sourceLocation)
}
