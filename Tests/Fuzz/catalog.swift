/// libFuzzer entry for the catalog target; the logic lives in FuzzEntries.catalog so that
/// `swift test` (FuzzCorpusTests) replays the corpus through the same code.
/// Built by Tests/Fuzz/run.sh, never by SwiftPM.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let violations = FuzzEntries.catalog(UnsafeBufferPointer(start: data, count: size))
    if !violations.isEmpty { fatalError("catalog invariant broken: " + violations.joined(separator: "; ")) }
    return 0
}
