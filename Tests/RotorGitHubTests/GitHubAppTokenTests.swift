import CryptoExtras
import Foundation
import Testing
import RotorCore
import RotorGitHub
import RotorHTTP
import RotorTestSupport

/// A rotation engine over in-memory stores that knows the GitHub rotators, with logs captured.
struct GitHubKit {
    let store = InMemorySecretStore()
    let state = InMemoryStateStore()
    let logs = CapturedLogs()
    let engine: RotationEngine

    init(attempts: Int = 2, builtIns: Bool = false) {
        var registry = builtIns ? RotatorRegistry.builtIn : RotatorRegistry()
        RotatorRegistry.gitHubDescriptors.forEach { registry.register($0) }
        engine = RotationEngine(
            store: store, state: state, rotators: registry.withProbes(),
            configuration: EngineConfiguration(retry: RetryPolicy(attemptsPerRun: attempts, initialBackoff: .milliseconds(1), maximumBackoff: .milliseconds(1))),
            logger: logs.logger)
    }

    /// The same engine over another store (a killing decorator of ``store``), sharing the journal.
    func engine(over other: any SecretStore) -> RotationEngine {
        RotationEngine(store: other, state: state, rotators: engine.rotators, configuration: engine.configuration, logger: logs.logger)
    }

    func current(_ id: SecretID) async throws -> [String: Any] {
        let text = try await store.getSecretValue(id, .current).value.exposedString ?? ""
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    /// What the report says of the failure: its error and every step's note.
    static func trace(_ report: RotationReport) -> String {
        ([report.error?.description ?? ""] + report.steps.compactMap(\.note)).joined(separator: "\n")
    }

    /// Nothing printable carries any of these values: not the log, the audit log or the error.
    func expectNoneOf(_ values: [String], in report: RotationReport? = nil, sourceLocation: Testing.SourceLocation = #_sourceLocation) async {
        let audit = await state.auditEvents(of: nil, limit: 10_000).map { "\($0.operation) \($0.outcome) \($0.detail ?? "")" }
        let printed = (logs.all + audit).joined(separator: "\n") + (report.map { "\($0) \(String(describing: $0.error))" } ?? "")
        for value in values where !value.isEmpty { #expect(!printed.contains(value), "a value was printed", sourceLocation: sourceLocation) }
    }
}

@Suite struct GitHubAppTokenTests {
    let id = try! SecretID("/prod/github-integration/app-token/deployments")
    let keyID = try! SecretID("/prod/github-integration/app-key/private-key")
    let appKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)

    func setUp(prefix: String = "", permissions: [String: String] = ["contents": "read"], repositories: [String] = ["api"],
               revokePrevious: Bool = false, storedKey: String? = nil) async throws -> (GitHubKit, GitHubStandIn) {
        let github = try await GitHubStandIn(publicKey: appKey.publicKey, issuers: ["12345", "Iv1.8a61f9b3a7aba766"], prefix: prefix)
        github.state.withLock { $0.installations["42"] = .init(repositories: ["api", "web"], permissions: ["contents": "write", "metadata": "read"]) }
        let kit = GitHubKit()
        _ = try await kit.store.createSecret(CreateSecretInput(id: keyID, initialValue: SecretValue(string: storedKey ?? appKey.pemRepresentation)))
        let value: [String: Any] = ["appId": 12345, "installationId": 42, "baseUrl": github.baseURL, "permissions": permissions, "repositories": repositories]
        let text = String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        try await kit.engine.createManagedSecret(id, rotator: "github-app-token", options: RotatorOptions([
            "private-key-secret": keyID.rawValue, "revoke-previous": "\(revokePrevious)",
        ]), initialValue: SecretValue(string: text))
        return (kit, github)
    }

    @Test(arguments: ["", "/api/v3"])
    func aRotationIssuesAnInstallationTokenThatWorks(prefix: String) async throws {
        let (kit, github) = try await setUp(prefix: prefix)
        defer { Task { await github.close() } }
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .succeeded, "\(String(describing: report.error))")
        let value = try await kit.current(id)
        let token = try #require(value["token"] as? String)
        #expect(token.hasPrefix("ghs_") && github.isLive(token))
        #expect(value["expiresAt"] is String && value["baseUrl"] as? String == github.baseURL)
        let expiry = try #require(try await kit.engine.state.managedSecret(id)?.credentialExpiresAt)
        #expect(expiry > Date().addingTimeInterval(55 * 60) && expiry < Date().addingTimeInterval(61 * 60))
        #expect(github.log.contains("POST \(prefix)/app/installations/42/access_tokens") && github.log.contains("GET \(prefix)/installation/repositories"))
        await kit.expectNoneOf([token, appKey.pemRepresentation], in: report)
    }

    @Test func thePreviousTokenIsRevokedOnlyWhenAskedAndTheAbandonedOneOnRollback() async throws {
        let (kit, github) = try await setUp(revokePrevious: true)
        defer { Task { await github.close() } }
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
        let first = try #require(try await kit.current(id)["token"] as? String)
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
        let second = try #require(try await kit.current(id)["token"] as? String)
        #expect(!github.isLive(first) && github.isLive(second))

        // The next token's test fails: rolled back, the abandoned token revoked, the current one untouched.
        github.state.withLock { $0.refuseListings = 1 }
        let failed = try await kit.engine.rotate(id)
        #expect(failed.outcome == .rolledBack)
        #expect(try await kit.current(id)["token"] as? String == second && github.isLive(second))
        let abandoned = try #require(github.state.withLock { $0.issued.last })
        #expect(abandoned != second && !github.isLive(abandoned))
    }

    @Test func aKeyOfAnotherAppIsRefusedAndChangesNothing() async throws {
        let other = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let (kit, github) = try await setUp(storedKey: other.pemRepresentation)
        defer { Task { await github.close() } }
        let before = try await kit.store.describeSecret(id).versions.count
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .rolledBack && GitHubKit.trace(report).contains("createSecret failed: GitHub refused"))
        #expect(GitHubKit.trace(report).contains("HTTP 401") && GitHubKit.trace(report).contains(keyID.rawValue))
        #expect(try await kit.store.describeSecret(id).versions.count == before)
        await kit.expectNoneOf([other.pemRepresentation], in: report)
    }

    @Test(arguments: ["not a key", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"])
    func aMalformedPrivateKeyIsAClearError(stored: String) async throws {
        let (kit, github) = try await setUp(storedKey: stored)
        defer { Task { await github.close() } }
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .rolledBack && GitHubKit.trace(report).contains("\(keyID) does not hold a GitHub App private key"))
        #expect(!github.log.contains { $0.contains("access_tokens") })
        await kit.expectNoneOf([stored], in: report)
    }

    @Test func permissionsOutsideTheGrantAreRefused() async throws {
        let (kit, github) = try await setUp(permissions: ["administration": "write"])
        defer { Task { await github.close() } }
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .rolledBack && GitHubKit.trace(report).contains("HTTP 422"))
        #expect(try await kit.current(id)["token"] == nil)
    }

    @Test func aValueEditedToPointElsewhereIsRefused() async throws {
        let (kit, github) = try await setUp()
        defer { Task { await github.close() } }
        // Someone with write access to this secret points it at their own server to collect the App's JWT.
        var value = try await kit.current(id)
        value["baseUrl"] = "https://github.attacker.example"
        let text = String(decoding: try JSONSerialization.data(withJSONObject: value), as: UTF8.self)
        _ = try await kit.store.putSecretValue(PutSecretValueInput(id: id, token: "aaaaaaaa-0000-4000-8000-00000000000e", value: SecretValue(string: text), stages: [.current]))
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .rolledBack && GitHubKit.trace(report).contains("base-url differs"))
        #expect(github.log.isEmpty)
    }

    @Test func aJWTOutsideGitHubsTimeLimitsIsRefused() async throws {
        let (kit, github) = try await setUp()
        defer { Task { await github.close() } }
        github.state.withLock { $0.skew = 600 } // GitHub's clock is 10 minutes ahead: the JWT has expired
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .rolledBack && GitHubKit.trace(report).contains("in the past"))
        github.state.withLock { $0.skew = 0 }
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
    }

    @Test func aRateLimitIsWaitedOutOnceThenLeftToTheEnginesBackoff() async throws {
        let (kit, github) = try await setUp()
        defer { Task { await github.close() } }
        github.script(github.error(429, "You have exceeded a secondary rate limit"))
        github.script(.respond(status: 403, headers: [("retry-after", "1")], body: Array(#"{"message":"secondary rate limit"}"#.utf8)))
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
        // A primary limit that resets in an hour: transient, no tight loop (one request per attempt).
        let reset = "\(Int(Date().timeIntervalSince1970) + 3600)"
        let limited = LoopbackHTTPServer.Reply.respond(status: 403, headers: [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset)],
                                                       body: Array(#"{"message":"API rate limit exceeded"}"#.utf8))
        github.script(limited, limited)
        let before = github.log.count
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome != .succeeded && GitHubKit.trace(report).contains("rate-limited"))
        #expect(github.log.count - before == 2, "\(github.log)")
    }

    /// A batch rotates the App's key secret before the token secrets signed with it.
    @Test func theTokenSecretUsesTheKeySecret() async throws {
        let kit = GitHubKit()
        let rotator = try kit.engine.rotators.make("github-app-token", options: RotatorOptions(["private-key-secret": keyID.rawValue]))
        let used = try await rotator.secretsUsed(of: id) { throw RotorError(.invalidInput, "the value is not read") }
        #expect(used.map(\.secret) == [keyID.rawValue] && used.first?.why.contains("private-key-secret") == true)
    }

    @Test func optionsAreCheckedWhenTheRotatorIsBuilt() async throws {
        let kit = GitHubKit()
        #expect(throws: RotorError.self) { try kit.engine.rotators.make("github-app-token", options: RotatorOptions([:])) }
        #expect(throws: RotorError.self) {
            try kit.engine.rotators.make("github-app-token", options: RotatorOptions(["private-key-secret": keyID.rawValue, "base-url": "http://github.example.com"]))
        }
    }

    /// Killed at each write of the rotation (before and after it reached the store), the next run
    /// resumes with the same token and ends with one working token; the previous one revoked.
    @Test(arguments: [(1, false), (1, true), (2, false), (2, true)])
    func aRotationKilledAtAnyWriteResumesToOneWorkingToken(write: Int, afterWrite: Bool) async throws {
        let (kit, github) = try await setUp(revokePrevious: true)
        defer { Task { await github.close() } }
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
        let first = try #require(try await kit.current(id)["token"] as? String)
        let killing = KillingSecretStore(base: kit.store, killAtWrite: write, afterWrite: afterWrite)
        _ = try? await kit.engine(over: killing).rotate(id)
        #expect(killing.killed)
        let resumed = try await kit.engine.rotate(id)
        #expect(resumed.outcome == .succeeded, "\(GitHubKit.trace(resumed))")
        let token = try #require(try await kit.current(id)["token"] as? String)
        #expect(token != first && github.isLive(token) && !github.isLive(first))
        #expect(try await kit.engine.rotate(id).outcome == .succeeded, "a repeated run is clean")
    }
}
