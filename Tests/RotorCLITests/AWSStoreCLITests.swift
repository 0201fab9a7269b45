import Foundation
import RotorTestSupport
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

    @Test func aBatchRotatesManySecretsInSecretsManager() async throws {
        let cli = try await cli()
        let environment = "b" + UUID().uuidString.lowercased().filter(\.isLetter).prefix(10)
        for n in 0..<12 {
            let id = n == 0 ? "/\(environment)/shop/encryption-key/data" : "/\(environment)/shop/api-key/k\(n)"
            #expect(try await cli.run("secret", "create", id, "--rotator", n == 0 ? "encryption-key" : "random-password").status == 0)
        }
        let batch = try await cli.run("rotate", "--environment", environment, "--yes", "--json")
        #expect(batch.status == 0, "\(batch.stderr)")
        let lines = batch.stdout.split(separator: "\n").filter { $0.contains("\"outcome\":\"rotated\"") }
        #expect(lines.count == 12)
        let describe = try await cli.run("secret", "describe", "/\(environment)/shop/api-key/k3", "--json")
        #expect(describe.stdout.contains("AWSPREVIOUS") && !describe.stdout.contains("AWSPENDING"))
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

    /// Runs the aws CLI against moto with the test's credentials (its output holds no value: only
    /// rotate-secret is used).
    func aws(_ cli: CLI, _ arguments: [String]) async throws -> Int32 {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["aws"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["AWS_ENDPOINT_URL"] = cli.environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
        env["AWS_ACCESS_KEY_ID"] = cli.environment["AWS_ACCESS_KEY_ID"]
        env["AWS_SECRET_ACCESS_KEY"] = cli.environment["AWS_SECRET_ACCESS_KEY"]
        env["AWS_REGION"] = "us-east-1"
        env["AWS_DEFAULT_REGION"] = "us-east-1"
        env["AWS_MAX_ATTEMPTS"] = "1"
        process.environment = env
        try process.run()
        await process.exited()
        return process.terminationStatus
    }

    /// What Secrets Manager's RotateSecret leaves when its rotation function never ran: an empty
    /// AWSPENDING version whose id is the token (moto makes it, then fails to invoke the function).
    func startRotationWithoutAFunction(_ cli: CLI, _ id: String) async throws -> String {
        let token = UUID().uuidString.lowercased()
        _ = try await aws(cli, [
            "secretsmanager", "rotate-secret", "--secret-id", id, "--client-request-token", token,
            "--rotation-lambda-arn", "arn:aws:lambda:us-east-1:123456789012:function:absent", "--rotation-rules", "AutomaticallyAfterDays=30",
        ])
        return token
    }

    /// The secret's versions and their labels, as `rotor secret describe --json` shows them.
    func labels(_ cli: CLI, _ id: String) async throws -> [String: Set<String>] {
        let describe = try await cli.run("secret", "describe", id, "--json")
        let object = try JSONSerialization.jsonObject(with: Data(describe.stdout.utf8)) as? [String: Any]
        let versions = object?["VersionIdsToStages"] as? [String: [String]] ?? [:]
        return versions.mapValues(Set.init).filter { !$0.value.isEmpty }
    }

    /// A secret whose AWSPENDING is RotateSecret's empty placeholder. Without --stuck-pending resume,
    /// rotor refuses and changes nothing; with it, rotor fills the placeholder (createSecret), tests
    /// it and only then moves AWSCURRENT to it, leaving no AWSPENDING and no ROTOR_TESTED. A repeated
    /// run finds nothing stuck: it rotates afresh, and the adopted version becomes AWSPREVIOUS.
    @Test func aStuckEmptyPlaceholderIsRefusedThenFilledAndTestedWhenResumed() async throws {
        let cli = try await cli()
        let id = "/\(Self.environment)/orders/db-credentials/stuck-placeholder"
        #expect(try await cli.run("secret", "create", id, "--rotator", "random-password").status == 0)
        let before = try await labels(cli, id)
        let original = try #require(before.first { $0.value.contains("AWSCURRENT") }?.key)
        let originalValue = try await cli.run("secret", "get", id).stdout
        let token = try await startRotationWithoutAFunction(cli, id)
        let stuck = try await labels(cli, id)
        #expect(stuck[token] == ["AWSPENDING"] && stuck[original] == ["AWSCURRENT"], "\(stuck)")
        #expect(try await cli.run("secret", "get", id, "--version-id", token).status == 3, "the placeholder has no value")

        let refused = try await cli.run("rotate", id)
        #expect(refused.status == 4 && refused.stderr.contains("previous rotation isn't complete") && refused.stderr.contains(token), "\(refused.output)")
        #expect(try await labels(cli, id) == stuck, "the refusal changed no label")
        let unchanged = try await cli.run("secret", "get", id).stdout == originalValue
        #expect(unchanged, "AWSCURRENT keeps its value")
        #expect(!(try await cli.run("history", id).stdout.contains(token)), "no rotation was started")

        let resumed = try await cli.run("rotate", id, "--stuck-pending", "resume", "--json")
        #expect(resumed.status == 0, "\(resumed.output)")
        let report = try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(report["token"] as? String == token && report["resumed"] as? Bool == true, "\(resumed.stdout)")
        let steps = (report["steps"] as? [[String: Any]] ?? []).map { "\($0["step"] ?? ""):\($0["outcome"] ?? "")" }
        #expect(steps.starts(with: ["createSecret:succeeded"]) && steps.contains("testSecret:succeeded") && steps.last == "finishSecret:succeeded", "\(steps)")
        let after = try await labels(cli, id)
        #expect(after[token] == ["AWSCURRENT"] && after[original] == ["AWSPREVIOUS"] && after.count == 2, "\(after)")
        let promoted = try await cli.run("secret", "get", id).stdout
        let fresh = promoted.count > 1 && promoted != originalValue
        #expect(fresh, "AWSCURRENT is on a version with a new value")
        let filled = try await cli.run("secret", "get", id, "--version-id", token).stdout == promoted
        #expect(filled, "that version is the filled placeholder")

        // Repeated: nothing is stuck any more; a fresh rotation, and the adopted version (with its value) is AWSPREVIOUS.
        let again = try await cli.run("rotate", id, "--stuck-pending", "resume", "--json")
        #expect(again.status == 0, "\(again.output)")
        let second = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(second["token"] as? String != token && second["resumed"] as? Bool == false, "\(again.stdout)")
        let final = try await labels(cli, id)
        #expect(final[token] == ["AWSPREVIOUS"] && final.values.filter { $0.contains("AWSCURRENT") }.count == 1, "\(final)")
        #expect(!final.values.contains { $0.contains("ROTOR_TESTED") || $0.contains("AWSPENDING") }, "\(final)")
        let leaked = cli.everythingPrinted.contains(originalValue.trimmingCharacters(in: .newlines))
        #expect(!leaked, "no value in rotor's output")
    }

    /// rotor killed (SIGKILL) at each journal and label boundary while it fills and promotes an adopted
    /// placeholder; the next plain `rotor rotate` resumes the same token from its journal and ends
    /// with AWSCURRENT on it, with a value, and no AWSPENDING or ROTOR_TESTED left.
    @Test(arguments: ["intent:createSecret", "put", "intent:finishSecret", "label:AWSCURRENT"])
    func anAdoptedPlaceholderSurvivesACrashAtEveryBoundary(point: String) async throws {
        let cli = try await cli()
        let id = "/\(Self.environment)/orders/db-credentials/stuck-\(point.replacingOccurrences(of: ":", with: "-").lowercased())"
        #expect(try await cli.run("secret", "create", id, "--rotator", "random-password").status == 0)
        let token = try await startRotationWithoutAFunction(cli, id)
        let killed = try await cli.run(["rotate", id, "--stuck-pending", "resume"], extraEnvironment: ["ROTOR_FAULT_KILL_AT": point])
        #expect(killed.status != 0, "\(point): \(killed.output)")
        let resumed = try await cli.run("rotate", id, "--json")
        #expect(resumed.status == 0, "\(point): \(resumed.output)")
        let report = try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(report["token"] as? String == token && report["resumed"] as? Bool == true, "\(point): \(resumed.stdout)")
        let after = try await labels(cli, id)
        #expect(after[token] == ["AWSCURRENT"] && after.count == 2, "\(point): \(after)")
        #expect(!after.values.contains { $0.contains("ROTOR_TESTED") || $0.contains("AWSPENDING") }, "\(point): \(after)")
        let hasValue = try await cli.run("secret", "get", id).stdout.count > 1
        #expect(hasValue, "AWSCURRENT has a value")
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
