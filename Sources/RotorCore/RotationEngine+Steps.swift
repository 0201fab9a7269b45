import struct Foundation.Date
import struct Foundation.DateInterval
import Logging

extension RotationEngine {
    /// Runs one step with journaling and in-run retries of transient failures.
    /// Throws the final ``RotorError``; a `CancellationError` passes through untouched
    /// (the journal then still says where to resume). A journal write that fails, or a lost lock,
    /// throws ``RunInterrupted``: no rollback, the rotation stays open.
    func runStep(_ step: RotationStep, in run: inout RotationRun, rotator: any Rotator, suppliedValue: SecretValue?) async throws {
        let started = clock.now()
        let policy = configuration.retry
        var earlier = earlierAttempts(of: step, in: run)
        for attempt in 1...policy.attemptsPerRun {
            let attemptStarted = clock.now()
            let recordID: Int64?
            if step.changesTheOutside(rotator) {
                recordID = try await journalIntent(step, attempt: attempt, in: &run)
            } else {
                try await keepLock(for: &run)
                recordID = nil
            }
            let request = StepExecutor.Request(
                step: step, secret: run.secret, token: run.token, rotator: rotator, suppliedValue: suppliedValue,
                logger: stepLogger(run.secret, token: run.token, step: step.rawValue), now: clock.now(),
                tokenIsFresh: step == .createSecret && attempt == 1 && !run.resumed && run.record.steps.isEmpty, earlierAttempts: earlier)
            let snapshot = run.snapshot
            // Whatever happens to this attempt, the next one reads the secret afresh.
            run.snapshot = SecretSnapshot()
            do {
                let (note, learnt, notes) = try await withHeartbeat(step.rawValue, secret: run.secret) {
                    try await executor.runReporting(request, snapshot: snapshot)
                }
                run.snapshot = learnt
                run.rotatorAudit = notes.map { audit(run.secret, $0.operation, $0.outcome, $0.detail) }
                let outcome: StepOutcome = note == nil ? .succeeded : .skipped
                // Journaled by the next write (the next step's intent, or the run's end), before any further side effect.
                run.carry(step, attempt: attempt, intent: recordID, started: attemptStarted, outcome: outcome, error: nil, at: clock.now())
                run.record.lastCompletedStep = step
                run.steps.append(StepReport(step: JournalStep(step), attempts: attempt, duration: elapsed(since: started), outcome: outcome, note: note))
                return
            } catch is CancellationError {
                throw CancellationError()
            } catch let interrupted as RunInterrupted {
                throw interrupted
            } catch {
                earlier.append(DateInterval(start: attemptStarted, end: max(attemptStarted, clock.now())))
                let failure = RotorError.wrapping(error, secret: run.secret, step: step)
                run.carry(step, attempt: attempt, intent: recordID, started: attemptStarted, outcome: .failed, error: failure.description, at: clock.now())
                try await journalBacklog(&run)
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

    /// When the journaled attempts of `step` for this rotation ran: a finished one from its start to
    /// its end, an interrupted one (no end) for at most the step timeout, after which it was cancelled.
    func earlierAttempts(of step: RotationStep, in run: RotationRun) -> [DateInterval] {
        run.record.steps.filter { $0.step == JournalStep(step) && $0.token == run.token }.map { record in
            let end = record.endedAt ?? record.startedAt.addingTimeInterval(configuration.stepTimeout.seconds)
            return DateInterval(start: record.startedAt, end: max(record.startedAt, end))
        }
    }

    /// Journals the intent of a step attempt, together with the run's backlog (the new rotation, the
    /// step before's end, steps with no side effect) and the lock's renewal for a full lifetime: one
    /// commit. Carrying finished work, the write is retried like any write after a side effect.
    func journalIntent(_ step: RotationStep, attempt: Int, in run: inout RotationRun) async throws -> Int64 {
        let (token, backlog, ttl, before) = (run.token, run.backlog, configuration.lockTTL, clock.now())
        // The time is read on each try: a retried write still gives the step a full lifetime of the lock.
        let write = {
            let now = clock.now()
            return try await state.beginStep(token: token, step: JournalStep(step), attempt: attempt, at: now, after: backlog, lockUntil: now.addingTimeInterval(ttl))
        }
        let id = backlog.recordsFinishedWork ? try await journalAfterSideEffect(run.secret, step: backlog.completedSteps.last, write) : try await journal(write)
        run.backlog = .none
        run.lockExtendedUntil = before.addingTimeInterval(ttl)
        return id
    }

    /// An attempt without an intent extends no lock, and the heartbeat's first renewal comes one
    /// interval into the attempt: renew first unless the last extension still covers two intervals
    /// (a run that slept in a backoff, or resumed at such a step).
    func keepLock(for run: inout RotationRun) async throws {
        let now = clock.now()
        if let until = run.lockExtendedUntil, until.timeIntervalSince(now) > 2 * configuration.heartbeatInterval.seconds { return }
        try await journal { try await renewLock() }
        run.lockExtendedUntil = now.addingTimeInterval(configuration.lockTTL)
    }

    /// Journals the run's backlog on its own if no later write has carried it yet.
    func journalBacklog(_ run: inout RotationRun) async throws {
        let backlog = run.backlog
        guard !backlog.isEmpty else { return }
        let write = { [state, token = run.token] in try await state.journal(backlog, token: token) }
        if backlog.recordsFinishedWork { try await journalAfterSideEffect(run.secret, step: backlog.completedSteps.last, write) } else { try await journal(write) }
        run.backlog = .none
    }

    /// A journal write whose failure must not be taken for the step's: it stops the run as it is.
    func journal<T>(_ write: () async throws -> T) async throws -> T {
        do {
            return try await write()
        } catch is CancellationError {
            throw CancellationError()
        } catch let interrupted as RunInterrupted {
            throw interrupted
        } catch let error as RotorError where error.code == .locked {
            logger.error("lost the secret's lock to another process; stopping this run", metadata: ["secret": "\(error.secret.map { "\($0)" } ?? "")"])
            throw RunInterrupted(error: error)
        } catch {
            throw RunInterrupted(error: RotorError.wrapping(error))
        }
    }

    /// The journal write that records a step's success after its outside change happened: retried,
    /// since failing it must never roll that change back; if it still fails, the run stops and the
    /// next one resumes (the step is idempotent, so it runs again harmlessly).
    func journalAfterSideEffect<T>(_ secret: SecretID, step: RotationStep?, _ write: () async throws -> T) async throws -> T {
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

    func elapsed(since start: Date) -> Duration {
        .milliseconds(Int64((clock.now().timeIntervalSince(start) * 1000).rounded()))
    }

    /// The four steps' one implementation, as rotor's own runs use it.
    var executor: StepExecutor { StepExecutor(store: store, mode: .engine) }
}
