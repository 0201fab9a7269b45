import struct Foundation.Date

/// Metadata of a secret and its versions: the DescribeSecret shape. Never a value.
public struct SecretDescription: Sendable, Hashable {
    public var id: SecretID
    public var description: String?
    public var createdAt: Date
    public var lastChangedAt: Date
    public var lastRotatedAt: Date?
    public var tags: [String: String]
    public var versions: [VersionEntry]
    /// Secrets Manager's `RotationEnabled`: `nil` when the store has no such setting or it was never configured.
    public var rotationEnabled: Bool?

    public init(
        id: SecretID, description: String? = nil, createdAt: Date, lastChangedAt: Date,
        lastRotatedAt: Date? = nil, tags: [String: String] = [:], versions: [VersionEntry], rotationEnabled: Bool? = nil
    ) {
        self.rotationEnabled = rotationEnabled
        self.id = id
        self.description = description
        self.createdAt = createdAt
        self.lastChangedAt = lastChangedAt
        self.lastRotatedAt = lastRotatedAt
        self.tags = tags
        self.versions = versions
    }

    public var ledger: VersionLedger { VersionLedger(versions: versions) }
    public var versionIDsToStages: [VersionID: [StagingLabel]] { ledger.versionIDsToStages }
    public func holder(of label: StagingLabel) -> VersionID? { ledger.holder(of: label) }
}

/// A version's value as GetSecretValue returns it.
public struct SecretVersionValue: Sendable, Hashable {
    public var secret: SecretID
    public var versionID: VersionID
    public var stages: [StagingLabel]
    public var value: SecretValue
    public var createdAt: Date

    public init(secret: SecretID, versionID: VersionID, stages: [StagingLabel], value: SecretValue, createdAt: Date) {
        self.secret = secret
        self.versionID = versionID
        self.stages = stages
        self.value = value
        self.createdAt = createdAt
    }
}

/// CreateSecret's input. With an initial value, its version gets `AWSCURRENT`.
public struct CreateSecretInput: Sendable {
    public var id: SecretID
    public var description: String?
    public var tags: [String: String]
    public var initialValue: SecretValue?
    public var initialVersionID: VersionID?

    public init(
        id: SecretID, description: String? = nil, tags: [String: String] = [:],
        initialValue: SecretValue? = nil, initialVersionID: VersionID? = nil
    ) {
        self.id = id
        self.description = description
        self.tags = tags
        self.initialValue = initialValue
        self.initialVersionID = initialVersionID
    }
}

/// PutSecretValue's input; `token` becomes the version id.
public struct PutSecretValueInput: Sendable {
    public var id: SecretID
    public var token: VersionID
    public var value: SecretValue
    /// `nil` means `[AWSCURRENT]`.
    public var stages: [StagingLabel]?
    /// The `RotationToken` of a Lambda invocation, passed on to PutSecretValue (assumed-role and cross-account rotation).
    public var rotationToken: String?
    /// The caller has just seen (DescribeSecret) that no version carries this token, so a store that
    /// would check for token reuse before writing (an emulator may overwrite instead of refusing) need not.
    public var tokenIsNew: Bool

    public init(id: SecretID, token: VersionID, value: SecretValue, stages: [StagingLabel]?, rotationToken: String? = nil, tokenIsNew: Bool = false) {
        self.rotationToken = rotationToken
        self.tokenIsNew = tokenIsNew
        self.id = id
        self.token = token
        self.value = value
        self.stages = stages
    }
}

/// UpdateSecretVersionStage's input.
public struct UpdateVersionStageInput: Sendable, Hashable {
    public var id: SecretID
    public var stage: StagingLabel
    public var moveTo: VersionID?
    public var removeFrom: VersionID?

    public init(id: SecretID, stage: StagingLabel, moveTo: VersionID? = nil, removeFrom: VersionID? = nil) {
        self.id = id
        self.stage = stage
        self.moveTo = moveTo
        self.removeFrom = removeFrom
    }
}

/// The Secrets Manager operations a rotation needs. Every store (in-memory, embedded,
/// AWS) passes the same contract suite, so the engine cannot tell them apart.
public protocol SecretStore: Sendable {
    /// CreateSecret. Throws ``RotorError/Code/secretExists`` for a taken id.
    func createSecret(_ input: CreateSecretInput) async throws -> SecretDescription
    /// DescribeSecret: metadata and versions → stages.
    func describeSecret(_ id: SecretID) async throws -> SecretDescription
    /// GetSecretValue by version id and/or stage (default `AWSCURRENT`).
    func getSecretValue(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretVersionValue
    /// PutSecretValue: a no-op for an existing token with the same value, ``RotorError/Code/tokenInUse`` for a different one.
    @discardableResult
    func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome
    /// UpdateSecretVersionStage: move and/or remove a label.
    func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws
    /// Several UpdateSecretVersionStage calls, in order. A store that can apply them in one
    /// transaction does (all or none); Secrets Manager, and the default, make one call each.
    func updateSecretVersionStages(_ inputs: [UpdateVersionStageInput]) async throws
    /// Whether labels just moved must be read back: a remote store may apply a late copy of an
    /// earlier request after rotor's call (moto resets a version's labels that way). A local store
    /// that moves labels in one transaction and has no such copies answers false.
    var labelsNeedReadBack: Bool { get }
    /// GetRandomPassword.
    func getRandomPassword(_ policy: PasswordPolicy) async throws -> SecretValue
    /// ListSecrets, restricted to `scope`, sorted by id.
    func listSecrets(in scope: EnvironmentScope) async throws -> [SecretDescription]
}

extension SecretStore {
    public var labelsNeedReadBack: Bool { true }

    public func updateSecretVersionStages(_ inputs: [UpdateVersionStageInput]) async throws {
        for input in inputs { try await updateSecretVersionStage(input) }
    }

    /// The secret a name or ARN denotes: for an ARN that may be full or partial, the one candidate that
    /// exists; both existing is refused as ambiguous.
    public func resolve(nameOrARN raw: String) async throws -> SecretID {
        let candidates = try SecretID.candidates(nameOrARN: raw)
        guard candidates.count > 1 else { return candidates[0] }
        var existing: [SecretID] = []
        for candidate in candidates {
            do {
                _ = try await describeSecret(candidate)
                existing.append(candidate)
            } catch let error as RotorError where error.code == .secretNotFound {
                continue
            }
        }
        guard existing.count < 2 else {
            throw RotorError(
                .invalidSecretID, "the ARN could name \(existing[0]) (a full ARN) or \(existing[1]) (a partial ARN); both exist",
                remedy: "give the secret's name instead of its ARN")
        }
        return existing.first ?? candidates[0]
    }
}
