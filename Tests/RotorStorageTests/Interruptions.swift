import Foundation
import Synchronization
import RotorCore

/// Where a simulated crash happens. The wrappers throw `CancellationError` there exactly once,
/// which the engine lets through without touching the journal: the same as a killed process.
enum CrashPoint: Sendable, Hashable, CustomStringConvertible {
    /// After step's intent is journaled, before it runs.
    case afterIntent(RotationStep)
    /// After the step's side effects, before the journal records its completion.
    case beforeCompletion(RotationStep)
    /// Right after a store write of this kind succeeded, inside a step.
    case afterPut
    case afterLabelMove(StagingLabel)

    var description: String {
        switch self {
        case .afterIntent(let step): "after the intent of \(step)"
        case .beforeCompletion(let step): "before the completion of \(step) is journaled"
        case .afterPut: "inside createSecret, after PutSecretValue"
        case .afterLabelMove(let label): "inside finishSecret, after moving \(label)"
        }
    }
}

final class CrashSwitch: Sendable {
    private let armed: Mutex<CrashPoint?>
    init(_ point: CrashPoint) { armed = Mutex(point) }

    func check(_ point: CrashPoint) throws {
        let fire = armed.withLock { armed -> Bool in
            guard armed == point else { return false }
            armed = nil
            return true
        }
        if fire { throw CancellationError() }
    }
    var fired: Bool { armed.withLock { $0 == nil } }
}

/// A state store that crashes at a ``CrashPoint``.
struct CrashingStateStore: RotationStateStore {
    let base: any RotationStateStore
    let crash: CrashSwitch

    func register(_ secret: ManagedSecret, audit: AuditEvent) async throws { try await base.register(secret, audit: audit) }
    func managedSecret(_ id: SecretID) async throws -> ManagedSecret? { try await base.managedSecret(id) }
    func managedSecrets(in scope: EnvironmentScope) async throws -> [ManagedSecret] { try await base.managedSecrets(in: scope) }
    func openRotation(for id: SecretID) async throws -> RotationRecord? { try await base.openRotation(for: id) }
    func beginRotation(_ rotation: RotationRecord, audit: AuditEvent) async throws { try await base.beginRotation(rotation, audit: audit) }
    func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date) async throws -> Int64 {
        let id = try await base.beginStep(token: token, step: step, attempt: attempt, at: at)
        if let step = RotationStep(rawValue: step.rawValue) { try crash.check(.afterIntent(step)) }
        return id
    }
    func endStep(_ id: Int64, token: VersionID, outcome: StepOutcome, error: String?, at: Date, completes: RotationStep?) async throws {
        if let completes { try crash.check(.beforeCompletion(completes)) }
        try await base.endStep(id, token: token, outcome: outcome, error: error, at: at, completes: completes)
    }
    func markRollingBack(token: VersionID, error: String, at: Date) async throws { try await base.markRollingBack(token: token, error: error, at: at) }
    func finishRun(token: VersionID, outcome: RotationOutcome, error: String?, at: Date, health: SecretHealthChange, audit: [AuditEvent]) async throws {
        try await base.finishRun(token: token, outcome: outcome, error: error, at: at, health: health, audit: audit)
    }
    func updateHealth(_ id: SecretID, _ health: SecretHealthChange, audit: AuditEvent) async throws { try await base.updateHealth(id, health, audit: audit) }
    func appendAudit(_ event: AuditEvent) async throws { try await base.appendAudit(event) }
    func updateRotator(_ id: SecretID, rotator: RotatorKind, options: RotatorOptions) async throws {
        try await base.updateRotator(id, rotator: rotator, options: options)
    }
    func acquireSecretLock(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> Bool {
        try await base.acquireSecretLock(id, owner: owner, ttl: ttl, now: now)
    }
    func releaseSecretLock(_ id: SecretID, owner: String) async throws { try await base.releaseSecretLock(id, owner: owner) }
    func rotations(of id: SecretID, limit: Int) async throws -> [RotationRecord] { try await base.rotations(of: id, limit: limit) }
    func auditEvents(of id: SecretID?, limit: Int) async throws -> [AuditEvent] { try await base.auditEvents(of: id, limit: limit) }
}

/// A secret store that crashes right after a write succeeded.
struct CrashingSecretStore: SecretStore {
    let base: any SecretStore
    let crash: CrashSwitch

    func createSecret(_ input: CreateSecretInput) async throws -> SecretDescription { try await base.createSecret(input) }
    func describeSecret(_ id: SecretID) async throws -> SecretDescription { try await base.describeSecret(id) }
    func getSecretValue(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretVersionValue { try await base.getSecretValue(id, selector) }
    func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome {
        let outcome = try await base.putSecretValue(input)
        try crash.check(.afterPut)
        return outcome
    }
    func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws {
        try await base.updateSecretVersionStage(input)
        try crash.check(.afterLabelMove(input.stage))
    }
    func getRandomPassword(_ policy: PasswordPolicy) async throws -> SecretValue { try await base.getRandomPassword(policy) }
    func listSecrets(in scope: EnvironmentScope) async throws -> [SecretDescription] { try await base.listSecrets(in: scope) }
}
