import Foundation
import RotorCore

/// `github-pat`: assisted rotation of a personal access token (classic `ghp_` or fine-grained
/// `github_pat_`). No API creates one, so the operator makes it in GitHub and supplies it
/// (`rotor rotate ID --value-stdin`). rotor checks it belongs to the same login, carries the scopes
/// the value lists in `permissions` (classic tokens) and outlives the margin, records its real
/// expiry in the value, and after `AWSCURRENT` moved revokes the previous token and proves it dead.
struct GitHubPATRotator: Rotator {
    static let kind: RotatorKind = "github-pat"
    let kind: RotatorKind = Self.kind
    let hasTarget: Bool = true
    let api: GitHubAPI
    let login: String?
    let minimumValidity: TimeInterval
    let revokePrevious: Bool
    var credentialsExpire: Bool { true }
    func credentialExpiry(of value: SecretValue) -> Date? { GitHubTokenExpiry.of(value) }

    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        guard let supplied = request.suppliedValue else {
            throw RotorError(.invalidInput, "a github-pat rotation needs the new token from the operator: create it in GitHub, then 'rotor rotate \(context.secret) --value-stdin'", secret: context.secret, step: .createSecret,
                             remedy: "create a token in GitHub (Settings → Developer settings), then run 'rotor rotate \(context.secret) --value-stdin' and paste it")
        }
        let token = try PersonalAccessToken.parse(supplied, secret: context.secret)
        let current = try PATSecret(try request.current, secret: context.secret, step: .createSecret)
        let user = try await self.user(token, context: context, step: .createSecret, what: "the token you supplied")
        let expected = try await expectedLogin(current, context: context)
        guard user.login.caseInsensitiveCompare(expected) == .orderedSame else {
            throw RotorError(.invalidInput, "the token you supplied belongs to another GitHub account than the current one (\(expected))",
                             secret: context.secret, step: .createSecret, remedy: "create the token while signed in as \(expected)")
        }
        return CreateSecretResponse(newValue: current.with(token: token, login: user.login, expiresAt: user.expiresAt))
    }

    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        let pending = try PATSecret(request.pending, secret: context.secret, step: .testSecret)
        guard let token = pending.token else { throw PATSecret.invalid(context.secret, .testSecret, "the new value has no token") }
        let user = try await self.user(token, context: context, step: .testSecret, what: "the new token")
        if let login = pending.login, user.login.caseInsensitiveCompare(login) != .orderedSame {
            throw RotorError(.stepFailed, "the new token authenticates as another account than \(login)", secret: context.secret, step: .testSecret,
                             remedy: "supply a token of \(login)")
        }
        if let scopes = user.scopes {
            let missing = pending.permissions.filter { !PersonalAccessToken.scope(scopes, grants: $0) }
            guard missing.isEmpty else {
                throw RotorError(.stepFailed, "the new token lacks the scopes \(missing.joined(separator: ", "))", secret: context.secret, step: .testSecret,
                                 remedy: "create a token with at least these scopes: \(pending.permissions.joined(separator: ", "))")
            }
        } else if !pending.permissions.isEmpty {
            context.logger.notice("a fine-grained token: GitHub does not list its permissions, so only its owner and expiry were checked")
        }
        if let expiry = user.expiresAt, expiry < context.now.addingTimeInterval(minimumValidity) {
            throw RotorError(.stepFailed, "the new token expires at \(expiry.formatted(.iso8601)), within the \(Int(minimumValidity / 86_400))-day margin",
                             secret: context.secret, step: .testSecret, remedy: "create a token with a later expiry date")
        }
        return TestSecretResponse()
    }

    /// Warns when the token a rollback restores no longer works (revoked by an earlier finishSecret, or
    /// expired): the operator must rotate forward with a new token.
    func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        guard let token = try PATSecret(request.restore, secret: context.secret).token, (try? await user(token, context: context, step: .finishSecret, what: "the restored token")) == nil else { return }
        context.logger.warning("the token this rollback restores no longer works at GitHub: rotate forward with a new token ('rotor rotate \(context.secret) --value-stdin')")
    }

    func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse {
        guard revokePrevious, let replaced = request.replaced,
              let old = (try? PATSecret(replaced, secret: context.secret))?.token,
              old != (try? PATSecret(request.promoted, secret: context.secret))?.token else { return FinishSecretResponse() }
        try await revoke(old, context: context)
        return FinishSecretResponse(audit: [RotatorAuditNote(
            operation: "github.revoke-previous", outcome: "succeeded",
            detail: "POST /credentials/revoke accepted the previous token; GET /user with it answers 401")])
    }

    /// `POST /credentials/revoke`, which GitHub accepts only unauthenticated, then `GET /user` with
    /// the old token must answer 401.
    func revoke(_ token: String, context: RotationContext) async throws {
        let body = Array((try JSONSerialization.data(withJSONObject: ["credentials": [token]])))
        let response = try await api.send(.init(method: .POST, path: "/credentials/revoke", bearer: nil, body: body), secret: context.secret, step: .finishSecret)
        guard response.status == 202 else {
            throw api.failure(response, "revoking the previous token", secret: context.secret, step: .finishSecret,
                              remedy: response.status == 404 ? "this GitHub does not offer /credentials/revoke: delete the old token in its settings, or set revoke-previous=false"
                                                             : "rotor retries; or delete the old token in GitHub's settings")
        }
        let check = try await api.send(.init(method: .GET, path: "/user", bearer: token), secret: context.secret, step: .finishSecret)
        guard check.status == 401 else {
            throw RotorError(.transient, "GitHub accepted the revocation, but the previous token still answers HTTP \(check.status)", secret: context.secret,
                             step: .finishSecret, remedy: "rotor checks again on its next attempt; delete the token in GitHub's settings if it persists", isTransient: true)
        }
        context.logger.notice("revoked the previous token at GitHub and proved it dead (GET /user answers 401)")
    }

    struct User {
        let login: String
        /// `X-OAuth-Scopes`; `nil` for fine-grained tokens, which have none.
        let scopes: [String]?
        let expiresAt: Date?
    }

    func user(_ token: String, context: RotationContext, step: RotationStep, what: String) async throws(RotorError) -> User {
        let response = try await api.send(.init(method: .GET, path: "/user", bearer: token), secret: context.secret, step: step)
        guard response.status == 200, let login = response.jsonObject?["login"] as? String else {
            throw api.failure(response, what, secret: context.secret, step: step,
                              remedy: response.status == 401 ? "the token is wrong, expired or revoked: create a new one" : "check the token and GitHub's message")
        }
        // Fine-grained tokens have no scopes: GitHub sends the header empty, or not at all.
        let scopes = token.hasPrefix("github_pat_") ? nil : response.headers.first(name: "X-OAuth-Scopes")
            .map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        let expiry = response.headers.first(name: "GitHub-Authentication-Token-Expiration").flatMap(PersonalAccessToken.expiry)
        return User(login: login, scopes: scopes, expiresAt: expiry)
    }

    /// Whose token this must be: the recorded login, else the current value's, else the current token's.
    func expectedLogin(_ current: PATSecret, context: RotationContext) async throws -> String {
        if let login = login ?? current.login { return login }
        guard let token = current.token else {
            throw PATSecret.invalid(context.secret, .createSecret, "neither a login nor a current token tells whose token this is")
        }
        return try await user(token, context: context, step: .createSecret, what: "the current token").login
    }
}

extension GitHubPATRotator {
    static let optionHelp: [String: String] = GitHubOptions.help.merging([
        "base-url": "GitHub's API: https://api.github.com (default) or https://HOST/api/v3 for GitHub Enterprise Server",
        "login": "the GitHub account the token must belong to (default: the value's login, else the current token's)",
        "min-validity": "days the new token must still be valid (default 14)",
        "revoke-previous": "after AWSCURRENT moved, revoke the previous token and prove it dead (default true)",
    ]) { own, _ in own }

    static var descriptor: RotatorDescriptor {
        RotatorDescriptor(
            kind: kind, summary: "GitHub personal access tokens, assisted: you supply the token, rotor verifies, records its expiry and revokes the old one",
            options: optionHelp, build: { options throws(RotorError) in try make(options) }, initialValue: { _, _ in nil })
    }

    static func make(_ options: RotatorOptions) throws(RotorError) -> GitHubPATRotator {
        let reader = OptionReader(kind: kind, options: options)
        return GitHubPATRotator(
            api: try GitHubOptions.api(base: options["base-url"] ?? GitHubAPI.defaultBase, reader), login: options["login"],
            minimumValidity: TimeInterval(try reader.int("min-validity", default: 14, range: 0...365) * 86_400),
            revokePrevious: try reader.bool("revoke-previous", default: true))
    }
}
