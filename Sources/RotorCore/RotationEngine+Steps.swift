import Logging

extension RotationEngine {
    /// Runs one step with journaling and in-run retries of transient failures.
    /// Throws the final ``RotorError``; a `CancellationError` passes through untouched
    /// (the journal then still says where to resume).
    func runStep(_ step: RotationStep, in run: inout RotationRun, rotator: any Rotator, suppliedValue: SecretValue?) async throws {
        let started = clock.now()
        let policy = configuration.retry
        for attempt in 1...policy.attemptsPerRun {
            try await renewLock(run.secret)
            let recordID = try await state.beginStep(token: run.token, step: JournalStep(step), attempt: attempt, at: clock.now())
            do {
                let note = try await perform(step, run: run, rotator: rotator, suppliedValue: suppliedValue)
                let outcome: StepOutcome = note == nil ? .succeeded : .skipped
                try await state.endStep(recordID, token: run.token, outcome: outcome, error: nil, at: clock.now(), completes: step)
                run.record.lastCompletedStep = step
                run.steps.append(StepReport(step: JournalStep(step), attempts: attempt, duration: elapsed(since: started), outcome: outcome, note: note))
                return
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let failure = RotorError.wrapping(error, secret: run.secret, step: step)
                try await state.endStep(recordID, token: run.token, outcome: .failed, error: failure.description, at: clock.now(), completes: nil)
                stepLogger(run.secret, token: run.token, step: step.rawValue)
                    .warning("step attempt failed", metadata: ["attempt": "\(attempt)", "error": "\(failure)"])
                guard failure.isTransient, attempt < policy.attemptsPerRun else {
                    run.steps.append(StepReport(step: JournalStep(step), attempts: attempt, duration: elapsed(since: started), outcome: .failed, note: failure.summary))
                    throw failure
                }
                try await clock.sleep(for: policy.backoff(afterAttempt: attempt, unit: jitter()))
            }
        }
    }

    /// Extends this engine's per-secret lock; a lock taken over by another process (ours expired)
    /// stops this run at once, leaving the journal to that process.
    func renewLock(_ secret: SecretID) async throws {
        guard try await state.acquireSecretLock(secret, owner: configuration.lockOwner, ttl: configuration.lockTTL, now: clock.now()) else {
            logger.error("lost the secret's lock to another process; stopping this run", metadata: ["secret": "\(secret)"])
            throw CancellationError()
        }
    }

    func elapsed(since start: Foundation.Date) -> Duration {
        .milliseconds(Int64((clock.now().timeIntervalSince(start) * 1000).rounded()))
    }

    /// Performs one step after the prologue; returns a note when the step had nothing to do.
    private func perform(_ step: RotationStep, run: RotationRun, rotator: any Rotator, suppliedValue: SecretValue?) async throws -> String? {
        let description = try await store.describeSecret(run.secret)
        if let skip = try prologue(step, description: description, token: run.token) {
            if step == .finishSecret { try await clearPending(run.token, description: description) }
            return skip
        }
        let context = RotationContext(
            secret: run.secret, token: run.token, store: store,
            logger: stepLogger(run.secret, token: run.token, step: step.rawValue), now: clock.now())
        switch step {
        case .createSecret:
            return try await createSecret(context, rotator: rotator, suppliedValue: suppliedValue, tokenExists: description.versionIDsToStages[run.token] != nil)
        case .setSecret:
            guard rotator.hasTarget else { return "rotator has no target to set" }
            try await setSecret(context, rotator: rotator)
        case .testSecret: _ = try await rotator.testSecret(TestSecretRequest(pending: try await pending(context)), context: context)
        case .finishSecret: try await finishSecret(context, rotator: rotator, description: description)
        }
        return nil
    }

    /// AWS's prologue: the token must be a version of the secret (except before createSecret, which
    /// creates it in mode a); a token already `AWSCURRENT` means the step is done; otherwise it must be `AWSPENDING`.
    private func prologue(_ step: RotationStep, description: SecretDescription, token: VersionID) throws(RotorError) -> String? {
        guard let stages = description.versionIDsToStages[token] else {
            if step == .createSecret { return nil }
            throw RotorError(
                .invalidRequest, "version \(token) has no stage for rotation", secret: description.id, step: step,
                remedy: "the pending version was removed outside rotor; run 'rotor rotate' again to start over")
        }
        if stages.contains(.current) { return "version \(token) is already AWSCURRENT" }
        guard stages.contains(.pending) else {
            throw RotorError(
                .invalidRequest, "version \(token) is not AWSPENDING", secret: description.id, step: step,
                remedy: "another process moved the labels; inspect with 'rotor secret describe \(description.id)'")
        }
        return nil
    }

    private func createSecret(
        _ context: RotationContext, rotator: any Rotator, suppliedValue: SecretValue?, tokenExists: Bool
    ) async throws -> String? {
        // The token's version may exist without a value (Secrets Manager's RotateSecret placeholder).
        if tokenExists, try await existingPending(context) != nil { return "pending value already exists" }
        let current = try await store.getSecretValue(context.secret, .current).value
        let response = try await rotator.createSecret(CreateSecretRequest(current: current, suppliedValue: suppliedValue), context: context)
        try await store.putSecretValue(PutSecretValueInput(id: context.secret, token: context.token, value: response.newValue, stages: [.pending]))
        return nil
    }

    private func setSecret(_ context: RotationContext, rotator: any Rotator) async throws {
        let current = try await store.getSecretValue(context.secret, .current).value
        let previous = try await optionalValue(context.secret, .previous)
        let request = SetSecretRequest(current: current, pending: try await pending(context), previous: previous)
        _ = try await rotator.setSecret(request, context: context)
    }

    private func finishSecret(_ context: RotationContext, rotator: any Rotator, description: SecretDescription) async throws {
        let currentID = description.holder(of: .current)
        if rotator.hasTarget {
            let current = try await store.getSecretValue(context.secret, .current).value
            _ = try await rotator.finishSecret(FinishSecretRequest(current: current, pending: try await pending(context)), context: context)
        }
        try await store.updateSecretVersionStage(
            UpdateVersionStageInput(id: context.secret, stage: .current, moveTo: context.token, removeFrom: currentID))
        // The prologue saw AWSPENDING on the token; strip it as Secrets Manager's backend does.
        try await store.updateSecretVersionStage(UpdateVersionStageInput(id: context.secret, stage: .pending, removeFrom: context.token))
    }

    /// Removes `AWSPENDING` from `token`'s version if it still carries it.
    func clearPending(_ token: VersionID, description: SecretDescription) async throws {
        guard description.holder(of: .pending) == token else { return }
        try await store.updateSecretVersionStage(UpdateVersionStageInput(id: description.id, stage: .pending, removeFrom: token))
    }

    func pending(_ context: RotationContext) async throws -> SecretValue {
        try await store.getSecretValue(context.secret, .pending(context.token)).value
    }

    private func existingPending(_ context: RotationContext) async throws -> SecretValue? {
        try await optionalValue(context.secret, .pending(context.token))
    }

    func optionalValue(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretValue? {
        do {
            return try await store.getSecretValue(id, selector).value
        } catch let error as RotorError where error.code == .versionNotFound {
            return nil
        }
    }
}

import struct Foundation.Date
