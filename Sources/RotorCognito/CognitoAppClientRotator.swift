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
    /// Cognito's limit for `ClientSecret` is 24-64 characters of `[\w+]`.
    static let generator = PasswordPolicy(length: 48, excludePunctuation: true)

    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        let current = try CognitoClientSecret(try request.current, secret: context.secret, step: .createSecret)
        try current.requirePinned(options, secret: context.secret, step: .createSecret)
        let api = try clients.api(for: current, secret: context.secret, step: .createSecret)
        let listed = try await api.list(secret: context.secret, step: .createSecret)
        let previousID = try await previousSecretID(context, current: current)
        for stale in try Self.toDelete(listed, current: current, previousID: previousID, context: context) {
            try await api.delete(stale.id, secret: context.secret, step: .createSecret)
            context.logger.notice("deleted app client secret \(stale.id) at Cognito to make room (\(stale.id == previousID ? "AWSPREVIOUS" : "left by an interrupted run of this rotation"))")
        }
        let value = try Self.generator.generate().exposedString ?? ""
        let id = try await api.add(value, secret: context.secret, step: .createSecret)
        context.logger.notice("added app client secret \(id) at Cognito")
        return CreateSecretResponse(newValue: current.with(secretID: id, secret: value))
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

    /// After a failed rotation, deletes the secret it added at Cognito (no consumer was given it).
    /// `rotor rollback` of a finished rotation keeps the secret it moves away from: consumers may hold
    /// it, both stay valid, and the next rotation deletes it as the previous one.
    func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        guard let discard = request.discard, let abandoned = try? CognitoClientSecret(discard, secret: context.secret), let id = abandoned.clientSecretID,
              id != (try? CognitoClientSecret(request.restore, secret: context.secret))?.clientSecretID else { return }
        let current = try await context.store.getSecretValue(context.secret, .current).value
        if (try? CognitoClientSecret(current, secret: context.secret))?.clientSecretID == id {
            context.logger.notice("app client secret \(id) stays valid at Cognito until the next rotation deletes it")
            return
        }
        try abandoned.requirePinned(options, secret: context.secret, step: .finishSecret)
        let api = try clients.api(for: abandoned, secret: context.secret, step: .finishSecret)
        try await api.delete(id, secret: context.secret, step: .finishSecret)
        context.logger.notice("deleted the abandoned app client secret \(id) at Cognito")
    }

    /// The id `AWSPREVIOUS` names, when its value is of the same client. A failed read is thrown, never taken for "none".
    func previousSecretID(_ context: RotationContext, current: CognitoClientSecret) async throws -> String? {
        let value: SecretValue
        do { value = try await context.store.getSecretValue(context.secret, .previous).value } catch let error as RotorError where error.code == .versionNotFound {
            return nil
        }
        guard let previous = try? CognitoClientSecret(value, secret: context.secret), previous.clientID == current.clientID,
              previous.userPoolID == current.userPoolID else { return nil }
        return previous.clientSecretID
    }

    /// What createSecret deletes before it adds: the secret only `AWSPREVIOUS` names, and secrets this
    /// rotation added before it was interrupted (created after the rotation started; their value was
    /// lost with the run, so no consumer can hold it). Never the current one; an unknown secret from
    /// before the rotation started is an error that says what to do.
    static func toDelete(_ listed: [CognitoAPI.ListedSecret], current: CognitoClientSecret, previousID: String?,
                         context: RotationContext) throws -> [CognitoAPI.ListedSecret] {
        let currentID = current.clientSecretID ?? (listed.count == 1 ? listed[0].id : nil)
        guard let currentID else {
            throw RotorError(.invalidInput, "app client \(current.clientID) has \(listed.count) secrets and the current value does not say which is its own",
                             secret: context.secret, step: .createSecret,
                             remedy: "add the current secret's clientSecretId to the value (aws cognito-idp list-user-pool-client-secrets shows the ids)")
        }
        if !listed.contains(where: { $0.id == currentID }) {
            context.logger.warning("Cognito does not list the current secret \(currentID): consumers using it already fail; the new secret replaces it")
        }
        let stale = listed.filter { $0.id != currentID && ($0.id == previousID || addedByThisRotation($0, context: context)) }
        if listed.count - stale.count >= 2, let unknown = listed.first(where: { $0.id != currentID && !stale.contains($0) }) {
            throw RotorError(.invalidRequest, "app client \(current.clientID) has a secret rotor does not know (\(unknown.id)) besides the current one, and Cognito allows two",
                             secret: context.secret, step: .createSecret, remedy:
                                "if no consumer uses \(unknown.id), delete it (aws cognito-idp delete-user-pool-client-secret --user-pool-id \(current.userPoolID) --client-id \(current.clientID) --client-secret-id \(unknown.id)) and rotate again")
        }
        return stale
    }

    /// Whether Cognito created `entry` after this rotation started. No allowance for clock
    /// difference: a secret made by a person just before must never be taken for rotor's; an orphan
    /// that a skewed clock dates too early is reported as unknown, with the command that removes it.
    static func addedByThisRotation(_ entry: CognitoAPI.ListedSecret, context: RotationContext) -> Bool {
        guard let started = context.rotationStartedAt, let created = entry.created else { return false }
        return created >= started
    }
}
