import Foundation
import Testing

extension SerializedAroundEnvironment {
/// systemd/check-unit.sh: the unit verifies cleanly and scores at most 1.2.
@Suite struct UnitFileTests {
    static let analyzerPresent = FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")
        || FileManager.default.isExecutableFile(atPath: "/bin/systemd-analyze")

    @Test(.enabled(if: analyzerPresent || runningInCI, "systemd-analyze not installed (package systemd)"))
    func unitVerifiesAndIsHardened() throws {
        let script = packageRoot.appendingPathComponent("systemd/check-unit.sh").path
        let result = try run(["bash", script])
        #expect(
            result.status == 0,
            "check-unit.sh failed (\(result.status)):\n\(result.standardOutput)\(result.standardError)")
        #expect(result.standardOutput.contains("verify clean"))
    }
}
}
