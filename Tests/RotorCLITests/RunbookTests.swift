import CryptoExtras
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
            "daemon-operations.md", "postgres-rotation.md", "lambda-deployment.md", "plugin-rotators.md", "cognito-app-client.md", "github-tokens.md",
            "emergency-rotation.md", "secrets-agent.md", "reload-hooks.md", "iam-policies.md", "observability.md", "multi-host.md",
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
        let github = markdown.contains("<!-- runbook-test: github -->") ? try await GitHubRunbookFixture() : nil
        defer { if let github { Task { await github.standIn.close() } } }
        let anthropic = markdown.contains("<!-- runbook-test: anthropic -->")
            ? try await AnthropicStandIn(directory: FileManager.default.temporaryDirectory.appendingPathComponent("rotor-runbook-\(UUID().uuidString)")) : nil
        defer { if let anthropic { Task { await anthropic.close() } } }
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
        if let github { environment.merge(try github.environment(writingFilesIn: cli.home)) { _, new in new } }
        if let anthropic { environment.merge(try Self.anthropicEnvironment(anthropic, writingFilesIn: cli.home)) { _, new in new } }
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

        // Canary: no credential the stand-ins know reaches the output or the databases in the clear.
        var credentials = github?.credentials ?? []
        credentials += cognito?.state.withLock { $0.everHeld } ?? []
        if anthropic != nil {
            credentials += ["anthropic-key", "anthropic-new-key"].compactMap { try? String(contentsOf: cli.home.appendingPathComponent($0), encoding: .utf8) }
        }
        let dump = try cli.databaseDump()
        for credential in credentials where credential.count >= 16 {
            #expect(!log.contains(credential) && !dump.contains(credential), "\(name): a credential was printed or stored in the clear")
        }
    }

    /// Two Anthropic keys the stand-in accepts, in files, and where it listens.
    static func anthropicEnvironment(_ anthropic: AnthropicStandIn, writingFilesIn home: URL) throws -> [String: String] {
        let (current, next) = ("sk-ant-api03-" + GitHubStandIn.randomText(40) + "AA", "sk-ant-api03-" + GitHubStandIn.randomText(40) + "AA")
        anthropic.active.withLock { $0 = [current, next] }
        try current.write(to: home.appendingPathComponent("anthropic-key"), atomically: true, encoding: .utf8)
        try next.write(to: home.appendingPathComponent("anthropic-new-key"), atomically: true, encoding: .utf8)
        return ["ANTHROPIC_API_URL": anthropic.url.absoluteString, "ANTHROPIC_CA_FILE": anthropic.caFile,
                "ANTHROPIC_KEY_FILE": home.appendingPathComponent("anthropic-key").path,
                "ANTHROPIC_NEW_KEY_FILE": home.appendingPathComponent("anthropic-new-key").path]
    }
}

/// GitHub's stand-in for the GitHub runbook: an App (id 12345, installation 42) whose key is in a
/// file, and two personal access tokens of one account, in files.
struct GitHubRunbookFixture {
    let key = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    let standIn: GitHubStandIn

    init() async throws {
        standIn = try await GitHubStandIn(publicKey: key.publicKey, issuers: ["12345"])
        standIn.state.withLock { $0.installations["42"] = .init(repositories: ["api", "web"], permissions: ["contents": "write", "metadata": "read"]) }
    }

    /// Every token GitHub issued or knows, and a line of the App's key.
    var credentials: [String] {
        standIn.state.withLock { Array($0.tokens.keys) } + [String(key.pemRepresentation.split(separator: "\n")[2])]
    }

    func environment(writingFilesIn home: URL) throws -> [String: String] {
        let (current, next) = ("ghp_" + GitHubStandIn.randomText(36), "ghp_" + GitHubStandIn.randomText(36))
        standIn.addUserToken(current, login: "octo-bot", scopes: ["repo"], expiresAt: Date().addingTimeInterval(30 * 86_400))
        standIn.addUserToken(next, login: "octo-bot", scopes: ["repo"], expiresAt: Date().addingTimeInterval(90 * 86_400))
        let files = ["app.pem": key.pemRepresentation, "pat": current, "new-pat": next]
        for (name, text) in files { try text.write(to: home.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return ["GITHUB_API_URL": standIn.baseURL, "GITHUB_APP_ID": "12345", "GITHUB_INSTALLATION_ID": "42",
                "GITHUB_APP_KEY_FILE": home.appendingPathComponent("app.pem").path, "GITHUB_PAT_FILE": home.appendingPathComponent("pat").path,
                "GITHUB_NEW_PAT_FILE": home.appendingPathComponent("new-pat").path]
    }
}
