import ArgumentParser

/// The postback firing daemon; `postbackd run` is what systemd starts.
@main
struct Postbackd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postbackd",
        abstract: "Fire partner postbacks for the records dropped into a spool directory.",
        version: "0.1.0",
        subcommands: [RunCommand.self])
}
