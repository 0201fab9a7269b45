import Foundation
import RotorTestSupport
import Testing

/// Runs every `sh` block of every runbook, in order, in a scratch home with `rotor` on PATH.
@Suite struct RunbookTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("runbooks")

    static var runbooks: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".md") && $0 != "README.md" }.sorted()
    }

    static func shellBlocks(_ markdown: String) -> [String] {
        var blocks: [String] = []
        var current: [String]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```sh" { current = [] } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else { current?.append(String(line)) }
        }
        return blocks
    }

    @Test func everyOperatorRunbookExists() {
        #expect(Set(Self.runbooks).isSuperset(of: [
            "rollback.md", "failed-or-quarantined-rotation.md", "manual-rotation.md", "aws-setup.md", "stuck-pending-version.md",
            "daemon-operations.md", "postgres-rotation.md", "lambda-deployment.md", "plugin-rotators.md", "cognito-app-client.md",
        ]))
    }

    @Test(arguments: runbooks)
    func runbookCommandsWork(name: String) async throws {
        let markdown = try String(contentsOf: Self.directory.appendingPathComponent(name), encoding: .utf8)
        let needsMoto = markdown.contains("<!-- runbook-test: moto -->")
        let needsPostgres = markdown.contains("<!-- runbook-test: postgres -->")
        let needsRedis = markdown.contains("<!-- runbook-test: redis -->")
        // Cognito's client-secret API runs nowhere here: the stand-in serves the runbook's aws and rotor commands.
        let cognito = markdown.contains("<!-- runbook-test: cognito -->") ? try await CognitoStandIn() : nil
        defer { if let cognito { Task { await cognito.close() } } }
        let processEnvironment = ProcessInfo.processInfo.environment
        if (needsMoto && processEnvironment["ROTOR_TEST_MOTO_ENDPOINT"] == nil) || (needsPostgres && processEnvironment["ROTOR_TEST_PG_PORT"] == nil)
            || (needsRedis && processEnvironment["ROTOR_TEST_REDIS_PORT"] == nil) {
            #expect(processEnvironment["ROTOR_REQUIRE_INTEGRATION"] != "1", "\(name) needs a service that make test starts")
            return
        }
        let blocks = Self.shellBlocks(markdown)
        #expect(!blocks.isEmpty, "\(name) has no sh blocks")
        let cli = try CLI()
        let script = "set -euo pipefail\n" + blocks.joined(separator: "\n")
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script]
        process.currentDirectoryURL = cli.home
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = CLI.binary.deletingLastPathComponent().path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["ROTOR_HOME"] = cli.home.path
        environment.removeValue(forKey: "ROTOR_MASTER_KEY")
        environment["ROTOR_RUNBOOK_POLICIES"] = Self.directory.deletingLastPathComponent().appendingPathComponent("schedules").path
        environment["ROTOR_REPOSITORY"] = Self.directory.deletingLastPathComponent().path
        if needsPostgres {
            environment["PGHOST"] = processEnvironment["ROTOR_TEST_PG_HOST"]
            environment["PGPORT"] = processEnvironment["ROTOR_TEST_PG_PORT"]
            environment["PGUSER"] = processEnvironment["ROTOR_TEST_PG_USER"]
            environment["PGPASSWORD"] = processEnvironment["ROTOR_TEST_PG_PASSWORD"]
            environment["PGSSLROOTCERT"] = processEnvironment["ROTOR_TEST_PG_CA"]
        }
        if needsRedis {
            environment["REDIS_PORT"] = processEnvironment["ROTOR_TEST_REDIS_PORT"]
            environment["REDIS_ADMIN_USER"] = processEnvironment["ROTOR_TEST_REDIS_ADMIN_USER"]
            environment["REDIS_ADMIN_PASSWORD_FILE"] = processEnvironment["ROTOR_TEST_REDIS_ADMIN_PASSWORD_FILE"]
            try Redis.prepareRunbookUser()
        }
        if needsMoto {
            environment["AWS_ENDPOINT_URL"] = processEnvironment["ROTOR_TEST_MOTO_ENDPOINT"]
            environment["AWS_ACCESS_KEY_ID"] = processEnvironment["ROTOR_TEST_MOTO_ACCESS_KEY_ID"]
            environment["AWS_SECRET_ACCESS_KEY"] = processEnvironment["ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"]
            environment["AWS_REGION"] = "us-east-1"
            environment["AWS_DEFAULT_REGION"] = "us-east-1"
        }
        if let cognito {
            let clientID = "runbookClient1"
            _ = cognito.addClient(clientID, secret: "RunbookInitialSecret0123456789")
            environment.merge(cognito.environment) { _, new in new }
            environment["COGNITO_USER_POOL_ID"] = cognito.poolID
            environment["COGNITO_CLIENT_ID"] = clientID
            environment["COGNITO_TOKEN_ENDPOINT"] = cognito.tokenEndpoint
            environment["AWS_DEFAULT_REGION"] = cognito.region
        }
        process.environment = environment
        let output = cli.home.appendingPathComponent("runbook.log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        await process.exited()
        let log = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "\(name) failed:\n\(log)")
    }
}
