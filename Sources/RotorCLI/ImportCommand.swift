import ArgumentParser
import Foundation
import RotorAWS
import RotorCore

/// `rotor import env`: ADR-0016's migration off environment variables.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Move credentials into rotor's store.", subcommands: [Env.self])

    struct Env: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "env",
            abstract: "Propose secrets for the credentials in a dotenv file or a Lambda function's environment; --apply creates them.",
            discussion: """
                Variables whose names mark a credential (…_PASSWORD, …_TOKEN, …_API_KEY, …_SECRET, DATABASE_URL, …) become \
                /{environment}/{service}/{type}/{name}; the others are listed and left alone. Without --apply nothing changes. \
                With it, each secret is created with the manual rotator (values go to the store only; an existing id is skipped), \
                and the change each consumer needs is printed. No value is ever printed.
                """)

        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("from"), help: ArgumentHelp("A dotenv file.", valueName: "file")) var file: String?
        @Option(help: ArgumentHelp("A Lambda function's name or ARN (GetFunctionConfiguration).", valueName: "function")) var fromLambda: String?
        @Option(help: "The secrets' service segment (e.g. orders).") var service: String
        @Flag(help: "Create the secrets (default: only show the plan).") var apply = false
        @Flag(help: "Print JSON lines.") var json = false

        func validate() throws {
            guard (file == nil) != (fromLambda == nil) else { throw ValidationError("give exactly one of --from FILE and --from-lambda FUNCTION") }
            guard global.environment != nil else { throw ValidationError("--environment names the secrets' environment segment (e.g. prod)") }
        }

        func run() async throws {
            try await runReportingErrors {
                let environment = try Environment(global.environment ?? "")
                let proposals = try EnvironmentImport.propose(try await variables(), environment: environment, service: service)
                let runtime = try await Runtime.open(global)
                var created = 0
                for proposal in proposals {
                    guard let id = proposal.secret else {
                        show(proposal, "left alone: not a credential by its name")
                        continue
                    }
                    try runtime.scope.check(id)
                    if try await runtime.engine.state.managedSecret(id) != nil {
                        show(proposal, "exists: not changed")
                        continue
                    }
                    guard apply else {
                        show(proposal, "would create (rotator manual)")
                        continue
                    }
                    _ = try await runtime.engine.createManagedSecret(
                        id, rotator: "manual", options: RotatorOptions(), initialValue: proposal.value, description: "imported from \(proposal.variable)")
                    created += 1
                    show(proposal, "created; consumers read it with: \(Self.consumerChange(id))")
                }
                if !json {
                    Output.line(apply ? "\(created) secret(s) created; remove the imported variables once every consumer reads the secrets"
                                      : "dry run: nothing changed; pass --apply to create the secrets")
                }
            }
        }

        func variables() async throws -> [String: SecretValue] {
            if let file {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw RotorError(.invalidInput, "cannot read \(file.printable(limit: 200))")
                }
                return try EnvironmentImport.parseDotenv(text, file: file)
            }
            let settings = try AWSSettings.resolve(region: global.region, profile: global.profile, endpointURL: nil, environment: global.env)
            return try await LambdaConfigurationReader(region: settings.region, credentials: settings.credentials, environment: global.env)
                .environmentVariables(of: fromLambda ?? "")
        }

        func show(_ proposal: EnvironmentImport.Proposal, _ what: String) {
            if json {
                var line: [String: String] = ["variable": proposal.variable, "action": what]
                if let id = proposal.secret { line["secret"] = id.rawValue }
                Output.json(line)
            } else {
                Output.line("\(proposal.variable) -> \(proposal.secret.map { "\($0)" } ?? "-")  \(what)")
            }
        }

        /// How a consumer reads the secret instead of the variable.
        static func consumerChange(_ id: SecretID) -> String {
            "GET http://localhost:2773/secretsmanager/get?secretId=\(id) (rotor agent), or SecretsClient.value(\"\(id)\")"
        }
    }
}
