import ArgumentParser
import Foundation
import RotorCore

struct SecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret", abstract: "Create, read, describe and list secrets.",
        subcommands: [Create.self, Manage.self, Get.self, Describe.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a managed secret with its first value.",
            discussion: "Rotators: random-password, encryption-key, manual. Without --value-stdin the first value is generated (not possible for manual).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Secret id: /{environment}/{service}/{secret-type}/{secret-name}.") var id: String
        @Option(help: "Rotator kind.") var rotator: String
        @Option(name: .customLong("option"), help: ArgumentHelp("Rotator option (repeatable).", valueName: "key=value")) var options: [String] = []
        @Flag(help: "Read the first value from standard input.") var valueStdin = false
        @Flag(help: "Generate the first value with the rotator (the default when it can).") var generate = false
        @Option(help: "A description (never put secrets here).") var description: String?

        func validate() throws {
            if valueStdin && generate { throw ValidationError("--value-stdin and --generate exclude each other") }
        }

        func run() async throws {
            try await runReportingErrors {
                let runtime = try await Runtime.open(global)
                let id = try await runtime.secretID(id)
                let kind = RotatorKind(rotator)
                let parsed = try RotatorOptions(arguments: options)
                let descriptor = try runtime.engine.rotators.descriptor(kind)
                _ = try descriptor.make(parsed)
                let value = try await firstValue(descriptor, parsed, runtime, id)
                try await runtime.engine.createManagedSecret(id, rotator: kind, options: parsed, initialValue: value, description: description)
                let described = try await runtime.store.describeSecret(id)
                Output.line("created \(id) (rotator \(kind), version \(described.holder(of: .current)?.rawValue ?? "?") AWSCURRENT)")
            }
        }

        private func firstValue(_ descriptor: RotatorDescriptor, _ options: RotatorOptions, _ runtime: Runtime, _ id: SecretID) async throws -> SecretValue {
            if valueStdin { return try StdinValue.read(secret: id) }
            guard let value = try await descriptor.initialValue(options, store: runtime.store) else {
                throw RotorError(.invalidInput, "rotator \(descriptor.kind) cannot generate a first value", secret: id,
                                 remedy: "supply it with --value-stdin")
            }
            return value
        }
    }

    struct Manage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start managing a secret that already exists in the store (its value is not changed).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Secret id or ARN.") var id: String
        @Option(help: "Rotator kind.") var rotator: String
        @Option(name: .customLong("option"), help: ArgumentHelp("Rotator option (repeatable).", valueName: "key=value")) var options: [String] = []

        func run() async throws {
            try await runReportingErrors {
                let runtime = try await Runtime.open(global)
                let id = try await runtime.secretID(id)
                try await runtime.engine.manageExistingSecret(id, rotator: RotatorKind(rotator), options: try RotatorOptions(arguments: options))
                Output.line("managing \(id) with rotator \(rotator); rotate it with 'rotor rotate \(id)'")
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a secret value (the only command that prints values).",
            discussion: "Text values are printed as they are; binary values as base64.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Secret id.") var id: String
        @Option(help: "Staging label (default AWSCURRENT).") var stage: String?
        @Option(help: "Version id.") var versionId: String?

        func run() async throws {
            try await runReportingErrors {
                let runtime = try await Runtime.open(global)
                let id = try await runtime.secretID(id)
                let selector = VersionSelector(versionID: versionId.map { VersionID($0) }, stage: try stage.map { s throws(RotorError) in try StagingLabel(s) })
                let version = try await runtime.store.getSecretValue(id, selector)
                try await runtime.state.appendAudit(runtime.engine.audit(id, "secret.get", "succeeded", "read version \(version.versionID)"))
                switch version.value.kind {
                case .string: Output.line(version.value.exposedString ?? "")
                case .binary: Output.line(Data(version.value.exposedBytes).base64EncodedString())
                }
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a secret's metadata and versions → stages (never values).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Secret id.") var id: String
        @Flag(help: "Print JSON in DescribeSecret's shape.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let runtime = try await Runtime.open(global)
                let id = try await runtime.secretID(id)
                let description = try await runtime.store.describeSecret(id)
                let managed = try await runtime.state.managedSecret(id)
                if json {
                    Output.json(Render.describeJSON(description, managed: managed))
                } else {
                    Render.describeText(description, managed: managed).forEach(Output.line)
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List secrets in the store.")

        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let runtime = try await Runtime.open(global)
                let secrets = try await runtime.store.listSecrets(in: runtime.scope)
                let managed = Dictionary(uniqueKeysWithValues: try await runtime.state.managedSecrets(in: runtime.scope).map { ($0.id, $0) })
                if json {
                    Output.json(["SecretList": secrets.map { Render.describeJSON($0, managed: managed[$0.id]) }])
                } else {
                    for secret in secrets {
                        let rotator = managed[secret.id]?.rotator.rawValue ?? "unmanaged"
                        Output.line("\(secret.id)  rotator=\(rotator)  versions=\(secret.versions.count)  last-changed=\(Output.timestamp(secret.lastChangedAt))")
                    }
                }
            }
        }
    }
}
