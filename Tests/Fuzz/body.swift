/// libFuzzer entry for the body target; the logic lives in FuzzEntries.body so that
/// `swift test` (FuzzCorpusTests) replays the corpus through the same code.
/// Built by Tests/Fuzz/run.sh, never by SwiftPM.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let violations = FuzzEntries.body(UnsafeBufferPointer(start: data, count: size))
    if !violations.isEmpty { fatalError("body invariant broken: " + violations.joined(separator: "; ")) }
    return 0
}
