import AsyncHTTPClient
import Foundation
import NIOCore
import RotorTestSupport
import Testing

/// `rotor iam policy`: its documents are linted by parliament, its template by cfn-lint, and tested
/// in two halves against a moto_server of the test's own with IAM enforcement on. Actions: rotor,
/// a consumer's agent and (in RotorLambdaTests) the Lambda function work with only the generated
/// actions, and an omitted action is denied. Resources: every call moto recorded, and probes at
/// other services' and environments' secrets, are evaluated against the real documents.
@Suite(.enabled(if: MotoSettings.enabled, "moto_server runs under 'make test'"))
struct IAMPolicyTests {
    static let account = "123456789012"

    /// Policies for a fresh environment: two automatic kinds and a manual one.
    static func policyFile(_ environment: String, in home: URL) throws -> URL {
        let file = home.appendingPathComponent("iam-policies.yaml")
        try """
            policies:
              - name: shop-passwords
                match: [/\(environment)/shop/api-key/*]
                rotator: random-password
                every: 30d
              - name: shop-keys
                match: [/\(environment)/shop/encryption-key/*]
                rotator: encryption-key
                every: 365d
              - name: billing-token
                match: [/\(environment)/billing/api-token/vendor]
                rotator: manual
                mode: manual
                max_age: 90d
                remind_before: 14d
            """.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    static func awsEnvironment(_ key: MotoSettings.Settings) -> [String: String] {
        ["ROTOR_STORE": "aws", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_SECRETS_MANAGER": key.endpoint.absoluteString,
         "AWS_ACCESS_KEY_ID": key.accessKey, "AWS_SECRET_ACCESS_KEY": key.secretKey]
    }

    @Test func badInputIsRefusedWithNothingPrinted() async throws {
        let cli = try CLI()
        let policies = IAMMoto.repository.appendingPathComponent("schedules").path
        for (arguments, message) in [
            (["--account", "12345", "--region", "us-east-1"], "12-digit"),
            (["--account", Self.account, "--region", "us east"], "region name"),
            (["--account", Self.account, "--region", "us-east-1", "--partition", "aws-mars"], "--partition"),
            (["--account", Self.account, "--region", "us-east-1"], "are selected"),
            (["--role", "daemon", "--environment", "prod", "--region", "us-east-1"], "needs --account"),
            (["--role", "daemon", "--environment", "prod", "--account", Self.account], "no region"),
        ] {
            let result = try await cli.run(["iam", "policy", "--policies", policies] + arguments, extraEnvironment: ["AWS_REGION": "", "AWS_DEFAULT_REGION": ""])
            #expect(result.status == 64 && result.stdout.isEmpty && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    /// The shipped schedules: parliament finds nothing in any document, cfn-lint nothing in the template.
    @Test func theShippedSchedulesPassParliamentAndCfnLint() async throws {
        let cli = try CLI()
        let policies = IAMMoto.repository.appendingPathComponent("schedules").path
        let json = try await cli.run(["iam", "policy", "--policies", policies, "--account", Self.account, "--regions", "us-east-1,eu-west-1", "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let file = cli.home.appendingPathComponent("policies.json")
        try Data(json.stdout.utf8).write(to: file)
        let lint = try await IAMMoto.python(["lint", file.path])
        #expect(lint.status == 0 && lint.output.contains("rotor-daemon-prod: parliament ok"), "\(lint.output)")
        #expect(json.stdout.contains("arn:aws:secretsmanager:eu-west-1:123456789012:secret:/prod/claude-sdk/api-key/anthropic-key-??????"))

        let template = try await cli.run(["iam", "policy", "--policies", policies, "--regions", "us-east-1", "--format", "cloudformation"])
        #expect(template.status == 0 && template.stdout.contains("${AWS::AccountId}") && template.stdout.contains("AWS::IAM::ManagedPolicy"))
        let templateFile = cli.home.appendingPathComponent("template.json")
        try Data(template.stdout.utf8).write(to: templateFile)
        let cfnLint = try await cli.runProgram("/usr/bin/env", ["cfn-lint", templateFile.path])
        #expect(cfnLint.status == 0, "\(cfnLint.output)")
    }

    @Test func theDaemonAndConsumerPoliciesSufficeAndAreScoped() async throws {
        try await HeavyTests.oneAtATime {
            let cli = try CLI()
            let environment = "iam" + UUID().uuidString.lowercased().filter(\.isLetter).prefix(8)
            let policyFile = try Self.policyFile(environment, in: cli.home)
            let generated = try await cli.run(["iam", "policy", "--policies", policyFile.path, "--environment", environment, "--service", "shop",
                                               "--account", Self.account, "--region", "us-east-1", "--allow-create", "--format", "json"])
            #expect(generated.status == 0, "\(generated.stderr)")
            let moto = try await IAMMoto(policies: Data(generated.stdout.utf8))
            defer { moto.stop() }
            let daemon = try moto.credentials("rotor-daemon-\(environment)"), consumer = try moto.credentials("rotor-consumer-\(environment)-shop")

            // Secrets the policies do not give: another service's, another environment's (made by an admin).
            var admin = try CLI()
            admin.environment = Self.awsEnvironment(try moto.credentials("admin"))
            let other = "/\(environment)/billing/api-key/other", elsewhere = "/x\(environment)/shop/api-key/k1"
            for id in [other, elsewhere] { #expect(try await admin.run("secret", "create", id, "--rotator", "random-password").status == 0) }

            // Actions suffice: rotor with the daemon's policy creates, rotates (one by one and in a batch) and lists.
            var operator_ = cli
            operator_.environment = Self.awsEnvironment(daemon)
            let password = "/\(environment)/shop/api-key/k1", key = "/\(environment)/shop/encryption-key/data"
            for (id, rotator) in [(password, "random-password"), (key, "encryption-key")] {
                let created = try await operator_.run("secret", "create", id, "--rotator", rotator)
                #expect(created.status == 0, "\(created.stderr)")
                let rotated = try await operator_.run("rotate", id)
                #expect(rotated.status == 0, "\(rotated.stderr)")
            }
            #expect(try await operator_.run(["rotate", "--environment", environment, "--yes"]).status == 0)
            #expect(try await operator_.run("secret", "list", "--environment", environment).stdout.contains(key))

            // A consumer's agent with the service's policy reads, and revalidates after its TTL.
            try await Self.readThroughAgent(password, credentials: consumer, home: cli.home)

            // Resources are scoped: every recorded call is allowed by its own document; other secrets are not.
            let arn = { (id: String) in "arn:aws:secretsmanager:us-east-1:\(Self.account):secret:\(id)-AbCdEf" }
            let evaluation = try await moto.evaluate(probes: [
                ["policy": "rotor-daemon-\(environment)", "action": "secretsmanager:PutSecretValue", "resource": arn(password), "expect": "allow"],
                ["policy": "rotor-daemon-\(environment)", "action": "secretsmanager:PutSecretValue", "resource": arn(other), "expect": "deny"],
                ["policy": "rotor-daemon-\(environment)", "action": "secretsmanager:GetSecretValue", "resource": arn(elsewhere), "expect": "deny"],
                ["policy": "rotor-daemon-\(environment)", "action": "secretsmanager:PutSecretValue", "resource": arn("/\(environment)/billing/api-token/vendor"), "expect": "allow"],
                ["policy": "rotor-daemon-\(environment)", "action": "secretsmanager:PutSecretValue", "resource": arn("/\(environment)/billing/api-token/vendor-2"), "expect": "deny"],
                ["policy": "rotor-daemon-\(environment)", "action": "secretsmanager:ListSecrets", "resource": "*", "region": "eu-west-1", "expect": "deny"],
                ["policy": "rotor-daemon-\(environment)", "action": "secretsmanager:DeleteSecret", "resource": arn(password), "expect": "deny"],
                ["policy": "rotor-lambda-\(environment)", "action": "secretsmanager:PutSecretValue", "resource": arn("/\(environment)/billing/api-token/vendor"), "expect": "deny"],
                ["policy": "rotor-consumer-\(environment)-shop", "action": "secretsmanager:GetSecretValue", "resource": arn(password), "expect": "allow"],
                ["policy": "rotor-consumer-\(environment)-shop", "action": "secretsmanager:GetSecretValue", "resource": arn(other), "expect": "deny"],
                ["policy": "rotor-consumer-\(environment)-shop", "action": "secretsmanager:GetSecretValue", "resource": arn(elsewhere), "expect": "deny"],
                ["policy": "rotor-consumer-\(environment)-shop", "action": "secretsmanager:GetSecretValue", "resource": arn(password), "region": "eu-west-1", "expect": "deny"],
            ])
            #expect(evaluation.status == 0, "\(evaluation.output)")
            #expect(evaluation.output.contains("recorded rotor-daemon-\(environment): secretsmanager:UpdateSecretVersionStage"))
            #expect(evaluation.output.contains("recorded rotor-consumer-\(environment)-shop: secretsmanager:GetSecretValue"))

            // An action the policy omits is denied for real: a consumer cannot rotate.
            var intruder = try CLI()
            intruder.environment = Self.awsEnvironment(consumer)
            let refused = try await intruder.run("secret", "create", "/\(environment)/shop/api-key/k9", "--rotator", "random-password")
            #expect(refused.status == 6 && refused.stderr.contains("AccessDenied"), "\(refused.output)")
            }
    }

    /// Starts `rotor agent --store aws` with `credentials`, reads `id` twice across a 1 s TTL, stops it.
    static func readThroughAgent(_ id: String, credentials: MotoSettings.Settings, home: URL) async throws {
        let agentHome = home.appendingPathComponent("agent-home")
        try FileManager.default.createDirectory(at: agentHome, withIntermediateDirectories: true)
        let config = agentHome.appendingPathComponent("agent.toml")
        try "http_port = 0\nttl_seconds = 1\n".write(to: config, atomically: true, encoding: .utf8)
        let token = "agent-token-\(UUID().uuidString)"
        var environment = awsEnvironment(credentials)
        environment["AWS_TOKEN"] = token
        let agent = try DaemonProcess(home: agentHome, command: ["agent", "--config", config.path], environment: environment)
        defer { agent.signal(SIGTERM) }
        let port = try await agent.port()
        for pass in 0..<2 {
            if pass == 1 { try await Task.sleep(for: .milliseconds(1200)) }
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/secretsmanager/get?secretId=\(id)")
            request.headers.add(name: "X-Aws-Parameters-Secrets-Token", value: token)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status.code == 200, "agent read \(pass): HTTP \(response.status.code)")
        }
    }
}
