import RotorCore

/// Where the generated policies apply: the partition, account and regions of the ARNs and conditions.
public struct IAMScope: Sendable, Hashable {
    public var partition: String
    /// `nil`: `${AWS::AccountId}`, for a CloudFormation template to fill in.
    public var account: String?
    public var regions: [String]
    /// The Lambda rotation function's name (its log group is `/aws/lambda/NAME`).
    public var functionName: String
    /// Whether the daemon's role may create secrets (`rotor secret create`), not only rotate them.
    public var allowCreate: Bool
    /// Where the daemon ships its audit log (`--audit-sink cloudwatch:GROUP`) and sends alerts
    /// (`--alert-sink eventbridge:BUS`, `sns:TOPIC-ARN`).
    public var auditLogGroups: [String] = []
    public var alertBuses: [String] = []
    public var alertTopics: [String] = []

    public init(partition: String = "aws", account: String?, regions: [String], functionName: String = "rotor-rotation", allowCreate: Bool = false) {
        self.partition = partition
        self.account = account
        self.regions = regions
        self.functionName = functionName
        self.allowCreate = allowCreate
    }

    func arn(_ service: String, _ region: String, _ resource: String) -> String {
        "arn:\(partition):\(service):\(region):\(account ?? "${AWS::AccountId}"):\(resource)"
    }
}

/// Least-privilege identity policies from the rotation policies and the naming convention
/// `/{environment}/{service}/{type}/{name}`: one for the daemon or CLI, one for the Lambda rotation
/// function and one per consuming service, each for one environment and limited to the given regions.
public struct IAMPolicyGenerator: Sendable {
    /// What the engine calls on a secret it rotates (``ListSecretVersionIds`` only to check a label move
    /// that was refused or may already have happened).
    static let rotationActions = [
        "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage", "secretsmanager:ListSecretVersionIds",
    ]
    static let consumerActions = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]

    public let policies: [RotationPolicy]
    public let scope: IAMScope

    public init(policies: [RotationPolicy], scope: IAMScope) {
        self.policies = policies
        self.scope = scope
    }

    /// The environments the policies name (a leading `*` names none of its own).
    public var environments: [String] {
        Set(policies.flatMap(\.matchers).compactMap { Self.segments($0.pattern).first }.filter { !$0.contains("*") }).sorted()
    }

    /// The services whose secrets the policies of `environment` name literally.
    public func services(in environment: String) -> [String] {
        Set(policies.flatMap(\.matchers).compactMap { matcher -> String? in
            let parts = Self.segments(Self.pattern(matcher.pattern, in: environment) ?? "")
            return parts.count > 1 && !parts[1].contains("*") ? parts[1] : nil
        }).sorted()
    }

    /// The daemon's (or `rotor rotate`'s) policy for one environment.
    public func daemon(_ environment: String) -> IAMPolicyDocument {
        let covered = policies.filter { !patterns($0, environment).isEmpty }
        var (statements, notes) = secretStatements(covered, environment, sid: "RotateManagedSecrets")
        if scope.allowCreate, let rotate = statements.first {
            statements.append(IAMStatement(sid: "CreateManagedSecrets", actions: ["secretsmanager:CreateSecret", "secretsmanager:TagResource"],
                                           resources: rotate.resources, regions: scope.regions))
        }
        statements.append(IAMStatement(sid: "ListSecretsAccountWide", actions: ["secretsmanager:ListSecrets"], resources: ["*"], regions: scope.regions))
        notes.append("ListSecrets supports no resource-level permission, so its resource is \"*\"; it returns names and metadata, never values, and rotor keeps to its environment itself.")
        let extras = rotatorGrants(covered, environment)
        return IAMPolicyDocument(name: "rotor-daemon-\(environment)", role: .daemon, environment: environment, service: nil,
                                 statements: statements + extras.statements + sinkStatements(), notes: notes + extras.notes + [Self.kmsNote])
    }

    /// The daemon's audit and alert sinks: its log groups' streams, its buses, its topics.
    func sinkStatements() -> [IAMStatement] {
        var statements: [IAMStatement] = []
        if !scope.auditLogGroups.isEmpty {
            // CreateLogStream names the group, PutLogEvents a stream in it: both ARN forms.
            let resources = scope.auditLogGroups.flatMap { group in
                scope.regions.flatMap { [scope.arn("logs", $0, "log-group:\(group)"), scope.arn("logs", $0, "log-group:\(group):*")] }
            }
            statements.append(IAMStatement(sid: "ShipAuditLog", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: resources, regions: scope.regions))
        }
        if !scope.alertBuses.isEmpty {
            let resources = scope.alertBuses.flatMap { bus in bus.hasPrefix("arn:") ? [bus] : scope.regions.map { scope.arn("events", $0, "event-bus/\(bus)") } }
            statements.append(IAMStatement(sid: "SendAlertEvents", actions: ["events:PutEvents"], resources: resources, regions: scope.regions))
        }
        if !scope.alertTopics.isEmpty {
            statements.append(IAMStatement(sid: "PublishAlerts", actions: ["sns:Publish"], resources: scope.alertTopics, regions: scope.regions))
        }
        return statements
    }

    /// The Lambda rotation function's policy for one environment: what AWS documents for rotation
    /// functions, plus its own log group and what its rotators read.
    public func lambda(_ environment: String) -> IAMPolicyDocument {
        let automatic = policies.filter { policy in
            if case .manual = policy.mode { return false }
            return !patterns(policy, environment).isEmpty
        }
        var (statements, notes) = secretStatements(automatic, environment, sid: "RotateSecrets")
        statements.append(IAMStatement(
            sid: "OwnLogGroup", actions: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources: scope.regions.map { scope.arn("logs", $0, "log-group:/aws/lambda/\(scope.functionName):*") }, regions: scope.regions))
        notes.append("Manual policies are left out: a person gives their new values, never the function.")
        notes.append("A function in a VPC (to reach a database) also needs the managed policy AWSLambdaVPCAccessExecutionRole, and an endpoint or NAT route to Secrets Manager.")
        let extras = rotatorGrants(automatic, environment)
        return IAMPolicyDocument(name: "rotor-lambda-\(environment)", role: .lambda, environment: environment, service: nil,
                                 statements: statements + extras.statements, notes: notes + extras.notes + [Self.kmsNote])
    }

    /// A consuming service's policy: it reads its own `/{environment}/{service}/` secrets, nothing else.
    public func consumer(_ environment: String, service: String) -> IAMPolicyDocument {
        let resources = scope.regions.map { scope.arn("secretsmanager", $0, "secret:/\(environment)/\(service)/*") }
        return IAMPolicyDocument(
            name: "rotor-consumer-\(environment)-\(service)", role: .consumer, environment: environment, service: service,
            statements: [IAMStatement(sid: "ReadOwnSecrets", actions: Self.consumerActions, resources: resources, regions: scope.regions)],
            notes: ["\"/\(environment)/\(service)/*\" is the service's own prefix; IAM's * also covers the six-character suffix Secrets Manager adds to every ARN. Reading another service's secret needs a grant of its own.",
                    Self.kmsNote])
    }

    static let kmsNote = "Secrets encrypted with a customer-managed KMS key also need kms:Decrypt (and, to write, kms:GenerateDataKey) on that key."

    // MARK: - Secret ARNs

    /// The rotation statement over the secrets `covered` names in `environment`, with a note per kind of wildcard.
    func secretStatements(_ covered: [RotationPolicy], _ environment: String, sid: String) -> ([IAMStatement], [String]) {
        let names = Set(covered.flatMap { patterns($0, environment) }).sorted()
        guard !names.isEmpty else { return ([], ["No policy names secrets of environment '\(environment)'."]) }
        let resources = names.flatMap { name in scope.regions.map { scope.arn("secretsmanager", $0, "secret:\(name)") } }
        var notes: [String] = []
        if names.contains(where: { $0.hasSuffix("-??????") }) {
            notes.append("A name given exactly ends in -??????: exactly the six random characters Secrets Manager appends to its ARN, so a longer name that shares the prefix is not covered.")
        }
        if names.contains(where: { $0.dropLast(7).contains("*") || $0.hasSuffix("*") }) {
            notes.append("A policy's * (one segment of an id) becomes IAM's *, which also matches '/', so it covers deeper names that rotor's four-segment ids never have; IAM has no narrower wildcard. A trailing * also covers the ARN's six-character suffix.")
        }
        return ([IAMStatement(sid: sid, actions: Self.rotationActions, resources: resources, regions: scope.regions)], notes)
    }

    /// A policy's patterns for `environment` as IAM resource names (empty when none applies there).
    func patterns(_ policy: RotationPolicy, _ environment: String) -> [String] {
        policy.matchers.compactMap { Self.pattern($0.pattern, in: environment).map(Self.resourceName) }
    }

    /// The pattern with its environment segment set to `environment`, or `nil` when it is another's.
    static func pattern(_ pattern: String, in environment: String) -> String? {
        var parts = segments(pattern)
        guard let first = parts.first else { return nil }
        if first == "*" || first == "**" {
            parts[0] = environment
        } else if first != environment {
            return nil
        }
        return "/" + parts.joined(separator: "/")
    }

    /// A secret id or id glob as the name part of an ARN pattern: stars as IAM's `*`, and an exact
    /// last segment followed by `-??????`, the suffix Secrets Manager appends.
    static func resourceName(_ pattern: String) -> String {
        var name = pattern.replacingOccurrences(of: "**", with: "*")
        if !name.hasSuffix("*") { name += "-??????" }
        return name
    }

    static func segments(_ pattern: String) -> [String] {
        pattern.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    // MARK: - What rotators need beyond the secret itself

    func rotatorGrants(_ covered: [RotationPolicy], _ environment: String) -> (statements: [IAMStatement], notes: [String]) {
        var statements: [IAMStatement] = []
        var notes: [String] = []
        let kinds = Set(covered.map(\.rotator.rawValue))
        let named = Set(covered.filter { $0.rotator.rawValue == "github-app-token" }.compactMap { $0.options["private-key-secret"] })
        // Only keys of this environment: rotor refuses another environment's key at run time, so its policy grants none.
        let keySecrets = named.filter { (try? SecretID(nameOrARN: $0))?.environment.name == environment }.sorted()
        if named.count > keySecrets.count {
            notes.append("github-app-token: a private-key-secret of another environment (or not a secret id) is left out; rotor refuses it at run time.")
        }
        if !keySecrets.isEmpty {
            let resources = keySecrets.flatMap { id in
                scope.regions.map { scope.arn("secretsmanager", $0, "secret:\(Self.resourceName((try? SecretID(nameOrARN: id))?.rawValue ?? id))") }
            }
            statements.append(IAMStatement(sid: "ReadGitHubAppKeys", actions: ["secretsmanager:GetSecretValue"], resources: resources, regions: scope.regions))
        }
        if kinds.contains("cognito-app-client") {
            statements.append(IAMStatement(
                sid: "RotateCognitoClientSecrets",
                actions: ["cognito-idp:AddUserPoolClientSecret", "cognito-idp:DeleteUserPoolClientSecret", "cognito-idp:ListUserPoolClientSecrets"],
                resources: scope.regions.map { scope.arn("cognito-idp", $0, "userpool/*") }, regions: scope.regions))
            notes.append("cognito-app-client: each secret's user pool is recorded from its value when rotor starts managing it, so a policy cannot name it; userpool/* is limited to this account and these regions. Replace it with the pools' ARNs where they are known.")
        }
        if kinds.contains("postgres-alternating-users") {
            notes.append("postgres-alternating-users reads the master secret named by each value's masterarn (of the same environment); add secretsmanager:GetSecretValue on those secrets' ARNs, which no policy names.")
        }
        return (statements, notes)
    }
}
