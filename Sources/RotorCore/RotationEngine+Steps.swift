import Logging

extension RotationEngine {
    /// Runs one step with journaling and in-run retries of transient failures.
    /// Throws the final ``RotorError``; a `CancellationError` passes through untouched
    /// (the journal then still says where to resume). A journal write that fails, or a lost lock,
    /// throws ``RunInterrupted``: no rollback, the rotation stays open.
    func runStep(_ step: RotationStep, in run: inout RotationRun, rotator: any Rotator, suppliedValue: SecretValue?) async throws {
        let started = clock.now()
        let policy = configuration.retry
        for attempt in 1...policy.attemptsPerRun {
            try await renewLock()
            let recordID = try await journal { try await state.beginStep(token: run.token, step: JournalStep(step), attempt: attempt, at: clock.now()) }
            let current = run
            do {
                let note = try await withHeartbeat(step.rawValue, secret: run.secret) {
                    try await perform(step, run: current, rotator: rotator, suppliedValue: suppliedValue)
                }
                let outcome: StepOutcome = note == nil ? .succeeded : .skipped
                try await journalAfterSideEffect(run.secret, step: step) {
                    try await state.endStep(recordID, token: run.token, outcome: outcome, error: nil, at: clock.now(), completes: step)
                }
                run.record.lastCompletedStep = step
                run.steps.append(StepReport(step: JournalStep(step), attempts: attempt, duration: elapsed(since: started), outcome: outcome, note: note))
                return
            } catch is CancellationError {
                throw CancellationError()
            } catch let interrupted as RunInterrupted {
                throw interrupted
            } catch {
                let failure = RotorError.wrapping(error, secret: run.secret, step: step)
                try await journal { try await state.endStep(recordID, token: run.token, outcome: .failed, error: failure.description, at: clock.now(), completes: nil) }
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

    /// A journal write whose failure must not be taken for the step's: it stops the run as it is.
    func journal<T>(_ write: () async throws -> T) async throws -> T {
        do {
            return try await write()
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as RotorError where error.code == .locked {
            throw RunInterrupted(error: error)
        } catch {
            throw RunInterrupted(error: RotorError.wrapping(error))
        }
    }

    /// The journal write that records a step's success after its outside change happened: retried,
    /// since failing it must never roll that change back; if it still fails, the run stops and the
    /// next one resumes (the step is idempotent, so it runs again harmlessly).
    func journalAfterSideEffect(_ secret: SecretID, step: RotationStep?, _ write: () async throws -> Void) async throws {
        var attempt = 1
        while true {
            do {
                return try await journal(write)
            } catch let interrupted as RunInterrupted where interrupted.error.code != .locked && attempt < 5 {
                logger.warning("journal write failed after the step's side effect; retrying", metadata: [
                    "secret": "\(secret)", "step": "\(step?.rawValue ?? "rollback")", "attempt": "\(attempt)", "error": "\(interrupted.error.summary)"])
                try await Task.sleep(for: .milliseconds(50 << attempt))
                attempt += 1
            } catch let interrupted as RunInterrupted {
                throw RunInterrupted(error: RotorError(
                    interrupted.error.code, "\(step?.rawValue ?? "rollback") succeeded but the journal could not record it: \(interrupted.error.summary); the rotation stays open",
                    secret: secret, step: step, remedy: "fix the state database, then run 'rotor rotate \(secret)' to resume with the same token"))
            }
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
        try await verifyFinished(context)
    }

    /// Reads the labels back: something may have changed them between rotor's own calls (a late
    /// copy of an earlier request, which moto answers by resetting the version's labels; another
    /// tool or an operator). rotor does not fight it: a token that is not `AWSCURRENT` alone fails
    /// the step with the labels it found, so the run never reports a success that did not happen.
    private func verifyFinished(_ context: RotationContext) async throws {
        let description = try await store.describeSecret(context.secret)
        let stages = description.versionIDsToStages[context.token] ?? []
        guard !(stages.contains(.current) && !stages.contains(.pending)) else { return }
        let labels = description.versionIDsToStages.filter { !$0.value.isEmpty }
            .map { "\($0.key): \($0.value.map(\.rawValue).sorted().joined(separator: ","))" }.sorted().joined(separator: "; ")
        throw RotorError(
            .invalidRequest, "the labels changed under rotor during finishSecret: version \(context.token) carries \(stages.map(\.rawValue).sorted()), not AWSCURRENT alone (labels now: \(labels.isEmpty ? "none" : labels))",
            secret: context.secret, step: .finishSecret,
            remedy: "find what else moves this secret's labels; then put AWSCURRENT back on the right version (runbooks/stuck-pending-version.md, 'Labels changed under rotor')")
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
