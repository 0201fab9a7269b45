import struct Foundation.Date
import struct Foundation.TimeInterval

/// A ``RotationStateStore`` that forwards every call to `base`: decorators (fault injection,
/// instrumentation) conform and override only what they intercept.
public protocol ForwardingStateStore: RotationStateStore {
    var base: any RotationStateStore { get }
}

extension ForwardingStateStore {
    public func register(_ secret: ManagedSecret, audit: AuditEvent) async throws { try await base.register(secret, audit: audit) }
    public func managedSecret(_ id: SecretID) async throws -> ManagedSecret? { try await base.managedSecret(id) }
    public func managedSecrets(in scope: EnvironmentScope) async throws -> [ManagedSecret] { try await base.managedSecrets(in: scope) }
    public func openRotation(for id: SecretID) async throws -> RotationRecord? { try await base.openRotation(for: id) }
    public func managedSecretAndOpenRotation(_ id: SecretID) async throws -> (ManagedSecret?, RotationRecord?) {
        try await base.managedSecretAndOpenRotation(id)
    }
    public func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64 {
        try await base.beginStep(token: token, step: step, attempt: attempt, at: at, after: backlog, lockUntil: lockUntil)
    }
    public func journal(_ backlog: JournalBacklog, token: VersionID) async throws { try await base.journal(backlog, token: token) }
    public func markRollingBack(token: VersionID, error: String, at: Date) async throws { try await base.markRollingBack(token: token, error: error, at: at) }
    public func finishRun(
        token: VersionID, outcome: RotationOutcome, error: String?, at: Date, health: SecretHealthChange, audit: [AuditEvent],
        after backlog: JournalBacklog, releasingLock: Bool
    ) async throws {
        try await base.finishRun(token: token, outcome: outcome, error: error, at: at, health: health, audit: audit, after: backlog, releasingLock: releasingLock)
    }
    public func updateHealth(_ id: SecretID, _ health: SecretHealthChange, audit: AuditEvent) async throws { try await base.updateHealth(id, health, audit: audit) }
    public func appendAudit(_ event: AuditEvent) async throws { try await base.appendAudit(event) }
    public func updateRotator(_ id: SecretID, rotator: RotatorKind, options: RotatorOptions) async throws {
        try await base.updateRotator(id, rotator: rotator, options: options)
    }
    public func secretLockHolder(_ id: SecretID, now: Date) async throws -> String? { try await base.secretLockHolder(id, now: now) }
    public func breakSecretLock(_ id: SecretID, heldBy owner: String) async throws { try await base.breakSecretLock(id, heldBy: owner) }
    public func acquireSecretLock(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> SecretLock? {
        try await base.acquireSecretLock(id, owner: owner, ttl: ttl, now: now)
    }
    public func lockAndRead(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> LockedSecret {
        try await base.lockAndRead(id, owner: owner, ttl: ttl, now: now)
    }
    public func releaseSecretLock(_ id: SecretID, owner: String) async throws { try await base.releaseSecretLock(id, owner: owner) }
    public func rotations(of id: SecretID, limit: Int) async throws -> [RotationRecord] { try await base.rotations(of: id, limit: limit) }
    public func auditEvents(of id: SecretID?, limit: Int) async throws -> [AuditEvent] { try await base.auditEvents(of: id, limit: limit) }
}

/// A ``SecretStore`` that forwards every call to `base`; decorators override what they intercept.
public protocol ForwardingSecretStore: SecretStore {
    var base: any SecretStore { get }
}

extension ForwardingSecretStore {
    public func createSecret(_ input: CreateSecretInput) async throws -> SecretDescription { try await base.createSecret(input) }
    public func describeSecret(_ id: SecretID) async throws -> SecretDescription { try await base.describeSecret(id) }
    public func getSecretValue(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretVersionValue { try await base.getSecretValue(id, selector) }
    @discardableResult
    public func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome { try await base.putSecretValue(input) }
    public func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws { try await base.updateSecretVersionStage(input) }
    /// Forwarded whole, so a decorator keeps the base store's all-or-nothing label moves.
    public func updateSecretVersionStages(_ inputs: [UpdateVersionStageInput]) async throws { try await base.updateSecretVersionStages(inputs) }

    /// The label moves one call each through this decorator's own ``updateSecretVersionStage(_:)``,
    /// for decorators that intercept every move (crash points between them, call counts). Such a
    /// decorator's moves are no longer one transaction: it must answer `true` to ``labelsNeedReadBack``.
    public func updateSecretVersionStagesOneByOne(_ inputs: [UpdateVersionStageInput]) async throws {
        for input in inputs { try await updateSecretVersionStage(input) }
    }
    public var labelsNeedReadBack: Bool { base.labelsNeedReadBack }
    public func getRandomPassword(_ policy: PasswordPolicy) async throws -> SecretValue { try await base.getRandomPassword(policy) }
    public func listSecrets(in scope: EnvironmentScope) async throws -> [SecretDescription] { try await base.listSecrets(in: scope) }
}
