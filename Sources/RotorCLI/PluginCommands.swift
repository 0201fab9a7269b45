import ArgumentParser
import Foundation
import RotorCore
import RotorPlugins
import RotorStorage

/// `rotor plugin`: tools for rotator plug-ins.
struct PluginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin", abstract: "Rotator plug-ins (exec protocol rotor.rotator/v1).", subcommands: [Check.self])

    /// `rotor plugin check KIND`: the conformance check, against a fresh embedded store in a temporary home.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a plug-in through a full rotation, each step twice, a rollback, a resume after a crash and a secret-hygiene check.",
            discussion: "Runs against a fresh embedded store in a temporary directory, never against your secrets. Exit 0 when every check passes, 4 otherwise.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The plug-in's kind (rotor-rotator-KIND on the plug-in search path).") var kind: String
        @Option(name: .customLong("secret-json"), help: ArgumentHelp("A file holding the first value (e.g. the JSON the secret would hold).", valueName: "file"))
        var secretJSON: String?
        @Option(name: .customLong("option"), help: ArgumentHelp("Rotator option (repeatable).", valueName: "key=value")) var options: [String] = []
        @Option(name: .customLong("seed-secret"), help: ArgumentHelp(
            "A secret the check's scratch store holds, its value read from a file (repeatable): e.g. the webhook's signing-key-secret.",
            valueName: "id=file")) var seedSecrets: [String] = []

        func run() async throws {
            try await runReportingErrors {
                let rotators = try await global.rotators()
                _ = try rotators.descriptor(RotatorKind(kind))
                let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-plugin-check-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                defer { try? FileManager.default.removeItem(at: scratch) }
                let checks = await PluginConformance(
                    kind: RotatorKind(kind), options: try RotatorOptions(arguments: options), initialValue: try firstValue(), rotators: rotators, seeds: try seeds(),
                    stores: { try Self.freshStores(in: scratch) }
                ).run()
                for check in checks {
                    Output.line("\(check.passed ? "pass" : "FAIL")  \(check.name.padding(toLength: 52, withPad: " ", startingAt: 0))  \(check.detail)")
                }
                let failed = checks.filter { !$0.passed }.count
                Output.line(failed == 0 ? "ok: \(checks.count) checks passed" : "\(failed) of \(checks.count) checks failed")
                if failed > 0 { throw ExitCode(ExitStatus.rotationFailed) }
            }
        }

        /// `--seed-secret ID=FILE`: each file's content (without a final newline) under its id.
        private func seeds() throws -> [SecretID: SecretValue] {
            var seeds: [SecretID: SecretValue] = [:]
            for argument in seedSecrets {
                guard let equals = argument.firstIndex(of: "="), case let file = String(argument[argument.index(after: equals)...]), !file.isEmpty else {
                    throw RotorError(.invalidInput, "--seed-secret takes ID=FILE, not \(argument)")
                }
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw RotorError(.invalidInput, "cannot read --seed-secret file \(file)") }
                seeds[try SecretID(String(argument[..<equals]))] = SecretValue(string: text.trimmingCharacters(in: .newlines))
            }
            return seeds
        }

        private func firstValue() throws -> SecretValue {
            guard let secretJSON else { return SecretValue(string: "rotor-plugin-check-" + UUID().uuidString.lowercased()) }
            guard let text = try? String(contentsOfFile: secretJSON, encoding: .utf8) else {
                throw RotorError(.invalidInput, "cannot read --secret-json \(secretJSON)")
            }
            return SecretValue(string: text.trimmingCharacters(in: .newlines))
        }

        /// A new embedded store and state database, in a directory of their own.
        static func freshStores(in scratch: URL) throws -> (any SecretStore, any RotationStateStore) {
            let directory = scratch.appendingPathComponent(UUID().uuidString)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let store = try EmbeddedSecretStore(
                url: directory.appendingPathComponent("store.sqlite"),
                keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")))
            let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), authenticator: store.rotatorConfigAuthenticator)
            return (store, state)
        }
    }
}
