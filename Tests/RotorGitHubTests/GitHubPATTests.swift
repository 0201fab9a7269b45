import CryptoExtras
import Foundation
import Testing
import RotorCore
@testable import RotorGitHub
import RotorTestSupport

/// Assisted rotation of personal access tokens against the GitHub stand-in.
@Suite struct GitHubPATTests {
    let id = try! SecretID("/prod/github-integration/api-token/personal-access-token")
    let oldToken = "ghp_" + GitHubStandIn.randomText(36)
    let newToken = "ghp_" + GitHubStandIn.randomText(36)

    func setUp() async throws -> (GitHubKit, GitHubStandIn) {
        let github = try await GitHubStandIn(publicKey: try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey, issuers: [])
        github.addUserToken(oldToken, login: "octo-bot", scopes: ["repo", "admin:repo_hook"], expiresAt: Date().addingTimeInterval(5 * 86_400))
        let kit = GitHubKit()
        let value = #"{"token":"\#(oldToken)","username":"octo-bot","permissions":["repo","read:repo_hook"]}"#
        try await kit.engine.createManagedSecret(id, rotator: "github-pat", options: RotatorOptions(["base-url": github.baseURL]),
                                                 initialValue: SecretValue(string: value))
        return (kit, github)
    }

    @Test func aSuppliedTokenIsVerifiedItsExpiryRecordedAndThePreviousRevoked() async throws {
        let (kit, github) = try await setUp()
        defer { Task { await github.close() } }
        let expiry = Date().addingTimeInterval(90 * 86_400)
        github.addUserToken(newToken, login: "octo-bot", scopes: ["repo", "write:repo_hook", "read:org"], expiresAt: expiry)
        let report = try await kit.engine.rotate(id, suppliedValue: SecretValue(string: newToken + "\n"))
        #expect(report.outcome == .succeeded, "\(String(describing: report.error))")
        let value = try await kit.current(id)
        #expect(value["token"] as? String == newToken && value["username"] as? String == "octo-bot")
        let recorded = try #require((value["expiresAt"] as? String).flatMap { try? Date($0, strategy: .iso8601) })
        #expect(abs(recorded.timeIntervalSince(expiry)) < 2)
        // The planner's reminders and maximum age follow the token's real expiry.
        let managed = try #require(try await kit.engine.state.managedSecret(id))
        #expect(abs((managed.credentialExpiresAt ?? .distantPast).timeIntervalSince(expiry)) < 2)
        #expect(!github.isLive(oldToken) && github.isLive(newToken))
        #expect(github.log.contains("POST /credentials/revoke"))
        // The revocation and its proof are in the audit log, without the token.
        let audit = try await kit.engine.state.auditEvents(of: id, limit: 10)
        let revocation = try #require(audit.first { $0.operation == "github.revoke-previous" })
        #expect(revocation.outcome == "succeeded" && (revocation.detail ?? "").contains("answers 401") && !(revocation.detail ?? "").contains(oldToken))
        #expect(kit.logs.all.contains { $0.contains("proved it dead") })
        await kit.expectNoneOf([oldToken, newToken], in: report)
    }

    @Test func withoutASuppliedTokenTheOperatorIsToldWhatToDo() async throws {
        let (kit, github) = try await setUp()
        defer { Task { await github.close() } }
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .rolledBack && GitHubKit.trace(report).contains("--value-stdin"))
    }

    enum Bad: String, CaseIterable { case otherAccount, missingScope, expiresSoon, notAToken, unknownToken }

    @Test(arguments: Bad.allCases)
    func aBadTokenIsRefusedAndChangesNothing(_ bad: Bad) async throws {
        let (kit, github) = try await setUp()
        defer { Task { await github.close() } }
        var supplied = newToken
        switch bad {
        case .otherAccount: github.addUserToken(newToken, login: "mallory", scopes: ["repo", "admin:repo_hook"], expiresAt: nil)
        case .missingScope: github.addUserToken(newToken, login: "octo-bot", scopes: ["public_repo"], expiresAt: nil)
        case .expiresSoon: github.addUserToken(newToken, login: "octo-bot", scopes: ["repo", "admin:repo_hook"], expiresAt: Date().addingTimeInterval(3 * 86_400))
        case .notAToken: supplied = "hunter2-not-a-token"
        case .unknownToken: break
        }
        let report = try await kit.engine.rotate(id, suppliedValue: SecretValue(string: supplied))
        #expect(report.outcome != .succeeded)
        let error = try #require(report.error)
        let trace = GitHubKit.trace(report)
        #expect(error.secret == id && error.remedy != nil && (trace.contains("createSecret failed") || trace.contains("testSecret failed")), "\(trace)")
        #expect(try await kit.current(id)["token"] as? String == oldToken)
        #expect(github.isLive(oldToken), "the current token must not be revoked")
        #expect(try await kit.store.describeSecret(id).versions.allSatisfy { !$0.stages.contains(.pending) })
        await kit.expectNoneOf([oldToken, newToken, supplied], in: report)
    }

    @Test func expiryHeadersInBothFormatsParse() {
        #expect(PersonalAccessToken.expiry("2021-09-03 02:34:04 UTC") == Date(timeIntervalSince1970: 1_630_636_444))
        #expect(PersonalAccessToken.expiry("2023-04-26 20:23:26 +0200") == Date(timeIntervalSince1970: 1_682_533_406))
        #expect(PersonalAccessToken.expiry("soon") == nil)
    }

    /// Killed at each write, the resumed run (the operator repeats the command) installs the token
    /// they supplied and revokes the old one; a repeated run with the same token is clean.
    @Test(arguments: [(1, false), (1, true), (2, false), (2, true)])
    func aRotationKilledAtAnyWriteResumesAndRevokesTheOldToken(write: Int, afterWrite: Bool) async throws {
        let (kit, github) = try await setUp()
        defer { Task { await github.close() } }
        github.addUserToken(newToken, login: "octo-bot", scopes: ["repo", "admin:repo_hook"], expiresAt: Date().addingTimeInterval(90 * 86_400))
        let killing = KillingSecretStore(base: kit.store, killAtWrite: write, afterWrite: afterWrite)
        _ = try? await kit.engine(over: killing).rotate(id, suppliedValue: SecretValue(string: newToken))
        #expect(killing.killed)
        let resumed = try await kit.engine.rotate(id, suppliedValue: SecretValue(string: newToken))
        #expect(resumed.outcome == .succeeded, "\(GitHubKit.trace(resumed))")
        #expect(try await kit.current(id)["token"] as? String == newToken && github.isLive(newToken) && !github.isLive(oldToken))
    }
}
