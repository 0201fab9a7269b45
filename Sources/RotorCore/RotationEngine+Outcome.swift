import struct Foundation.Date

extension RotationEngine {
    /// Closes a rotation whose four steps all completed.
    func succeed(_ run: inout RotationRun, managed: ManagedSecret, rotator: any Rotator) async throws -> RotationReport {
        let expiry = try await promotedExpiry(run, rotator: rotator)
        let now = clock.now()
        let health = SecretHealthChange(status: .active, failedRuns: 0, lastRotatedAt: now, credentialExpiresAt: expiry)
        let (token, backlog) = (run.token, run.backlog)
        let events = run.rotatorAudit + [audit(run.secret, "rotation.finish", "succeeded", "AWSCURRENT is now version \(run.token)")]
        // Not retried (a retry after a commit reported as failed would append the audit events twice):
        // if it fails, the rotation stays open and the next run finds the token AWSCURRENT and closes it.
        // The lock ends in the same commit (``withSecretLock(_:releasedWith:_:)`` then skips its release).
        try await journal {
            try await state.finishRun(token: token, outcome: .succeeded, error: nil, at: now, health: health, audit: events, after: backlog, releasingLock: true)
        }
        run.backlog = .none
        logger.info("rotation succeeded", metadata: ["secret": "\(run.secret)", "token": "\(run.token)"])
        await configuration.rotationFinished?(run.secret, token)
        return run.report(outcome: .succeeded, error: nil, endedAt: now)
    }

    /// When the promoted credential expires, for rotators whose credentials do: from the value this
    /// run wrote, or read back when a resumed run never saw it.
    func promotedExpiry(_ run: RotationRun, rotator: any Rotator) async throws -> Date? {
        guard rotator.credentialsExpire else { return nil }
        if let known = run.snapshot.values[run.token] { return rotator.credentialExpiry(of: known) }
        return rotator.credentialExpiry(of: try await store.getSecretValue(run.secret, VersionSelector(versionID: run.token)).value)
    }

    /// Decides the direction after a step failed for good: finishSecret (and, for rotators that
    /// ask for it, testSecret) roll forward; everything else rolls back.
    func handleFailure(
        _ error: RotorError, at step: RotationStep, run: inout RotationRun, rotator: any Rotator, managed: ManagedSecret
    ) async throws -> RotationReport {
        try await journalBacklog(&run)
        // A pending version finishSecret refused to promote (it has no value) is abandoned, not retried.
        let forward = (step == .finishSecret && error.code != .untestedVersion) || (step == .testSecret && rotator.afterSetFailure == .rollForward)
        guard forward else {
            let cause = "\(step) failed: \(error.summary)"
            try await journal { try await state.markRollingBack(token: run.token, error: cause, at: clock.now()) }
            return try await rollBack(&run, rotator: rotator, managed: managed, cause: cause)
        }
        let now = clock.now()
        let health = failedHealth(managed, error: "\(step) failed: \(error.summary)")
        let rollForward = RotorError(
            .pendingRetry, "\(step) failed: \(error.summary); the tested pending version is kept and the next run resumes it with the same token",
            secret: run.secret, step: step, remedy: "fix the cause, then run 'rotor rotate \(run.secret)' to finish")
        try await state.finishRun(
            token: run.token, outcome: .inProgress, error: rollForward.summary, at: now, health: health,
            audit: auditFailure(run.secret, "rotation.failed", "roll-forward", rollForward.summary, health: health))
        logger.error("rotation failed; will roll forward", metadata: ["secret": "\(run.secret)", "error": "\(rollForward)"])
        return run.report(outcome: .inProgress, error: rollForward, endedAt: now)
    }

    /// Undoes a failed rotation: the rotator restores the current value on its target (if setSecret
    /// ever ran), and `AWSPENDING` is removed. `AWSCURRENT` is never touched.
    func rollBack(_ run: inout RotationRun, rotator: any Rotator, managed: ManagedSecret, cause: String) async throws -> RotationReport {
        let started = clock.now()
        // The rollback's intent extends the lock for its whole lifetime, as a step's does.
        let (token, ttl) = (run.token, configuration.lockTTL)
        let recordID = try await journal {
            try await state.beginStep(token: token, step: .rollback, attempt: 1, at: started, after: .none, lockUntil: clock.now().addingTimeInterval(ttl))
        }
        do {
            let current = run
            try await withHeartbeat("rollback", secret: run.secret) { try await undo(current, rotator: rotator) }
        } catch let interrupted as RunInterrupted {
            throw interrupted
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return try await rollbackFailed(error, recordID: recordID, run: &run, managed: managed, cause: cause)
        }
        try await journalAfterSideEffect(run.secret, step: nil) {
            try await state.endStep(recordID, token: run.token, outcome: .succeeded, error: nil, at: clock.now(), completes: nil)
        }
        run.steps.append(StepReport(step: .rollback, attempts: 1, duration: elapsed(since: started), outcome: .succeeded))
        let now = clock.now()
        let health = failedHealth(managed, error: cause)
        let failure = RotorError(
            .rolledBack, "rotation failed and was rolled back: \(cause); AWSCURRENT is unchanged", secret: run.secret,
            remedy: "see 'rotor history \(run.secret)' and runbooks/failed-or-quarantined-rotation.md")
        try await state.finishRun(
            token: run.token, outcome: .rolledBack, error: cause, at: now, health: health,
            audit: auditFailure(run.secret, "rotation.rollback", "rolled-back", cause, health: health))
        logger.error("rotation rolled back", metadata: ["secret": "\(run.secret)", "token": "\(run.token)", "cause": "\(cause)"])
        return run.report(outcome: .rolledBack, error: failure, endedAt: now)
    }

    func undo(_ run: RotationRun, rotator: any Rotator) async throws {
        let setStarted = run.record.steps.contains { $0.step == .setSecret } || run.steps.contains { $0.step == .setSecret }
        let context = RotationContext(
            secret: run.secret, token: run.token, store: store,
            logger: stepLogger(run.secret, token: run.token, step: "rollback"), now: clock.now())
        var snapshot = SecretSnapshot()
        _ = try await executor.describe(run.secret, &snapshot)
        if rotator.hasTarget, setStarted {
            let current = try await executor.current(&snapshot, secret: run.secret)
            let discard = try await executor.existingPending(run.token, &snapshot, secret: run.secret)
            try await rotator.rollback(RollbackRequest(restore: current, discard: discard), context: context)
        }
        try await executor.clearPending(run.token, &snapshot)
    }

    private func rollbackFailed(
        _ error: any Error, recordID: Int64, run: inout RotationRun, managed: ManagedSecret, cause: String
    ) async throws -> RotationReport {
        let failure = RotorError.wrapping(error, secret: run.secret)
        let now = clock.now()
        try await state.endStep(recordID, token: run.token, outcome: .failed, error: failure.description, at: now, completes: nil)
        run.steps.append(StepReport(step: .rollback, attempts: 1, duration: .zero, outcome: .failed, note: failure.summary))
        let health = failedHealth(managed, error: "rollback failed after \(cause): \(failure.summary)")
        let result = RotorError(
            .rollbackFailed, "rollback failed after \(cause): \(failure.summary)", secret: run.secret,
            remedy: "the rotation stays open and the next 'rotor rotate \(run.secret)' retries the rollback; see runbooks/rollback.md")
        try await state.finishRun(
            token: run.token, outcome: .rollingBack, error: cause, at: now, health: health,
            audit: auditFailure(run.secret, "rotation.rollback", "failed", result.summary, health: health))
        logger.critical("rollback failed", metadata: ["secret": "\(run.secret)", "error": "\(result)"])
        return run.report(outcome: .rollingBack, error: result, endedAt: now)
    }

    /// The health after one more failed run; quarantines at the policy's threshold.
    func failedHealth(_ managed: ManagedSecret, error: String) -> SecretHealthChange {
        let failedRuns = managed.failedRuns + 1
        let quarantine = failedRuns >= configuration.retry.failedRunsBeforeQuarantine
        return SecretHealthChange(status: quarantine ? .quarantined : .failed, failedRuns: failedRuns, lastError: error)
    }

    private func auditFailure(_ secret: SecretID, _ operation: String, _ outcome: String, _ detail: String, health: SecretHealthChange) -> [AuditEvent] {
        var events = [audit(secret, operation, outcome, detail)]
        if health.status == .quarantined {
            events.append(audit(secret, "secret.quarantine", "quarantined", "after \(health.failedRuns) failed runs"))
        }
        return events
    }
}
