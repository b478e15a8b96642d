import Logging
import PostbackSystemd
import Testing

@Suite struct StderrLineTests {
    @Test func levelMessageThenSortedFields() {
        let line = StderrLine.format(
            level: .warning, message: "fire failed",
            metadata: ["postback_id": "17", "http_status": "503", "attempt": .stringConvertible(2)])
        #expect(line == "warning fire failed attempt=2 http_status=503 postback_id=17\n")
    }

    @Test func noMetadataIsLevelAndMessage() {
        #expect(StderrLine.format(level: .info, message: "ready", metadata: [:]) == "info ready\n")
    }

    @Test func valuesThatCouldForgeFieldsAreQuoted() {
        let line = StderrLine.format(
            level: .info, message: "m",
            metadata: [
                "a": "two words", "b": "x=1", "c": "", "d": "say \"hi\" \\o/", "e": "line\nbreak\ttab",
            ])
        #expect(line == #"info m a="two words" b="x=1" c="" d="say \"hi\" \\o/" e="line\nbreak\ttab""# + "\n")
    }

    @Test func oneEntryIsOneLine() {
        let line = StderrLine.format(level: .error, message: "first\nsecond\u{7}", metadata: [:])
        #expect(line == "error first\\nsecond\\u{7}\n")
    }

    @Test func nestedValuesPrintAsSwiftLogDescribesThem() {
        let line = StderrLine.format(
            level: .debug, message: "m", metadata: ["list": ["1", "2"]])
        #expect(line == #"debug m list="[\"1\", \"2\"]""# + "\n")
    }

    /// FireLog's form: fields given in key order print exactly as the same metadata does.
    @Test func orderedFieldsPrintAsTheSameMetadata() {
        let metadata: Logger.Metadata = ["a": "two words", "b": "x=1", "c": "", "d": "€ \"q\"", "e": "tab\there"]
        var bytes: [UInt8] = []
        StderrLine.append(
            level: .info, message: "m\n",
            orderedFields: [("a", "two words"), ("b", "x=1"), ("c", ""), ("d", "€ \"q\""), ("e", "tab\there")], to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == StderrLine.format(level: .info, message: "m\n", metadata: metadata))
        #expect(String(decoding: bytes, as: UTF8.self) == #"info m\n a="two words" b="x=1" c="" d="€ \"q\"" e="tab\there""# + "\n")
    }
}
