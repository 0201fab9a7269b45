import Synchronization

/// The per-secret lock: taken around a rotation or a rollback, renewed while each step runs, and
/// carried as the journal's fence (``JournalFence``), so a process that lost it cannot write its next step.
extension RotationEngine {
    /// Runs `body` holding the secret's lock; every journal write inside is fenced by it. The lock is
    /// released afterwards unless `releasedWith` says the result's last journal write released it.
    /// `body` gets the managed secret and its open rotation as read under the lock; an id that is not
    /// managed throws ``RotorError/Code/notManaged`` and leaves no trace, not even a lock row.
    func withSecretLock<T: Sendable>(
        _ id: SecretID, releasedWith: (T) -> Bool = { _ in false }, _ body: (LockedSecret) async throws -> T
    ) async throws -> T {
        let found = try await takeLock(id)
        let lock = found.lock!
        do {
            let result = try await JournalFence.$current.withValue(lock) { try await body(found) }
            if !releasedWith(result) { await release(id, lock) }
            return result
        } catch {
            await release(id, lock)
            throw error
        }
    }

    /// Releases the lock even when the task was cancelled (a cancelled database call would not run,
    /// leaving the lock held for its whole lifetime).
    private func release(_ id: SecretID, _ lock: SecretLock) async {
        let state = self.state
        await Task.detached { try? await state.releaseSecretLock(id, owner: lock.owner) }.value
    }

    private func takeLock(_ id: SecretID) async throws -> LockedSecret {
        let found = try await lockAndRead(id)
        guard found.managed != nil else { throw notManagedError(id) }
        if found.lock != nil { return found }
        if let holder = try await state.secretLockHolder(id, now: clock.now()), configuration.holderIsDead(holder) {
            logger.notice("breaking the lock of a process that no longer exists", metadata: ["secret": "\(id)", "holder": "\(holder)"])
            try await state.breakSecretLock(id, heldBy: holder)
            let again = try await lockAndRead(id)
            guard again.managed != nil else { throw notManagedError(id) }
            if again.lock != nil { return again }
        }
        throw RotorError(
            .locked, "another rotor process is rotating this secret", secret: id,
            remedy: "wait for it to finish; if that process died on another host, its lock expires after \(Int(configuration.lockTTL))s and the next run resumes its rotation")
    }

    private func acquire(_ id: SecretID) async throws -> SecretLock? {
        try await state.acquireSecretLock(id, owner: configuration.lockOwner, ttl: configuration.lockTTL, now: clock.now())
    }

    private func lockAndRead(_ id: SecretID) async throws -> LockedSecret {
        try await state.lockAndRead(id, owner: configuration.lockOwner, ttl: configuration.lockTTL, now: clock.now())
    }

    /// Extends the lock this task holds; a lock that changed hands in between (another fence) stops the run.
    func renewLock() async throws {
        guard let held = JournalFence.current else { return }
        guard let renewed = try await acquire(held.secret), renewed.fence == held.fence else {
            logger.error("lost the secret's lock to another process; stopping this run", metadata: ["secret": "\(held.secret)"])
            throw RunInterrupted(error: JournalFence.lost(held, holder: try? await state.secretLockHolder(held.secret, now: clock.now())))
        }
    }

    /// Runs one step attempt (or a rollback) while a heartbeat renews the lock, for as long as the
    /// work really runs: a lock is never left to lapse under work still in flight. After
    /// ``EngineConfiguration/stepTimeout`` the work is cancelled (rotators close their connections)
    /// and the attempt fails as transient. Losing the lock cancels the work and stops the run; a
    /// renewal that fails otherwise is tried again a second later (the next fenced journal write
    /// says whether the lock survived). Both measure real elapsed time (a step's duration is
    /// physical), not the injected clock.
    ///
    /// The work is the one child task; the caller's task is the heartbeat, woken by
    /// ``HeartbeatTicker`` when it is due and by the work's end, so everything runs where the caller
    /// prefers (its task executor).
    func withHeartbeat<T: Sendable>(_ what: String, secret: SecretID, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = configuration.stepTimeout
        let interval = max(configuration.stepHeartbeat.map { max($0, .seconds(1)) } ?? configuration.heartbeatInterval, .milliseconds(100))
        let mailbox = StepMailbox()
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask {
                defer { mailbox.post(.done) }
                return try await body()
            }
            let started = ContinuousClock.now
            var (nextRenewal, timedOut) = (started + min(interval, timeout), false)
            let ticker = HeartbeatTicker.shared
            let ticket = ticker.watch(mailbox, due: nextRenewal)
            defer { ticker.unwatch(ticket) }
            while await mailbox.next() == .due {
                if ContinuousClock.now >= nextRenewal {
                    nextRenewal = try await renewDuringStep(secret, cancellingOnLoss: group) ? ContinuousClock.now + interval : ContinuousClock.now + .seconds(1)
                }
                if !timedOut, ContinuousClock.now - started >= timeout {
                    timedOut = true
                    group.cancelAll()
                }
                ticker.reschedule(ticket, due: timedOut ? nextRenewal : min(nextRenewal, started + timeout))
            }
            do {
                return try await group.next()!
            } catch is CancellationError where timedOut {
                throw RotorError(
                    .transient, "\(what) did not finish within \(Int(timeout.seconds))s and was cancelled", secret: secret,
                    remedy: "check the target's latency; raise --lock-ttl (the step timeout is 80% of it) if steps legitimately take longer", isTransient: true)
            }
        }
    }

    /// One renewal while a step's work runs; `false` when it failed without the lock being lost (try
    /// again soon). A lost lock cancels the work and throws (the group still waits for the work to
    /// end). A cancelled caller still renews: its work may ignore the cancellation for a while.
    private func renewDuringStep<T>(_ secret: SecretID, cancellingOnLoss group: ThrowingTaskGroup<T, any Error>) async throws -> Bool {
        do {
            if Task.isCancelled {
                let held = JournalFence.current
                try await Task.detached { try await JournalFence.$current.withValue(held) { try await self.renewLock() } }.value
            } else {
                try await renewLock()
            }
            return true
        } catch let lost as RunInterrupted {
            group.cancelAll()
            throw lost
        } catch {
            logger.warning("could not renew the secret's lock; trying again in a second", metadata: ["secret": "\(secret)", "error": "\(RotorError.wrapping(error).summary)"])
            return false
        }
    }
}

/// Stops a run without rollback or any further journal write: the lock was lost, or the journal
/// cannot be written. The rotation stays open for the next run (or the lock's new holder) to resume.
struct RunInterrupted: Error {
    let error: RotorError
}
