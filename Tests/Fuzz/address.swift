/// libFuzzer entry for the address target; the logic lives in FuzzEntries.address so that
/// `swift test` (FuzzCorpusTests) replays the corpus through the same code.
/// Built by Tests/Fuzz/run.sh, never by SwiftPM.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let violations = FuzzEntries.address(UnsafeBufferPointer(start: data, count: size))
    if !violations.isEmpty { fatalError("address invariant broken: " + violations.joined(separator: "; ")) }
    return 0
}
