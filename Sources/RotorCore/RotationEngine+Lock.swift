/// The per-secret lock: taken around a rotation or a rollback, renewed while each step runs, and
/// carried as the journal's fence (``JournalFence``), so a process that lost it cannot write its next step.
extension RotationEngine {
    /// Runs `body` holding the secret's lock; every journal write inside is fenced by it.
    func withSecretLock<T: Sendable>(_ id: SecretID, _ body: () async throws -> T) async throws -> T {
        let lock = try await takeLock(id)
        do {
            let result = try await JournalFence.$current.withValue(lock) { try await body() }
            try? await state.releaseSecretLock(id, owner: lock.owner)
            return result
        } catch {
            try? await state.releaseSecretLock(id, owner: lock.owner)
            throw error
        }
    }

    private func takeLock(_ id: SecretID) async throws -> SecretLock {
        if let lock = try await acquire(id) { return lock }
        if let holder = try await state.secretLockHolder(id, now: clock.now()), configuration.holderIsDead(holder) {
            logger.notice("breaking the lock of a process that no longer exists", metadata: ["secret": "\(id)", "holder": "\(holder)"])
            try await state.breakSecretLock(id, heldBy: holder)
            if let lock = try await acquire(id) { return lock }
        }
        throw RotorError(
            .locked, "another rotor process is rotating this secret", secret: id,
            remedy: "wait for it to finish; if that process died on another host, its lock expires after \(Int(configuration.lockTTL))s and the next run resumes its rotation")
    }

    private func acquire(_ id: SecretID) async throws -> SecretLock? {
        try await state.acquireSecretLock(id, owner: configuration.lockOwner, ttl: configuration.lockTTL, now: clock.now())
    }

    /// Extends the lock this task holds; a lock that changed hands in between (another fence) stops the run.
    func renewLock() async throws {
        guard let held = JournalFence.current else { return }
        guard let renewed = try await acquire(held.secret), renewed.fence == held.fence else {
            logger.error("lost the secret's lock to another process; stopping this run", metadata: ["secret": "\(held.secret)"])
            throw RunInterrupted(error: JournalFence.lost(held, holder: try? await state.secretLockHolder(held.secret, now: clock.now())))
        }
    }

    /// Runs one step attempt while a heartbeat renews the lock, within ``EngineConfiguration/stepTimeout``.
    /// Losing the lock cancels the attempt and stops the run; the timeout fails the attempt as transient.
    /// Both measure real elapsed time (a step's duration is physical), not the injected clock.
    func withHeartbeat<T: Sendable>(_ step: RotationStep, secret: SecretID, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = configuration.stepTimeout
        let interval = configuration.heartbeatInterval
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                var waited = Duration.zero
                while waited < timeout {
                    let nap = min(interval, timeout - waited)
                    try await Task.sleep(for: nap)
                    waited += nap
                    try await renewLock()
                }
                throw RotorError(
                    .transient, "\(step) did not finish within \(Int(timeout.seconds))s (shorter than the lock's \(Int(configuration.lockTTL))s lifetime)",
                    secret: secret, step: step, remedy: "check the target's latency; raise --lock-ttl if steps legitimately take longer", isTransient: true)
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw CancellationError() }
            return value
        }
    }
}

/// Stops a run without rollback or any further journal write: the lock was lost, or the journal
/// cannot be written. The rotation stays open for the next run (or the lock's new holder) to resume.
struct RunInterrupted: Error {
    let error: RotorError
}
