import Foundation
import Logging
import RotorCore

/// A ``SecretStore`` over AWS Secrets Manager. It follows AWS's semantics even where an emulator
/// does not: label moves and token reuse are checked against a fresh DescribeSecret with the same
/// ``VersionLedger`` rules every rotor store uses, and a call that succeeded but whose response was
/// lost (then retried) is recognised by its effect. Every call is audited with its request id.
public final class AWSSecretStore: SecretStore {
    public let client: SecretsManagerClient
    let audit: @Sendable (AuditEvent) async -> Void
    let actor: String
    let clock: any RotorClock
    let checksTokenReuse: Bool

    /// - Parameters:
    ///   - checksTokenReuse: before PutSecretValue, check that an existing version with the same token
    ///     holds the same value (AWS refuses a different one; an emulator may overwrite it). The
    ///     Lambda turns it off and saves two calls: its createSecret reads the pending value itself
    ///     first, or, for a rotator without a target, relies on AWS's refusal (on moto, which lets a
    ///     put replace a pending value, such a rotator's untested value may be replaced; nothing
    ///     used it yet, and a version already labelled tested is always read first).
    ///   - audit: receives one event per call that touches a secret (never a value).
    public init(
        client: SecretsManagerClient, actor: String = "rotor", clock: any RotorClock = SystemClock(), checksTokenReuse: Bool = true,
        audit: @escaping @Sendable (AuditEvent) async -> Void = { _ in }
    ) {
        self.checksTokenReuse = checksTokenReuse
        self.client = client
        self.actor = actor
        self.clock = clock
        self.audit = audit
    }

    public func createSecret(_ input: CreateSecretInput) async throws -> SecretDescription {
        var body: [String: Any] = ["Name": input.id.rawValue, "ClientRequestToken": (input.initialVersionID ?? Self.newToken()).rawValue]
        if let description = input.description { body["Description"] = description }
        if !input.tags.isEmpty { body["Tags"] = input.tags.sorted { $0.key < $1.key }.map { ["Key": $0.key, "Value": $0.value] } }
        if let value = input.initialValue { Self.addValue(value, to: &body) }
        _ = try await call(.createSecret, body, secret: input.id)
        return try await describeSecret(input.id)
    }

    public func describeSecret(_ id: SecretID) async throws -> SecretDescription {
        let object = try await call(.describeSecret, ["SecretId": id.rawValue], secret: id).object()
        return Self.description(object, id: id)
    }

    public func getSecretValue(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretVersionValue {
        var body: [String: Any] = ["SecretId": id.rawValue]
        if let version = selector.versionID { body["VersionId"] = version.rawValue }
        // Always name the stage: IAM conditions on secretsmanager:VersionStage need it explicitly.
        if let stage = selector.effectiveStage { body["VersionStage"] = stage.rawValue }
        let object: [String: Any]
        do {
            object = try await call(.getSecretValue, body, secret: id).object()
        } catch let error as RotorError where error.code == .secretNotFound {
            // Some endpoints say "can't find the specified secret" for a missing version: tell them apart.
            _ = try await describeSecret(id)
            throw RotorError(.versionNotFound, "no secret value for \(selector)", secret: id,
                             remedy: "run 'rotor secret describe \(id)' to see its versions and labels")
        }
        guard let value = Self.value(object) else {
            throw RotorError(.versionNotFound, "Secrets Manager returned no value for \(selector)", secret: id)
        }
        return SecretVersionValue(
            secret: id, versionID: VersionID(object["VersionId"] as? String ?? ""),
            stages: (object["VersionStages"] as? [String] ?? []).map(StagingLabel.init(stringLiteral:)).sorted(),
            value: value, createdAt: Self.date(object["CreatedDate"]) ?? clock.now())
    }

    @discardableResult
    public func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome {
        if checksTokenReuse, !input.tokenIsNew, try await describeSecret(input.id).versionIDsToStages[input.token] != nil,
           let stored = try await storedValue(input.id, input.token) {
            guard stored.constantTimeEquals(input.value) else {
                throw RotorError(.tokenInUse, "client request token \(input.token) is already used by a version with a different value", secret: input.id,
                                 remedy: "use a new token for a new value")
            }
            return .unchanged
        }
        var body: [String: Any] = ["SecretId": input.id.rawValue, "ClientRequestToken": input.token.rawValue]
        if let stages = input.stages { body["VersionStages"] = stages.map(\.rawValue) }
        if let rotationToken = input.rotationToken { body["RotationToken"] = rotationToken }
        Self.addValue(input.value, to: &body)
        _ = try await call(.putSecretValue, body, secret: input.id)
        return .created
    }

    /// UpdateSecretVersionStage. The two calls a rotation makes (move `AWSCURRENT` away from the
    /// version holding it; remove another label from a version) go straight to AWS, which enforces
    /// them. Every other form is first checked against DescribeSecret with ``VersionLedger``'s rules,
    /// because an emulator may accept what AWS refuses (a label on two versions, no AWSCURRENT).
    /// An error whose desired effect is already in place (a retried call whose first attempt
    /// succeeded) counts as success.
    public func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws {
        let movesCurrent = input.stage == .current && input.moveTo != nil && input.removeFrom != nil
        let removesOtherLabel = input.stage != .current && input.moveTo == nil && input.removeFrom != nil
        // rotor's tested label goes where StepExecutor saw it in a DescribeSecret of the same step.
        let movesTestedLabel = input.stage == .tested && input.moveTo != nil
        if !movesCurrent, !removesOtherLabel, !movesTestedLabel, try await isAlreadyDone(input) { return }
        var body: [String: Any] = ["SecretId": input.id.rawValue, "VersionStage": input.stage.rawValue]
        if let moveTo = input.moveTo { body["MoveToVersionId"] = moveTo.rawValue }
        if let removeFrom = input.removeFrom { body["RemoveFromVersionId"] = removeFrom.rawValue }
        do {
            _ = try await call(.updateSecretVersionStage, body, secret: input.id)
        } catch let error as RotorError where error.code == .invalidParameter || error.code == .invalidRequest {
            try await explainRejectedStageUpdate(input, error: error)
        }
    }

    /// Checks a label change against DescribeSecret with AWS's rules (throwing what AWS would throw);
    /// `true` when the labels already are as asked. Deprecated versions (not in DescribeSecret) are left to AWS.
    private func isAlreadyDone(_ input: UpdateVersionStageInput) async throws -> Bool {
        var ledger = try await describeSecret(input.id).ledger
        let named = [input.moveTo, input.removeFrom].compactMap { $0 }
        if named.contains(where: { ledger.entry($0) == nil }) {
            let all = try await versionIDs(input.id)
            if let missing = named.first(where: { !all.contains($0) }) {
                throw RotorError(.versionNotFound, "version \(missing) does not exist", secret: input.id)
            }
            return false
        }
        let before = ledger
        try ledger.updateStage(input.stage, moveTo: input.moveTo, removeFrom: input.removeFrom, secret: input.id)
        return ledger == before
    }

    /// After a rejected UpdateSecretVersionStage: success if the labels already are where the call
    /// wanted them, ``RotorError/Code/versionNotFound`` for a version that does not exist, else the error.
    private func explainRejectedStageUpdate(_ input: UpdateVersionStageInput, error: RotorError) async throws {
        let ledger = try await describeSecret(input.id).ledger
        let holder = ledger.holder(of: input.stage)
        let done = input.moveTo.map { holder == $0 } ?? (holder != input.removeFrom)
        if done, input.moveTo != nil || input.removeFrom != nil { return }
        let named = [input.moveTo, input.removeFrom].compactMap { $0 }
        if named.contains(where: { ledger.entry($0) == nil }) {
            let all = try await versionIDs(input.id)
            if let missing = named.first(where: { !all.contains($0) }) {
                throw RotorError(.versionNotFound, "version \(missing) does not exist", secret: input.id)
            }
        }
        throw error
    }

    public func getRandomPassword(_ policy: PasswordPolicy) async throws -> SecretValue {
        try policy.validate()
        let body: [String: Any] = [
            "PasswordLength": policy.length, "ExcludeCharacters": policy.excludeCharacters,
            "ExcludeNumbers": policy.excludeNumbers, "ExcludePunctuation": policy.excludePunctuation,
            "ExcludeUppercase": policy.excludeUppercase, "ExcludeLowercase": policy.excludeLowercase,
            "IncludeSpace": policy.includeSpace, "RequireEachIncludedType": policy.requireEachIncludedType,
        ]
        let object = try await call(.getRandomPassword, body, secret: nil).object()
        guard let password = object["RandomPassword"] as? String else {
            throw RotorError(.remoteFailure, "GetRandomPassword returned no password")
        }
        return SecretValue(string: password)
    }

    public func listSecrets(in scope: EnvironmentScope) async throws -> [SecretDescription] {
        var secrets: [SecretDescription] = []
        var nextToken: String?
        repeat {
            var body: [String: Any] = ["MaxResults": 100]
            if case .only(let environment) = scope { body["Filters"] = [["Key": "name", "Values": ["/\(environment.name)/"]]] }
            if let nextToken { body["NextToken"] = nextToken }
            let object = try await call(.listSecrets, body, secret: nil).object()
            for entry in object["SecretList"] as? [[String: Any]] ?? [] {
                guard let name = entry["Name"] as? String, let id = try? SecretID(name), scope.contains(id) else { continue }
                secrets.append(Self.description(entry, id: id))
            }
            nextToken = (object["NextToken"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        } while nextToken != nil
        return secrets.sorted { $0.id < $1.id }
    }

    /// Every version id of a secret, deprecated ones included (ListSecretVersionIds, all pages).
    public func versionIDs(_ id: SecretID) async throws -> Set<VersionID> {
        var ids: Set<VersionID> = []
        var nextToken: String?
        repeat {
            var body: [String: Any] = ["SecretId": id.rawValue, "IncludeDeprecated": true, "MaxResults": 100]
            if let nextToken { body["NextToken"] = nextToken }
            let object = try await call(.listSecretVersionIds, body, secret: id).object()
            for version in object["Versions"] as? [[String: Any]] ?? [] {
                if let versionID = version["VersionId"] as? String { ids.insert(VersionID(versionID)) }
            }
            nextToken = (object["NextToken"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        } while nextToken != nil
        return ids
    }

    /// The value stored under `token`, or `nil` when that version has none (RotateSecret's placeholder).
    private func storedValue(_ id: SecretID, _ token: VersionID) async throws -> SecretValue? {
        do {
            return try await getSecretValue(id, VersionSelector(versionID: token)).value
        } catch let error as RotorError where error.code == .versionNotFound {
            return nil
        }
    }

    /// Sends one call and audits it (operation, secret, outcome, request id).
    private func call(_ operation: SecretsManagerOperation, _ body: [String: Any], secret: SecretID?) async throws -> SecretsManagerResponse {
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data("{}".utf8)
        do {
            let response = try await client.send(operation, body: data, secret: secret)
            if let secret { await audit(event(operation, secret, "succeeded", response.requestID)) }
            return response
        } catch let error as RotorError {
            if let secret { await audit(event(operation, secret, error.code.name, error.summary)) }
            throw error.about(secret)
        }
    }

    private func event(_ operation: SecretsManagerOperation, _ secret: SecretID, _ outcome: String, _ detail: String?) -> AuditEvent {
        AuditEvent(at: clock.now(), actor: actor, secret: secret, operation: "aws.\(operation.rawValue)", outcome: outcome,
                   detail: detail.map { $0.hasPrefix("Secrets Manager") ? $0 : "request id \($0)" })
    }

    static func newToken() -> VersionID { VersionID(UUID().uuidString.lowercased()) }
}
