import ArgumentParser
import PostbackCore

/// `--record JSON|@FILE`: one sample record, inline or from a file.
enum RecordArgument {
    static func parse(_ argument: String) throws(ExitCode) -> Record {
        var text = argument
        if argument.hasPrefix("@") {
            do {
                text = String(decoding: try InputFiles.read(String(argument.dropFirst())), as: UTF8.self)
            } catch {
                Output.error("record: \(error)")
                throw ExitCode.failure
            }
            text = text.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        }
        switch RecordParser.parse(line: text) {
        case .success(let record):
            return record
        case .failure(let failure):
            Output.error("record: \(failure.message)")
            throw ExitCode.failure
        }
    }
}
