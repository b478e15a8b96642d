import Foundation
import Testing

/// The fuzz seed corpus (`Tests/Fuzz/corpus/<target>/`) as a regression suite: every file goes
/// through the same entry logic libFuzzer drives (`FuzzEntries`), so a crash once found and
/// kept as a seed stays fixed in plain `swift test`, with no fuzzer build needed.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    static func files(_ target: String) throws -> [URL] {
        let dir = corpus.appendingPathComponent(target)
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test(arguments: ["record", "catalog", "template", "address", "body"])
    func corpusReplays(target: String) throws {
        let files = try Self.files(target)
        // A moved or emptied corpus must fail here rather than pass with nothing replayed.
        #expect(files.count >= 5, "corpus for \(target) has \(files.count) files")
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: file))
            let violations = bytes.withUnsafeBufferPointer { buffer -> [String] in
                switch target {
                case "record": return FuzzEntries.record(buffer)
                case "catalog": return FuzzEntries.catalog(buffer)
                case "address": return FuzzEntries.address(buffer)
                case "body": return FuzzEntries.body(buffer)
                default: return FuzzEntries.template(buffer)
                }
            }
            #expect(violations.isEmpty, "\(target)/\(file.lastPathComponent): \(violations)")
        }
    }
}
