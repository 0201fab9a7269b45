import Foundation
import Testing

/// An exec plug-in in HOME/plugins is a rotator kind of the real `rotor` binary: in `secret create`,
/// in `rotate`, and in policies checked by `validate`.
@Suite struct PluginCLITests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let example = repository.appendingPathComponent("examples/rotators/rotor-rotator-example-token")
    static let fileTarget = repository.appendingPathComponent("Tests/RotorPluginsTests/Fixtures/rotor-rotator-file-target")

    func cliWithPlugin() throws -> CLI {
        let cli = try CLI()
        let plugins = cli.home.appendingPathComponent("plugins")
        try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
        for plugin in [Self.example, Self.fileTarget] {
            try FileManager.default.copyItem(at: plugin, to: plugins.appendingPathComponent(plugin.lastPathComponent))
        }
        return cli
    }

    @Test func pluginCheckPassesForTheExamples() async throws {
        let cli = try cliWithPlugin()
        let token = try await cli.run("plugin", "check", "example-token")
        #expect(token.status == 0 && token.stdout.contains("ok: 6 checks passed"), "\(token.output)")
        let target = cli.home.appendingPathComponent("target").path
        let file = try await cli.run("plugin", "check", "file-target", "--option", "target-file=\(target)")
        #expect(file.status == 0 && file.stdout.contains("every step twice with one token") && file.stdout.contains("all five steps"), "\(file.output)")
    }

    @Test(arguments: [
        ("not-idempotent:setSecret", "every step twice with one token", "already done once"),
        ("echo-stderr:setSecret", "no value on standard error", "printed a value of the rotation"),
        ("garbage:testSecret", "full rotation", "broke the rotor.rotator/v1 protocol"),
    ])
    func pluginCheckFailsForABrokenPluginWithAReason(behaviour: String, check: String, reason: String) async throws {
        let cli = try cliWithPlugin()
        let target = cli.home.appendingPathComponent("target").path
        let result = try await cli.run("plugin", "check", "file-target", "--option", "target-file=\(target)", "--option", "behaviour=\(behaviour)")
        #expect(result.status == 4, "\(result.output)")
        let line = result.stdout.split(separator: "\n").first { $0.contains(check) }.map(String.init) ?? ""
        #expect(line.hasPrefix("FAIL") && line.contains(reason), "\(result.output)")
    }

    @Test func aPluginInTheHomeDirectoryRotatesFromTheCommandLine() async throws {
        let cli = try cliWithPlugin()
        let created = try await cli.run("secret", "create", "/prod/shop/api-key/token", "--rotator", "example-token", "--option", "bytes=20", "--value-stdin", stdin: "first-token")
        #expect(created.status == 0, "\(created.output)")
        let rotated = try await cli.run("rotate", "/prod/shop/api-key/token")
        #expect(rotated.status == 0, "\(rotated.output)")
        #expect(!cli.everythingPrinted.contains("first-token"))
    }

    @Test func validateChecksAPolicysOptionsAgainstThePluginsDescription() async throws {
        let cli = try cliWithPlugin()
        let policies = cli.home.appendingPathComponent("policies")
        try FileManager.default.createDirectory(at: policies, withIntermediateDirectories: true)
        let policy = """
            policies:
              - name: vendor-tokens
                match: [/prod/*/api-key/token]
                rotator: example-token
                options: {bytes: "32"}
                every: 30d
            """
        try policy.write(to: policies.appendingPathComponent("tokens.yaml"), atomically: true, encoding: .utf8)
        let valid = try await cli.run("validate", policies.path)
        #expect(valid.status == 0, "\(valid.output)")
        try policy.replacingOccurrences(of: "bytes", with: "colour").write(to: policies.appendingPathComponent("tokens.yaml"), atomically: true, encoding: .utf8)
        let invalid = try await cli.run("validate", policies.path)
        #expect(invalid.status != 0 && invalid.output.contains("tokens.yaml:") && invalid.output.contains("colour"), "\(invalid.output)")
    }
}
