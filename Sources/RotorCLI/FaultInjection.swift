#if ROTOR_FAULT_INJECTION
import Foundation
import RotorCore
import Synchronization

/// A test hook for crash-safety tests (`ROTOR_FAULT_KILL_AT`): the process kills itself with SIGKILL
/// at one point, exactly as a crash would stop it. Points: `intent:STEP` (after a step's intent is
/// journaled), `completion:STEP` (after the step's side effects, before its completion is journaled),
/// `put` (after PutSecretValue), `label:LABEL` (after a label moved). Compiled into debug builds only (Package.swift defines ROTOR_FAULT_INJECTION for them).
/// For a rotator without a target, setSecret and testSecret have no intent of their own (they change
/// nothing outside): `intent:setSecret` and `intent:testSecret` never fire, and the completions of
/// createSecret, setSecret and testSecret all fire at finishSecret's intent, which carries them.
/// Aim crash tests at a rotator with a target (the PostgreSQL ones) to reach every point.
/// `ROTOR_FAULT_STOP_AT` stops the process (SIGSTOP) at the point instead, once: a paused host, which
/// carries on where it was when it is sent SIGCONT.
final class KillSwitch: Sendable {
    let point: String
    /// SIGKILL, or SIGSTOP (the first time only).
    let signal: Int32
    private let fired = Atomic(false)

    static let points = RotationStep.allCases.flatMap { ["intent:\($0)", "completion:\($0)"] } + ["put", "label:AWSCURRENT", "label:AWSPENDING"]

    init(_ point: String, signal: Int32 = SIGKILL) throws(RotorError) {
        guard Self.points.contains(point) else {
            throw RotorError(.invalidParameter, "ROTOR_FAULT_KILL_AT and ROTOR_FAULT_STOP_AT must be one of \(Self.points.joined(separator: ", "))")
        }
        self.point = point
        self.signal = signal
    }

    func fire(_ here: String) {
        guard here == point else { return }
        if signal == SIGSTOP {
            guard !fired.exchange(true, ordering: .relaxed) else { return }
            kill(getpid(), SIGSTOP)
            return
        }
        kill(getpid(), SIGKILL)
        while true { pause() }
    }
}

struct KillSwitchStateStore: ForwardingStateStore {
    let base: any RotationStateStore
    let killSwitch: KillSwitch

    func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64 {
        fireBeforeRecording(backlog)
        let id = try await base.beginStep(token: token, step: step, attempt: attempt, at: at, after: backlog, lockUntil: lockUntil)
        killSwitch.fire("intent:\(step.rawValue)")
        return id
    }

    func journal(_ backlog: JournalBacklog, token: VersionID) async throws {
        fireBeforeRecording(backlog)
        try await base.journal(backlog, token: token)
    }

    func finishRun(
        token: VersionID, outcome: RotationOutcome, error: String?, at: Date, health: SecretHealthChange, audit: [AuditEvent],
        after backlog: JournalBacklog, releasingLock: Bool
    ) async throws {
        fireBeforeRecording(backlog)
        try await base.finishRun(token: token, outcome: outcome, error: error, at: at, health: health, audit: audit, after: backlog, releasingLock: releasingLock)
    }

    /// A step's side effects happened; its completion is about to be journaled.
    private func fireBeforeRecording(_ backlog: JournalBacklog) {
        for completed in backlog.completedSteps { killSwitch.fire("completion:\(completed.rawValue)") }
    }
}

struct KillSwitchSecretStore: ForwardingSecretStore {
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

    /// One move at a time, so a crash point sits between AWSCURRENT's move and AWSPENDING's (the
    /// state Secrets Manager can be left in; a local store moves both in one transaction).
    func updateSecretVersionStages(_ inputs: [UpdateVersionStageInput]) async throws { try await updateSecretVersionStagesOneByOne(inputs) }
    var labelsNeedReadBack: Bool { true }
}
#endif
