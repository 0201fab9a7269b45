import Foundation
import RotorAWS
import RotorCore
import RotorHTTP

/// `cognito-app-client`: rotates a Cognito user-pool app client's secret with the two secrets
/// Cognito allows per client. createSecret deletes the secret only `AWSPREVIOUS` still names (never
/// the current one) and adds a rotor-generated one; testSecret proves Cognito lists it and, with a
/// token endpoint, that a `client_credentials` grant accepts it; after `AWSCURRENT` moved, the
/// current and the previous secret both stay valid, so consumers switch without an outage.
struct CognitoAppClientRotator: Rotator {
    static let kind: RotatorKind = "cognito-app-client"
    let kind: RotatorKind = Self.kind
    let hasTarget: Bool = true
    let options: RotatorOptions
    let clients: CognitoClients
    let tokenCheck: TokenEndpointCheck?
    /// How long the current secret must have existed before the one it replaced is deleted (consumers
    /// that cache the secret need time to read the new one).
    let previousGrace: TimeInterval
    /// Cognito's limit for `ClientSecret` is 24-64 characters of `[\w+]`.
    static let generator = PasswordPolicy(length: 48, excludePunctuation: true)

    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        let current = try CognitoClientSecret(try request.current, secret: context.secret, step: .createSecret)
        try current.requirePinned(options, secret: context.secret, step: .createSecret)
        let api = try clients.api(for: current, secret: context.secret, step: .createSecret)
        let listed = try await api.list(secret: context.secret, step: .createSecret)
        let previousID = try await previousSecretID(context, current: current)
        let plan = try CleanUp(listed: listed, current: current, previousID: previousID, grace: previousGrace, context: context)
        for stale in plan.stale {
            try await api.delete(stale.id, secret: context.secret, step: .createSecret)
            context.logger.notice("deleted app client secret \(stale.id) at Cognito to make room (\(stale.id == previousID ? "AWSPREVIOUS" : "added by an interrupted attempt of this rotation"))")
        }
        let value = try Self.generator.generate().exposedString ?? ""
        let id = try await api.add(value, secret: context.secret, step: .createSecret)
        context.logger.notice("added app client secret \(id) at Cognito")
        return CreateSecretResponse(newValue: current.with(secretID: id, secret: value, replacing: plan.currentID))
    }

    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        let pending = try CognitoClientSecret(request.pending, secret: context.secret, step: .testSecret)
        try pending.requirePinned(options, secret: context.secret, step: .testSecret)
        guard let id = pending.clientSecretID else {
            throw CognitoClientSecret.invalid(context.secret, .testSecret, "the new value has no clientSecretId")
        }
        let api = try clients.api(for: pending, secret: context.secret, step: .testSecret)
        guard try await api.list(secret: context.secret, step: .testSecret).contains(where: { $0.id == id }) else {
            throw RotorError(.stepFailed, "Cognito does not list the new secret \(id) for app client \(pending.clientID)", secret: context.secret,
                             step: .testSecret, remedy: "rotor retries (Cognito may not list a new secret at once), then rolls back", isTransient: true)
        }
        try await tokenCheck?.grant(clientID: pending.clientID, secret: pending.clientSecret, for: context.secret)
        return TestSecretResponse()
    }

    /// Deletes at Cognito the secret being abandoned: after a failed rotation the one it added (no
    /// consumer was given it); on `rotor rollback` the one rolled back from (it is why the operator
    /// rolls back: bad or leaked). Never the secret restored, nor the one `AWSPREVIOUS` names while
    /// another is restored.
    func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        guard let discard = request.discard, let abandoned = try? CognitoClientSecret(discard, secret: context.secret), let id = abandoned.clientSecretID,
              id != (try? CognitoClientSecret(request.restore, secret: context.secret))?.clientSecretID else { return }
        let current = try CognitoClientSecret(try await context.store.getSecretValue(context.secret, .current).value, secret: context.secret)
        let restoring = try CognitoClientSecret(request.restore, secret: context.secret).clientSecretID
        let previous = try await previousSecretID(context, current: current)
        guard previous != id || previous == restoring else {
            context.logger.warning("app client secret \(id) is what AWSPREVIOUS names; rotor keeps it")
            return
        }
        try abandoned.requirePinned(options, secret: context.secret, step: .finishSecret)
        let api = try clients.api(for: abandoned, secret: context.secret, step: .finishSecret)
        try await api.delete(id, secret: context.secret, step: .finishSecret)
        context.logger.notice("deleted the abandoned app client secret \(id) at Cognito")
    }

    /// The id of the secret the current one replaced: what `AWSPREVIOUS` names (when its value is of
    /// the same client), else what rotor recorded in the current value. A failed read is thrown,
    /// never taken for "none".
    func previousSecretID(_ context: RotationContext, current: CognitoClientSecret) async throws -> String? {
        let value: SecretValue
        do { value = try await context.store.getSecretValue(context.secret, .previous).value } catch let error as RotorError where error.code == .versionNotFound {
            return current.previousClientSecretID
        }
        guard let previous = try? CognitoClientSecret(value, secret: context.secret), previous.clientID == current.clientID,
              previous.userPoolID == current.userPoolID else { return current.previousClientSecretID }
        return previous.clientSecretID ?? current.previousClientSecretID
    }
}
