import Foundation
import PostbackTestSupport
import Testing

@Suite("postbackctl list: the daemon's auto-pauses and --author")
struct OperatorListTests {
    func fixture() throws -> OperatorFixture {
        let f = try OperatorFixture(catalog: catalogText([
            entry(1, url: "https://a.example/pb?click={sub1}", description: "Acme"),
            entry(2, url: "https://b.example/pb?click={sub1}", description: "Bee", author: "partner"),
            entry(3, status: "inactive", url: "https://c.example/pb?click={sub1}", description: "Cee"),
        ]))
        try Data("{\"paused\":[{\"id\":2,\"since_ms\":1764000000000,\"reason\":\"10 permanent failures in a row\"}]}\n".utf8)
            .write(to: URL(fileURLWithPath: f.stateDirectory + "/paused.json"))
        return f
    }

    @Test func autoPausedShowsAsSuchFromTheConfigsStateDirectory() throws {
        let f = try fixture()
        let r = try f.ctl(["list", "--catalog", f.catalogPath, "--config", f.configPath, "--columns", "id,status,author,description"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            ID  STATUS         AUTHOR   DESCRIPTION
            1   active         network  Acme
            2   paused (auto)  partner  Bee
            3   inactive       network  Cee

            """)
        let active = try f.ctl(["list", "--catalog", f.catalogPath, "--state-dir", f.stateDirectory, "--status", "active", "--columns", "id,status"])
        #expect(active.stdout == "ID  STATUS\n1   active\n")
        let inactive = try f.ctl(["list", "--catalog", f.catalogPath, "--state-dir", f.stateDirectory, "--status", "inactive", "--columns", "id,status"])
        #expect(inactive.stdout == "ID  STATUS\n2   paused (auto)\n3   inactive\n")
        // Without a state directory, list shows the catalog file as it is.
        let plain = try f.ctl(["list", "--catalog", f.catalogPath, "--columns", "id,status"])
        #expect(plain.stdout == "ID  STATUS\n1   active\n2   active\n3   inactive\n")
    }

    @Test func authorFilterAndJSON() throws {
        let f = try fixture()
        let r = try f.ctl(["list", "--catalog", f.catalogPath, "--state-dir", f.stateDirectory, "--author", "partner", "--json"])
        #expect(r.status == 0)
        #expect(r.stdout == "[" + entry(2, url: "https://b.example/pb?click={sub1}", description: "Bee", author: "partner")
            .dropLast() + ",\"auto_paused\":true}]\n")
        let network = try f.ctl(["list", "--catalog", f.catalogPath, "--author", "network", "--columns", "id"])
        #expect(network.stdout == "ID\n1\n3\n")
        #expect(try f.ctl(["list", "--catalog", f.catalogPath, "--author", "nobody"]).status == 64)
    }

    /// Every command's help carries an example; completions come from argument-parser.
    @Test func helpHasAnExampleForEveryCommand() throws {
        for command in [["spool"], ["dead-letters", "list"], ["dead-letters", "requeue"], ["fires"], ["add"], ["edit"],
                        ["pause"], ["resume"], ["list"]] {
            let r = try ProcessRunner.run("postbackctl", command + ["--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("Example: postbackctl \(command.joined(separator: " "))"), "\(command)")
        }
        let completion = try ProcessRunner.run("postbackctl", ["--generate-completion-script", "bash"])
        #expect(completion.status == 0)
        #expect(completion.stdout.contains("dead-letters") && completion.stdout.contains("--transaction"))
    }
}
