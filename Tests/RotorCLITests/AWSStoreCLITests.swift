import Foundation
import Testing

/// The CLI against Secrets Manager (moto_server, authentication on), as an operator would use it.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ROTOR_TEST_MOTO_ENDPOINT"] != nil
                || ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] == "1", "moto_server runs under 'make test'"))
struct AWSStoreCLITests {
    func cli() async throws -> CLI {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["ROTOR_TEST_MOTO_ENDPOINT"] else { throw CLIError.motoMissing }
        var cli = try CLI()
        cli.environment = [
            "ROTOR_STORE": "aws", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
            "AWS_ACCESS_KEY_ID": env["ROTOR_TEST_MOTO_ACCESS_KEY_ID"] ?? "", "AWS_SECRET_ACCESS_KEY": env["ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"] ?? "",
        ]
        return cli
    }

    enum CLIError: Error { case motoMissing }

    static let environment = "t" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)

    @Test func createRotateDescribeListGetAndHistoryOnSecretsManager() async throws {
        let cli = try await cli()
        let marker = "CANARY-aws-\(UUID().uuidString.prefix(8))"
        let id = "/\(Self.environment)/claude-sdk/api-key/anthropic-key"
        #expect(try await cli.run("secret", "create", id, "--rotator", "manual", "--option", "pattern=sk-ant-.+", "--value-stdin", stdin: "sk-ant-\(marker)-0").status == 0)
        #expect(try await cli.run("rotate", id, "--value-stdin", stdin: "sk-ant-\(marker)-1").status == 0)
        #expect(try await cli.run("rotate", id, "--value-stdin", stdin: "wrong-\(marker)").status == 4)
        let describe = try await cli.run("secret", "describe", id, "--json")
        #expect(describe.status == 0 && describe.stdout.contains("AWSPREVIOUS"))
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:\(id)-AbCdEf"
        #expect(try await cli.run("secret", "get", arn).stdout == "sk-ant-\(marker)-1\n")
        let list = try await cli.run("secret", "list", "--environment", Self.environment)
        #expect(list.stdout.contains(id) && list.stdout.contains("rotator=manual"))
        #expect(try await cli.run("history", id).stdout.contains("rolled-back"))
        let audit = try await cli.run("audit", id)
        #expect(audit.stdout.contains("aws.PutSecretValue") && audit.stdout.contains("request id"))
        #expect(!cli.everythingPrinted.contains(marker))
        for (name, bytes) in try cli.allFileBytes() {
            #expect(bytes.range(of: Data(marker.utf8)) == nil, "canary in \(name)")
        }
    }

    @Test func existingSecretsAreManagedWithoutChangingThem() async throws {
        let cli = try await cli()
        let id = "/\(Self.environment)/orders/db-credentials/app"
        // Created by another tool: rotor only registers it.
        #expect(try await cli.run("secret", "create", id, "--rotator", "random-password").status == 0)
        let fresh = try CLI()
        var other = fresh
        other.environment = cli.environment
        let before = try await other.run("secret", "get", id).stdout
        #expect(try await other.run("rotate", id).status == 3)
        #expect(try await other.run("secret", "manage", id, "--rotator", "random-password", "--option", "length=20").status == 0)
        #expect(try await other.run("secret", "get", id).stdout == before)
        #expect(try await other.run("rotate", id).status == 0)
        #expect(try await other.run("secret", "get", id).stdout.count == 21)
    }

    @Test func wrongCredentialsAndMissingRegionAreClearErrors() async throws {
        var cli = try await cli()
        cli.environment["AWS_SECRET_ACCESS_KEY"] = "wrong-secret"
        let denied = try await cli.run("secret", "list")
        #expect(denied.status == 6 && denied.stderr.contains("SignatureDoesNotMatch"))
        cli.environment["AWS_REGION"] = nil
        cli.environment["HOME"] = cli.home.path
        let noRegion = try await cli.run("secret", "list")
        #expect(noRegion.status == 64 && noRegion.stderr.contains("no AWS region"))
    }
}
