import ArgumentParser

/// The operator's tool: checks catalogs, shows what records would fire, and manages the daemon's queues.
@main
struct Postbackctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postbackctl",
        abstract: "Check and operate postbackd: catalogs, plans, test fires.",
        version: "0.1.0",
        subcommands: [
            ValidateCommand.self, PlanCommand.self, ListCommand.self, RenderCommand.self, TestFireCommand.self, ReceiveCommand.self,
            SpoolCommand.self, DeadLettersCommand.self, FiresCommand.self,
            AddCommand.self, EditCommand.self, PauseCommand.self, ResumeCommand.self,
        ])
}
