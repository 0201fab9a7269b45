import Foundation
import RotorCore

/// `github-app-token`: issues a GitHub App installation token (one hour) each rotation. createSecret
/// signs an app JWT with the App's private key, read from its own secret and never copied, and asks
/// for a token narrowed to the value's repositories and permissions; testSecret uses the new token
/// and checks what was granted; after `AWSCURRENT` moved the previous token can be revoked; a
/// rollback revokes the abandoned one.
struct GitHubAppTokenRotator: Rotator {
    static let kind: RotatorKind = "github-app-token"
    let kind: RotatorKind = Self.kind
    let hasTarget: Bool = true
    let privateKeySecret: SecretID
    let revokePrevious: Bool
    let options: RotatorOptions
    let api: GitHubAPI
    var credentialsExpire: Bool { true }
    func credentialExpiry(of value: SecretValue) -> Date? { GitHubTokenExpiry.of(value) }
    func secretsUsed(of secret: SecretID, current: @Sendable () async throws -> SecretValue) async throws -> [SecretUse] {
        [SecretUse(secret: privateKeySecret.rawValue, why: "github-app-token signs with the App's private key (private-key-secret)")]
    }

    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        let secret = try GitHubAppTokenSecret(try request.current, secret: context.secret, step: .createSecret)
        try secret.requirePinned(options, secret: context.secret, step: .createSecret)
        let jwt = try await appJWT(issuer: secret.issuer, context: context)
        let response = try await api.send(
            .init(method: .POST, path: "/app/installations/\(secret.installationID)/access_tokens", bearer: jwt, body: secret.tokenRequestBody),
            secret: context.secret, step: .createSecret)
        guard response.status == 201, let object = response.jsonObject, let token = object["token"] as? String, !token.isEmpty,
              let expiresAt = object["expires_at"] as? String else {
            throw api.failure(response, "an installation token for installation \(secret.installationID) (App \(secret.issuer), key in \(privateKeySecret))",
                              secret: context.secret, step: .createSecret,
                              remedy: Self.remedy(response.status, secret: secret, keySecret: privateKeySecret))
        }
        guard let expiry = try? Date(expiresAt, strategy: .iso8601), expiry > context.now.addingTimeInterval(SchedulePlanner.minimumGap) else {
            throw RotorError(.stepFailed, "GitHub issued a token whose expires_at is unreadable or within 5 minutes", secret: context.secret,
                             step: .createSecret, remedy: "check the GitHub server's clock; installation tokens live one hour")
        }
        let granted = (object["permissions"] as? [String: String]) ?? [:]
        return CreateSecretResponse(newValue: secret.with(token: token, expiresAt: expiresAt, granted: granted))
    }

    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        let pending = try GitHubAppTokenSecret(request.pending, secret: context.secret, step: .testSecret)
        guard let token = pending.token else { throw GitHubAppTokenSecret.invalid(context.secret, .testSecret, "the new value has no token") }
        let missing = GitHubAppTokenSecret.covers((pending.object["grantedPermissions"] as? [String: String]) ?? [:], pending.permissions)
        guard missing.isEmpty else {
            throw RotorError(.stepFailed, "GitHub granted the new token less than asked for: \(missing.joined(separator: ", "))", secret: context.secret,
                             step: .testSecret, remedy: "grant the App these permissions on the installation, or ask for less in the value's permissions")
        }
        let response = try await api.send(.init(method: .GET, path: "/installation/repositories", query: "per_page=100", bearer: token),
                                          secret: context.secret, step: .testSecret)
        guard response.status == 200, let object = response.jsonObject else {
            throw api.failure(response, "the new token", secret: context.secret, step: .testSecret, remedy: "check the App's installation; rotor rolls back")
        }
        let listed = Set(((object["repositories"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String })
        let absent = pending.repositories.filter { !listed.contains($0) && !listed.contains(String($0.split(separator: "/").last ?? "")) }
        guard absent.isEmpty || (object["total_count"] as? Int ?? 0) > 100 else {
            throw RotorError(.stepFailed, "the new token cannot reach \(absent.count) of the repositories asked for", secret: context.secret, step: .testSecret,
                             remedy: "add the repositories to the App's installation, or remove them from the value")
        }
        return TestSecretResponse()
    }

    func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse {
        guard revokePrevious, let replaced = request.replaced, let old = try? GitHubAppTokenSecret(replaced, secret: context.secret).token,
              old != (try? GitHubAppTokenSecret(request.promoted, secret: context.secret))?.token else {
            return FinishSecretResponse()
        }
        try await revoke(old, context: context, step: .finishSecret, what: "the previous token")
        return FinishSecretResponse(audit: [RotatorAuditNote(
            operation: "github.revoke-previous", outcome: "succeeded", detail: "DELETE /installation/token revoked the previous installation token")])
    }

    func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        let restore = try? GitHubAppTokenSecret(request.restore, secret: context.secret).token
        if let restore {
            // Restoring a token that expired (they live one hour) or was revoked would leave a dead AWSCURRENT.
            let check = try await api.send(.init(method: .GET, path: "/installation/repositories", query: "per_page=1", bearer: restore),
                                           secret: context.secret, step: .finishSecret)
            guard check.status == 200 else {
                // Keep the other token: it may be the only one that works.
                context.logger.warning("the token this rollback restores no longer works (tokens live one hour): rotate forward ('rotor rotate \(context.secret)')")
                return
            }
        }
        guard let discard = request.discard, let token = try? GitHubAppTokenSecret(discard, secret: context.secret).token, token != restore else { return }
        do { try await revoke(token, context: context, step: .finishSecret, what: "the abandoned token") } catch {
            context.logger.warning("could not revoke the abandoned token; it expires within the hour", metadata: ["reason": "\(error)"])
        }
    }

    /// `DELETE /installation/token` with the token itself; a token already dead (401) counts as revoked.
    func revoke(_ token: String, context: RotationContext, step: RotationStep, what: String) async throws {
        let response = try await api.send(.init(method: .DELETE, path: "/installation/token", bearer: token), secret: context.secret, step: step)
        guard response.status == 204 || response.status == 401 else {
            throw api.failure(response, "revoking \(what)", secret: context.secret, step: step, remedy: "rotor retries; the token expires within the hour anyway")
        }
        context.logger.notice("revoked \(what) at GitHub")
    }

    func appJWT(issuer: String, context: RotationContext) async throws -> String {
        guard privateKeySecret.environment == context.secret.environment, privateKeySecret != context.secret else {
            throw RotorError(.invalidOption, "private-key-secret \(privateKeySecret) must be another secret of environment \(context.secret.environment)",
                             secret: context.secret, step: .createSecret, remedy: "name the App key's own secret in the same environment")
        }
        let value = try await context.store.getSecretValue(privateKeySecret, .current).value
        let key = try AppJWT.privateKey(value, from: privateKeySecret, for: context.secret, step: .createSecret)
        do { return try AppJWT.sign(issuer: issuer, key: key, now: context.now) } catch {
            throw RotorError(.stepFailed, "could not sign the App's JWT", secret: context.secret, step: .createSecret, remedy: "check the key in \(privateKeySecret)")
        }
    }

    static func remedy(_ status: Int, secret: GitHubAppTokenSecret, keySecret: SecretID) -> String {
        switch status {
        case 401: "GitHub refused the App's JWT: check that \(keySecret) holds a current key of App \(secret.issuer) and that this host's clock is right"
        case 404: "installation \(secret.installationID) does not exist or does not belong to App \(secret.issuer)"
        case 422: "ask only for repositories and permissions the installation grants (at most 500 repositories)"
        default: "rotor retries transient failures; see GitHub's message"
        }
    }
}

extension GitHubAppTokenRotator {
    static let optionHelp: [String: String] = GitHubOptions.help.merging([
        "private-key-secret": "id of the secret holding the App's private key (PEM); it is read, never copied (required)",
        "revoke-previous": "after AWSCURRENT moved, revoke the previous token (default false: it expires within the hour, and consumers may still hold it)",
        "base-url": "recorded from the value's baseUrl when rotor starts managing the secret",
        "installation-id": "recorded from the value's installationId",
        "issuer": "recorded from the value's clientId or appId",
    ]) { own, _ in own }

    static var descriptor: RotatorDescriptor {
        RotatorDescriptor(
            kind: kind, summary: "GitHub App installation tokens (1 h), signed with the App's key from its own secret", options: optionHelp,
            build: { options throws(RotorError) in try make(options) }, initialValue: { _, _ in nil },
            recordedKeys: ["base-url", "installation-id", "issuer"],
            recordOptions: { options, value, id throws(RotorError) in
                let secret = try GitHubAppTokenSecret(value, secret: id)
                for (key, pinned) in secret.pinned {
                    if let given = options[key], given != pinned {
                        throw RotorError(.invalidOption, "option \(key) does not match the value", secret: id, remedy: "leave \(key) out: rotor records it from the value")
                    }
                }
                return RotatorOptions(options.values.merging(secret.pinned) { given, _ in given })
            })
    }

    static func make(_ options: RotatorOptions) throws(RotorError) -> GitHubAppTokenRotator {
        let reader = OptionReader(kind: kind, options: options)
        guard let keyID = options["private-key-secret"] else {
            throw RotorError(.invalidOption, "rotator github-app-token needs option private-key-secret=SECRET-ID", remedy: "name the secret that holds the App's private key")
        }
        return GitHubAppTokenRotator(
            privateKeySecret: try SecretID(keyID), revokePrevious: try reader.bool("revoke-previous", default: false), options: options,
            api: try GitHubOptions.api(base: options["base-url"] ?? GitHubAPI.defaultBase, reader))
    }
}
