import Foundation
import RotorCore

/// A test hook for crash-safety tests (`ROTOR_FAULT_KILL_AT`): the process kills itself with SIGKILL
/// at one point, exactly as a crash would stop it. Points: `intent:STEP` (after a step's intent is
/// journaled), `completion:STEP` (after the step's side effects, before its completion is journaled),
/// `put` (after PutSecretValue), `label:LABEL` (after a label moved). Never set in production.
struct KillSwitch: Sendable {
    let point: String

    static let points = RotationStep.allCases.flatMap { ["intent:\($0)", "completion:\($0)"] } + ["put", "label:AWSCURRENT", "label:AWSPENDING"]

    init(_ point: String) throws(RotorError) {
        guard Self.points.contains(point) else {
            throw RotorError(.invalidParameter, "ROTOR_FAULT_KILL_AT must be one of \(Self.points.joined(separator: ", "))")
        }
        self.point = point
    }

    func fire(_ here: String) {
        guard here == point else { return }
        kill(getpid(), SIGKILL)
        while true { pause() }
    }
}

struct KillSwitchStateStore: RotationStateStore {
    let base: any RotationStateStore
    let killSwitch: KillSwitch

    func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date) async throws -> Int64 {
        let id = try await base.beginStep(token: token, step: step, attempt: attempt, at: at)
        killSwitch.fire("intent:\(step.rawValue)")
        return id
    }
    func endStep(_ id: Int64, token: VersionID, outcome: StepOutcome, error: String?, at: Date, completes: RotationStep?) async throws {
        if let completes { killSwitch.fire("completion:\(completes.rawValue)") }
        try await base.endStep(id, token: token, outcome: outcome, error: error, at: at, completes: completes)
    }

    func register(_ secret: ManagedSecret, audit: AuditEvent) async throws { try await base.register(secret, audit: audit) }
    func managedSecret(_ id: SecretID) async throws -> ManagedSecret? { try await base.managedSecret(id) }
    func managedSecrets(in scope: EnvironmentScope) async throws -> [ManagedSecret] { try await base.managedSecrets(in: scope) }
    func openRotation(for id: SecretID) async throws -> RotationRecord? { try await base.openRotation(for: id) }
    func beginRotation(_ rotation: RotationRecord, audit: AuditEvent) async throws { try await base.beginRotation(rotation, audit: audit) }
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

struct KillSwitchSecretStore: SecretStore {
    let base: any SecretStore
    let killSwitch: KillSwitch

    func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome {
        let outcome = try await base.putSecretValue(input)
        killSwitch.fire("put")
        return outcome
    }
    func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws {
        try await base.updateSecretVersionStage(input)
        killSwitch.fire("label:\(input.stage)")
    }

    func createSecret(_ input: CreateSecretInput) async throws -> SecretDescription { try await base.createSecret(input) }
    func describeSecret(_ id: SecretID) async throws -> SecretDescription { try await base.describeSecret(id) }
    func getSecretValue(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretVersionValue { try await base.getSecretValue(id, selector) }
    func getRandomPassword(_ policy: PasswordPolicy) async throws -> SecretValue { try await base.getRandomPassword(policy) }
    func listSecrets(in scope: EnvironmentScope) async throws -> [SecretDescription] { try await base.listSecrets(in: scope) }
}
