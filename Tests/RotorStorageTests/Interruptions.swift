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
struct CrashingStateStore: ForwardingStateStore {
    let base: any RotationStateStore
    let crash: CrashSwitch

    func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64 {
        try crashBeforeRecording(backlog)
        let id = try await base.beginStep(token: token, step: step, attempt: attempt, at: at, after: backlog, lockUntil: lockUntil)
        if let step = RotationStep(rawValue: step.rawValue) { try crash.check(.afterIntent(step)) }
        return id
    }

    func journal(_ backlog: JournalBacklog, token: VersionID) async throws {
        try crashBeforeRecording(backlog)
        try await base.journal(backlog, token: token)
    }

    func finishRun(
        token: VersionID, outcome: RotationOutcome, error: String?, at: Date, health: SecretHealthChange, audit: [AuditEvent],
        after backlog: JournalBacklog, releasingLock: Bool
    ) async throws {
        try crashBeforeRecording(backlog)
        try await base.finishRun(token: token, outcome: outcome, error: error, at: at, health: health, audit: audit, after: backlog, releasingLock: releasingLock)
    }

    private func crashBeforeRecording(_ backlog: JournalBacklog) throws {
        for completed in backlog.completedSteps { try crash.check(.beforeCompletion(completed)) }
    }
}

/// A secret store that crashes right after a write succeeded.
struct CrashingSecretStore: ForwardingSecretStore {
    let base: any SecretStore
    let crash: CrashSwitch

    func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome {
        let outcome = try await base.putSecretValue(input)
        try crash.check(.afterPut)
        return outcome
    }

    func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws {
        try await base.updateSecretVersionStage(input)
        try crash.check(.afterLabelMove(input.stage))
    }

    /// One move at a time, so a crash point sits between AWSCURRENT's move and AWSPENDING's (the
    /// state Secrets Manager can be left in; a local store moves both in one transaction).
    func updateSecretVersionStages(_ inputs: [UpdateVersionStageInput]) async throws { try await updateSecretVersionStagesOneByOne(inputs) }
    var labelsNeedReadBack: Bool { true }
}
