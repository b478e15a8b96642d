import ArgumentParser
import Foundation
import PostbackCore

/// Whole-file reads for the CLI, with errors that name the file.
enum InputFiles {
    struct Unreadable: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "\(path): cannot read: \(reason)" }
    }

    /// Reads a file, or standard input for `-`.
    static func read(_ path: String) throws(Unreadable) -> [UInt8] {
        if path == "-" {
            return [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Unreadable(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw Unreadable(path: path, reason: "is a directory") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Unreadable(path: path, reason: "permission denied or not a regular file")
        }
        return [UInt8](data)
    }

    /// Loads a catalog file; on failure prints one line per problem to stderr.
    static func loadCatalog(_ path: String) throws(ExitCode) -> Catalog {
        let bytes: [UInt8]
        do {
            bytes = try read(path)
        } catch {
            Output.error("catalog: \(error)")
            throw ExitCode.failure
        }
        switch Catalog.load(bytes) {
        case .success(let catalog):
            return catalog
        case .failure(let error):
            for problem in error.problems { Output.error(problem.description) }
            throw ExitCode.failure
        }
    }
}
