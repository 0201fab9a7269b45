import ArgumentParser
import Foundation
import RotorCore
import RotorPolicies

struct IAMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iam", abstract: "Least-privilege IAM policies from the rotation policies.", subcommands: [IAMPolicyCommand.self])
}

struct IAMPolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Generate identity policies for rotor's daemon or CLI, the Lambda rotation function, and each consuming service.",
        discussion: """
            One policy per role and environment, on the ARNs the policies in --policies name, with an \
            aws:RequestedRegion condition. --format document prints one policy document (pipe it to \
            'aws iam create-policy --policy-document file:///dev/stdin') and its notes on stderr; json \
            prints every selected policy with its notes; cloudformation prints a template of \
            AWS::IAM::ManagedPolicy resources (without --account, ARNs use ${AWS::AccountId}).
            """)

    enum Role: String, ExpressibleByArgument, CaseIterable { case daemon, lambda, consumer, all }
    enum Format: String, ExpressibleByArgument, CaseIterable { case document, json, cloudformation }

    @OptionGroup var global: GlobalOptions
    @Option(help: "Policy directory or file.") var policies: String = "schedules"
    @Option(help: "daemon (also the CLI), lambda, consumer or all.") var role: Role = .all
    @Option(help: "Consuming service (repeatable; default every service the policies name literally).") var service: [String] = []
    @Option(help: "Regions, comma-separated (default --region, AWS_REGION or AWS_DEFAULT_REGION).") var regions: String?
    @Option(help: "AWS account id (12 digits).") var account: String?
    @Option(help: "Partition: aws, aws-cn or aws-us-gov.") var partition: String = "aws"
    @Option(help: "The Lambda rotation function's name (for its log group).") var functionName: String = "rotor-rotation"
    @Flag(help: "Let the daemon's role create secrets too (rotor secret create); leave off where secrets are created elsewhere.")
    var allowCreate = false
    @Option(help: "document, json or cloudformation.") var format: Format = .document
    @Option(help: "The daemon's audit sinks (cloudwatch:LOG-GROUP) and alert sinks (eventbridge:BUS, sns:TOPIC-ARN), as given to rotor daemon (repeatable).")
    var sink: [String] = []

    func run() async throws {
        try await runReportingErrors {
            let set = try Plan.validatePolicies(policies, rotators: try await global.rotators())
            let generator = IAMPolicyGenerator(policies: set.policies, scope: try scope())
            let documents = try selected(generator)
            switch format {
            case .document:
                guard documents.count == 1, let document = documents.first else {
                    throw RotorError(.invalidParameter, "--format document prints one policy, but \(documents.count) are selected (\(documents.map(\.name).joined(separator: ", ")))",
                                     remedy: "name one --role, --environment and (for consumers) --service, or use --format json or cloudformation")
                }
                guard account != nil else {
                    throw RotorError(.invalidParameter, "--format document needs --account (only a CloudFormation template can fill it in)")
                }
                document.notes.forEach { Output.error("note: \($0)") }
                Output.line(document.json)
            case .json:
                guard account != nil else { throw RotorError(.invalidParameter, "--format json needs --account (only a CloudFormation template can fill it in)") }
                Output.json(IAMPolicyDocument.bundle(documents))
            case .cloudformation:
                Output.line(IAMPolicyDocument.text(CloudFormationTemplate.managedPolicies(documents)))
            }
        }
    }

    func scope() throws -> IAMScope {
        let named = regions ?? global.region ?? global.env["AWS_REGION"] ?? global.env["AWS_DEFAULT_REGION"] ?? ""
        let regions = named.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) }
        guard !regions.isEmpty else { throw RotorError(.invalidParameter, "no region: pass --region or --regions, or set AWS_REGION") }
        for name in regions where name.wholeMatch(of: /[a-z]{2}(-[a-z]+)+-[0-9]/) == nil {
            throw RotorError(.invalidParameter, "--region '\(name.printable(limit: 40))' is not a region name such as us-east-1")
        }
        if let account, account.wholeMatch(of: /[0-9]{12}/) == nil {
            throw RotorError(.invalidParameter, "--account '\(account.printable(limit: 40))' is not a 12-digit AWS account id")
        }
        guard ["aws", "aws-cn", "aws-us-gov"].contains(partition) else {
            throw RotorError(.invalidParameter, "--partition must be aws, aws-cn or aws-us-gov, not '\(partition.printable(limit: 40))'")
        }
        guard functionName.wholeMatch(of: /[A-Za-z0-9_-]{1,64}/) != nil else {
            throw RotorError(.invalidParameter, "--function-name must be 1-64 letters, digits, '-' or '_'")
        }
        var scope = IAMScope(partition: partition, account: account, regions: Array(Set(regions)).sorted(), functionName: functionName, allowCreate: allowCreate)
        for spec in sink {
            let (kind, target) = (spec.prefix { $0 != ":" }, String(spec.drop { $0 != ":" }.dropFirst()))
            guard !target.isEmpty, target.wholeMatch(of: /[A-Za-z0-9_.\-\/#:]{1,1600}/) != nil else {
                throw RotorError(.invalidParameter, "--sink '\(spec.printable(limit: 80))' has no valid target")
            }
            switch kind {
            case "cloudwatch": scope.auditLogGroups.append(target)
            case "eventbridge": scope.alertBuses.append(target)
            case "sns": scope.alertTopics.append(target)
            default: throw RotorError(.invalidParameter, "--sink '\(spec.printable(limit: 80))' is not cloudwatch:, eventbridge: or sns:")
            }
        }
        return scope
    }

    func selected(_ generator: IAMPolicyGenerator) throws -> [IAMPolicyDocument] {
        let environments = global.environment.map { [$0] } ?? generator.environments
        guard !environments.isEmpty else {
            throw RotorError(.invalidParameter, "the policies name no environment of their own (every pattern starts with *)", remedy: "pass --environment")
        }
        var documents: [IAMPolicyDocument] = []
        for name in environments {
            _ = try Environment(name)
            if role == .daemon || role == .all { documents.append(generator.daemon(name)) }
            if role == .lambda || role == .all { documents.append(generator.lambda(name)) }
            if role == .consumer || role == .all {
                for service in service.isEmpty ? generator.services(in: name) : service {
                    _ = try SecretID("/\(name)/\(service)/type/name")
                    documents.append(generator.consumer(name, service: service))
                }
            }
        }
        return documents
    }
}
