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
    /// and the attempt fails as transient. Losing the lock cancels the work and stops the run. A
    /// renewal that fails otherwise is tried again soon; once the lock may lapse before the next try,
    /// the work is cancelled and the run stops as if the lock were lost. Both measure real elapsed
    /// time (a step's duration is physical), not the injected clock.
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
            var renewal = Renewal(interval: interval, lastRenewed: started, next: started + min(interval, timeout))
            var timedOut = false
            let ticker = HeartbeatTicker.shared
            let ticket = ticker.watch(mailbox, due: renewal.next)
            defer { ticker.unwatch(ticket) }
            func cancelPastTheLimit() {
                guard !timedOut, ContinuousClock.now - started >= timeout else { return }
                timedOut = true
                group.cancelAll()
            }
            while await mailbox.next() == .due {
                cancelPastTheLimit() // before a renewal, which may be slow
                if ContinuousClock.now >= renewal.next {
                    try await renewDuringStep(secret, &renewal, cancellingOnLoss: group)
                    cancelPastTheLimit()
                }
                ticker.reschedule(ticket, due: timedOut ? renewal.next : min(renewal.next, started + timeout))
            }
            do {
                return try await group.next()!
            } catch is CancellationError where timedOut && !Task.isCancelled {
                throw RotorError(
                    .transient, "\(what) did not finish within \(Int(timeout.seconds))s and was cancelled", secret: secret,
                    remedy: "check the target's latency; raise --lock-ttl (the step timeout is 80% of it) if steps legitimately take longer", isTransient: true)
            }
        }
    }

    /// When a running step's lock was last renewed and is next due.
    struct Renewal {
        let interval: Duration
        var lastRenewed: ContinuousClock.Instant
        var next: ContinuousClock.Instant
        /// How soon a failed renewal is tried again.
        var retry: Duration { min(.seconds(1), interval / 2) }
        /// The lock is known to last two intervals past its last renewal (a step starts with at least that).
        var mayLapseBy: ContinuousClock.Instant { lastRenewed + interval * 2 }
    }

    /// One renewal while a step's work runs. A lost lock cancels the work and throws (the group still
    /// waits for the work to end); so does a failure when the lock may lapse before another try. A
    /// cancelled caller still renews: its work may ignore the cancellation for a while.
    private func renewDuringStep<T>(_ secret: SecretID, _ renewal: inout Renewal, cancellingOnLoss group: ThrowingTaskGroup<T, any Error>) async throws {
        do {
            // A task of its own is not cancelled with its parent; it keeps the fence (a task-local).
            if Task.isCancelled { try await Task { try await self.renewLock() }.value } else { try await renewLock() }
            renewal.lastRenewed = ContinuousClock.now
            renewal.next = renewal.lastRenewed + renewal.interval
        } catch let lost as RunInterrupted {
            group.cancelAll()
            throw lost
        } catch {
            let now = ContinuousClock.now
            guard now + renewal.retry < renewal.mayLapseBy else {
                group.cancelAll()
                throw RunInterrupted(error: RotorError(
                    .storeUnavailable, "the secret's lock could not be renewed and may lapse: \(RotorError.wrapping(error).summary); the step was cancelled so that no other process acts beside it",
                    secret: secret, remedy: "check the state database; the next run resumes this rotation with the same token"))
            }
            logger.warning("could not renew the secret's lock; trying again", metadata: ["secret": "\(secret)", "error": "\(RotorError.wrapping(error).summary)"])
            renewal.next = now + renewal.retry
        }
    }
}

/// Stops a run without rollback or any further journal write: the lock was lost, or the journal
/// cannot be written. The rotation stays open for the next run (or the lock's new holder) to resume.
struct RunInterrupted: Error {
    let error: RotorError
}
