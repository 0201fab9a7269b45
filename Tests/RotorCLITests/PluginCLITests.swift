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

    /// A plug-in that cannot be run breaks only what uses it: validate names each use with file:line.
    @Test func validateReportsAnUnknownKindAndUnusablePluginsWithFileAndLine() async throws {
        let cli = try cliWithPlugin()
        let plugins = cli.home.appendingPathComponent("plugins")
        try "#!/bin/sh\nexit 3\n".write(to: plugins.appendingPathComponent("rotor-rotator-broken"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugins.appendingPathComponent("rotor-rotator-broken").path)
        try "#!/bin/sh\n".write(to: plugins.appendingPathComponent("rotor-rotator-not-executable"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: plugins.appendingPathComponent("rotor-rotator-not-executable").path)
        let policies = cli.home.appendingPathComponent("policies")
        try FileManager.default.createDirectory(at: policies, withIntermediateDirectories: true)
        let policy = ["no-such-kind", "broken", "not-executable", "example-token"].enumerated().map { index, kind in
            "  - name: p\(index)\n    match: [/prod/*/api-key/k\(index)]\n    rotator: \(kind)\n    every: 30d\n"
        }.joined()
        try ("policies:\n" + policy).write(to: policies.appendingPathComponent("kinds.yaml"), atomically: true, encoding: .utf8)
        let result = try await cli.run("validate", policies.path)
        #expect(result.status != 0)
        #expect(result.output.contains("kinds.yaml:4:") && result.output.contains("unknown rotator kind 'no-such-kind'"), "\(result.output)")
        #expect(result.output.contains("kinds.yaml:8:") && result.output.contains("rotor-rotator-broken did not describe itself"), "\(result.output)")
        #expect(result.output.contains("kinds.yaml:12:") && result.output.contains("is not an executable file"), "\(result.output)")
        #expect(!result.output.contains("kinds.yaml:16:") && result.output.contains("3 error(s)"), "\(result.output)")
        // The working plug-in still rotates.
        #expect(try await cli.run("secret", "create", "/prod/shop/api-key/k3", "--rotator", "example-token", "--value-stdin", stdin: "first").status == 0)
        #expect(try await cli.run("rotate", "/prod/shop/api-key/k3").status == 0)
    }

    /// rotor killed (SIGKILL) at every journal boundary of a plug-in's rotation, then run again:
    /// the rotation finishes with the same token and the plug-in's target holds AWSCURRENT.
    @Test(arguments: ["intent:setSecret", "completion:setSecret", "intent:testSecret", "intent:finishSecret", "label:AWSCURRENT"])
    func aCrashOfRotorBetweenAPluginsStepsResumes(point: String) async throws {
        let cli = try cliWithPlugin()
        let target = cli.home.appendingPathComponent("target")
        try "first-password".write(to: target, atomically: true, encoding: .utf8)
        let id = "/prod/shop/api-key/file"
        #expect(try await cli.run("secret", "create", id, "--rotator", "file-target", "--option", "target-file=\(target.path)", "--value-stdin", stdin: "first-password").status == 0)
        let killed = try await cli.run(["rotate", id], extraEnvironment: ["ROTOR_FAULT_KILL_AT": point])
        #expect(killed.status != 0, "\(point): \(killed.output)")
        let resumed = try await cli.run("rotate", id)
        #expect(resumed.status == 0 && resumed.output.contains("resum"), "\(point): \(resumed.output)")
        let current = try await cli.run("secret", "get", id)
        #expect(current.stdout.trimmingCharacters(in: .newlines) == (try String(contentsOf: target, encoding: .utf8)), "the target holds AWSCURRENT")
    }
}
