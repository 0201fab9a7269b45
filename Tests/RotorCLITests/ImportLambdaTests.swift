import Foundation
import RotorTestSupport
import Testing

/// `rotor import env --from-lambda` against moto: the function's variables (read with
/// GetFunctionConfiguration) become secrets in Secrets Manager, never printed. moto rejects every
/// SigV4 signature on Lambda's REST paths while its authentication is on (botocore's too), so Lambda
/// is served by a second moto_server without authentication; the secrets go to the usual one.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ROTOR_TEST_MOTO_ENDPOINT"] != nil
                || ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] == "1", "moto_server runs under 'make test'"))
struct ImportLambdaTests {
    /// A moto_server of its own (no authentication) for Lambda, stopped at the end.
    final class LambdaMoto: @unchecked Sendable {
        let process = ChildProcess()
        let port: Int

        init() async throws {
            port = try LoopbackPort.free()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", "\(port)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            for _ in 0..<100 {
                if try await ImportLambdaTests.run(["aws", "iam", "list-roles"], endpoint: "http://127.0.0.1:\(port)") == 0 { return }
                try await Task.sleep(for: .milliseconds(200))
            }
        }

        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitPolling()
        }
    }

    func aws(_ arguments: [String], endpoint: String) async throws -> Int32 { try await Self.run(["aws"] + arguments, endpoint: endpoint) }

    static func run(_ arguments: [String], endpoint: String) async throws -> Int32 {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["AWS_ENDPOINT_URL"] = endpoint
        env["AWS_ACCESS_KEY_ID"] = "testing"
        env["AWS_SECRET_ACCESS_KEY"] = "testing"
        env["AWS_DEFAULT_REGION"] = "us-east-1"
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        await process.exited()
        return process.terminationStatus
    }

    @Test func aFunctionsCredentialsMoveIntoSecretsManager() async throws {
        let env = ProcessInfo.processInfo.environment
        let endpoint = try #require(env["ROTOR_TEST_MOTO_ENDPOINT"])
        let lambda = try await LambdaMoto()
        defer { lambda.stop() }
        let lambdaURL = "http://127.0.0.1:\(lambda.port)"
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-import-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let zip = work.appendingPathComponent("f.zip")
        #expect(try await Self.run(["python3", "-c", "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w'); z.writestr('f.py','def h(e,c): pass'); z.close()",
                                    zip.path], endpoint: lambdaURL) == 0)
        #expect(try await aws(["iam", "create-role", "--role-name", "orders-fn", "--assume-role-policy-document",
                               #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#],
                              endpoint: lambdaURL) == 0)
        #expect(try await aws(["lambda", "create-function", "--function-name", "orders-fn", "--runtime", "python3.12", "--handler", "f.h",
                               "--role", "arn:aws:iam::123456789012:role/orders-fn", "--zip-file", "fileb://\(zip.path)",
                               "--environment", "Variables={GITHUB_TOKEN=CANARY-lambda-ghp,LOG_LEVEL=info}"], endpoint: lambdaURL) == 0)

        var cli = try CLI()
        let environment = "l" + UUID().uuidString.lowercased().filter(\.isLetter).prefix(10)
        cli.environment = [
            "ROTOR_STORE": "aws", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint, "AWS_ENDPOINT_URL_LAMBDA": lambdaURL,
            "AWS_ACCESS_KEY_ID": env["ROTOR_TEST_MOTO_ACCESS_KEY_ID"] ?? "", "AWS_SECRET_ACCESS_KEY": env["ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"] ?? "",
        ]
        let result = try await cli.run("import", "env", "--from-lambda", "orders-fn", "--environment", environment, "--service", "orders", "--apply")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("GITHUB_TOKEN -> /\(environment)/orders/api-token/github-token  created"))
        #expect(try await cli.run("secret", "get", "/\(environment)/orders/api-token/github-token").stdout == "CANARY-lambda-ghp\n")
        let missing = try await cli.run("import", "env", "--from-lambda", "no-such-fn", "--environment", environment, "--service", "orders")
        #expect(missing.status != 0 && missing.stderr.contains("GetFunctionConfiguration"))
        #expect(!(result.stdout + result.stderr + missing.stderr).contains("CANARY"))
    }
}
