import Foundation
import Testing

/// An exec plug-in in HOME/plugins is a rotator kind of the real `rotor` binary: in `secret create`,
/// in `rotate`, and in policies checked by `validate`.
@Suite struct PluginCLITests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/rotators/rotor-rotator-example-token")

    func cliWithPlugin() throws -> CLI {
        let cli = try CLI()
        let plugins = cli.home.appendingPathComponent("plugins")
        try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.example, to: plugins.appendingPathComponent(Self.example.lastPathComponent))
        return cli
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
