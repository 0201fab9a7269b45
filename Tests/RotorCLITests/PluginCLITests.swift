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
        // Both errors point at the options line (5), not only at the file.
        #expect(invalid.status != 0 && invalid.output.contains("tokens.yaml:5:") && invalid.output.contains("colour"), "\(invalid.output)")
        try policy.replacingOccurrences(of: "rotator: example-token", with: "rotator: file-target")
            .replacingOccurrences(of: "bytes", with: "behaviour").write(to: policies.appendingPathComponent("tokens.yaml"), atomically: true, encoding: .utf8)
        let missing = try await cli.run("validate", policies.path)
        #expect(missing.status != 0 && missing.output.contains("tokens.yaml:5:") && missing.output.contains("needs option target-file"), "\(missing.output)")
    }

    /// Writes `rotor-rotator-probe` into `directory`: a plug-in without a target whose every step
    /// appends `label` to `ran` (so a test sees which copy of the kind rotor chose).
    static func probe(in directory: URL, label: String, ran: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("rotor-rotator-probe")
        try """
            #!/bin/sh
            if [ "$1" = describe ]; then
                echo '{"protocol": "rotor.rotator/v1", "kind": "probe", "hasTarget": false, "afterSetFailure": "roll-back", "options": {}}'
                exit 0
            fi
            request=$(cat)
            echo '\(label)' >> '\(ran.path)'
            case "$request" in
            *'"step":"createSecret"'*|*'"step": "createSecret"'*) printf '{"value": {"string": "probe-%s"}}\n' "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" ;;
            *) echo '{}' ;;
            esac
            """.write(to: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path.path)
    }

    /// The search order of the issue and the docs: every `--plugins DIR` in order, then each
    /// ROTOR_PLUGIN_PATH directory in order, then HOME/plugins; the first copy of a kind wins, and a
    /// kind found only further down the path is still found.
    @Test func pluginsAreFoundInTheDocumentedSearchOrder() async throws {
        let cli = try CLI()
        let root = cli.home.appendingPathComponent("search")
        let ran = cli.home.appendingPathComponent("ran")
        let (flagA, flagB, envA, envB) = (root.appendingPathComponent("flag-a"), root.appendingPathComponent("flag-b"),
                                          root.appendingPathComponent("env-a"), root.appendingPathComponent("env-b"))
        for (directory, label) in [(flagA, "flag-a"), (flagB, "flag-b"), (envA, "env-a"), (envB, "env-b"),
                                   (cli.home.appendingPathComponent("plugins"), "home")] {
            try Self.probe(in: directory, label: label, ran: ran)
        }
        // A kind only in the second --plugins directory.
        try FileManager.default.copyItem(at: Self.example, to: flagB.appendingPathComponent("rotor-rotator-example-token"))
        let id = "/prod/shop/api-key/probe"
        let pluginPath = ["ROTOR_PLUGIN_PATH": "\(envA.path):\(envB.path)"]
        #expect(try await cli.run(["secret", "create", id, "--rotator", "probe", "--value-stdin"], stdin: Data("first".utf8)).status == 0)

        /// Which copies ran during one rotation.
        func rotate(_ arguments: [String], _ environment: [String: String]) async throws -> Set<String> {
            try? FileManager.default.removeItem(at: ran)
            let result = try await cli.run(["rotate", id] + arguments, extraEnvironment: environment)
            #expect(result.status == 0, "\(arguments) \(environment): \(result.output)")
            return Set(((try? String(contentsOf: ran, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init))
        }
        #expect(try await rotate(["--plugins", flagA.path, "--plugins", flagB.path], pluginPath) == ["flag-a"])
        #expect(try await rotate(["--plugins", flagB.path, "--plugins", flagA.path], pluginPath) == ["flag-b"])
        #expect(try await rotate([], pluginPath) == ["env-a"])
        #expect(try await rotate([], ["ROTOR_PLUGIN_PATH": "\(envB.path):\(envA.path)"]) == ["env-b"])
        #expect(try await rotate([], [:]) == ["home"])

        // Both --plugins directories are searched: a kind only in the second is found.
        let token = "/prod/shop/api-key/token"
        let created = try await cli.run(["secret", "create", token, "--rotator", "example-token", "--value-stdin", "--plugins", flagA.path, "--plugins", flagB.path],
                                        stdin: Data("first-token".utf8))
        #expect(created.status == 0, "\(created.output)")
        #expect(try await cli.run("rotate", token).status != 0, "not on the search path without --plugins")
        #expect(try await cli.run(["rotate", token, "--plugins", flagA.path, "--plugins", flagB.path]).status == 0)
        // A relative ROTOR_PLUGIN_PATH entry is refused.
        let relative = try await cli.run(["rotate", id], extraEnvironment: ["ROTOR_PLUGIN_PATH": "plugins"])
        #expect(relative.status != 0 && relative.stderr.contains("ROTOR_PLUGIN_PATH entry 'plugins' is relative"), "\(relative.output)")
    }

    /// `rotor plan` takes a policy whose rotator is a plug-in kind (found through --plugins) and plans
    /// the secrets it matches; without the plug-in on the search path the kind is unknown.
    @Test func planPlansAPolicyWithAPluginKind() async throws {
        let cli = try CLI()
        let plugins = cli.home.appendingPathComponent("elsewhere")
        try Self.probe(in: plugins, label: "plan", ran: cli.home.appendingPathComponent("ran"))
        let policies = cli.home.appendingPathComponent("policies")
        try FileManager.default.createDirectory(at: policies, withIntermediateDirectories: true)
        try """
            policies:
              - name: probe-tokens
                match: [/prod/*/api-key/probe]
                rotator: probe
                every: 30d
            """.write(to: policies.appendingPathComponent("probe.yaml"), atomically: true, encoding: .utf8)
        let id = "/prod/shop/api-key/probe"
        #expect(try await cli.run(["secret", "create", id, "--rotator", "probe", "--value-stdin", "--plugins", plugins.path], stdin: Data("first".utf8)).status == 0)
        let plan = try await cli.run(["plan", "--policies", policies.path, "--plugins", plugins.path])
        #expect(plan.status == 0 && plan.stdout.contains(id) && plan.stdout.contains("policy=probe-tokens"), "\(plan.output)")
        let unknown = try await cli.run(["plan", "--policies", policies.path])
        #expect(unknown.status != 0 && unknown.output.contains("probe.yaml:4:") && unknown.output.contains("unknown rotator kind 'probe'"), "\(unknown.output)")
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
