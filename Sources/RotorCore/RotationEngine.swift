import Logging
import struct Foundation.Date
import struct Foundation.UUID
import struct Foundation.TimeInterval

/// What the engine does when it finds `AWSPENDING` on a version that is not current
/// and its own journal has no open rotation for it (a rotation started elsewhere or lost).
public enum StuckPendingPolicy: String, Sendable, CaseIterable {
    /// Resume that rotation with the pending version's id as the token.
    case resume
    /// Refuse with ``RotorError/Code/previousRotationIncomplete``.
    case refuse
}

public struct EngineConfiguration: Sendable {
    public var retry: RetryPolicy
    public var stuckPending: StuckPendingPolicy
    /// Who is acting, for the audit log (e.g. `cli:alice`, `daemon`).
    public var actor: String
    /// How long a per-secret lock lasts if its holder stops renewing it (it is renewed while a step runs).
    public var lockTTL: TimeInterval
    /// This engine's identity as a lock owner.
    public var lockOwner: String
    /// Whether a lock owner is known to be dead (a process of this host that no longer exists): its
    /// lock is then broken at once instead of waiting for it to lapse.
    public var holderIsDead: @Sendable (String) -> Bool
    /// Called after a rotation's success is committed (the new version is `AWSCURRENT`), e.g. to tell
    /// the local agents to drop the old value. Best effort: it cannot fail the rotation.
    public var rotationFinished: (@Sendable (SecretID, VersionID) async -> Void)?

    public init(
        retry: RetryPolicy = RetryPolicy(), stuckPending: StuckPendingPolicy = .refuse, actor: String = "rotor",
        lockTTL: TimeInterval = 60, lockOwner: String? = nil, holderIsDead: @escaping @Sendable (String) -> Bool = { _ in false }
    ) {
        self.retry = retry
        self.stuckPending = stuckPending
        self.actor = actor
        self.lockTTL = lockTTL
        self.lockOwner = lockOwner ?? "\(actor)#\(UUID().uuidString.prefix(8))"
        self.holderIsDead = holderIsDead
    }

    /// One step attempt may run this long; shorter than the lock's lifetime, so a step never outlives
    /// a lock that stopped being renewed.
    public var stepTimeout: Duration { .milliseconds(Int64(lockTTL * 800)) }
    /// How often a running step renews the lock.
    var heartbeatInterval: Duration { .milliseconds(Int64(lockTTL * 1000 / 3)) }
    /// How often, in real time, a running step's heartbeat renews the lock; `nil`: ``heartbeatInterval``.
    /// (Tests on a test clock set it far off, so no physical heartbeat interleaves their journal writes.)
    package var stepHeartbeat: Duration?
}

/// Drives rotators through createSecret → setSecret → testSecret → finishSecret with Secrets Manager's
/// label semantics, journaling each step's intent before its side effect so any interruption
/// resumes with the same token. Failures before finishSecret roll back; a failure in finishSecret
/// (or after setSecret, for rotators that ask for it) rolls forward.
public struct RotationEngine: Sendable {
    public let store: any SecretStore
    public let state: any RotationStateStore
    public let rotators: RotatorRegistry
    public let clock: any RotorClock
    public internal(set) var configuration: EngineConfiguration
    let logger: Logger
    let jitter: @Sendable () -> Double
    let makeToken: @Sendable () -> VersionID

    public init(
        store: any SecretStore, state: any RotationStateStore, rotators: RotatorRegistry,
        clock: any RotorClock = SystemClock(), configuration: EngineConfiguration = EngineConfiguration(),
        logger: Logger = Logger(label: "rotor.engine"),
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        makeToken: @escaping @Sendable () -> VersionID = { VersionID(UUID().uuidString.lowercased()) }
    ) {
        self.store = store
        self.state = state
        self.rotators = rotators
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
        self.jitter = jitter
        self.makeToken = makeToken
    }

    /// Rotates a managed secret now, or resumes its open rotation with the same token.
    /// Step failures do not throw: they come back in the report with the outcome (rolled back,
    /// left pending for retry, or rollback failed). Preconditions (not managed, quarantined,
    /// a stuck rotation) throw.
    /// - Parameters:
    ///   - suppliedValue: the operator's new value, for the `manual` rotator.
    ///   - startIf: checked under the lock before a new rotation starts (an open one always resumes);
    ///     `false` throws ``RotorError/Code/notDue``. The scheduler uses it so a secret that another
    ///     process rotated since the schedule was read is not rotated again.
    public func rotate(
        _ id: SecretID, suppliedValue: SecretValue? = nil, trigger: String = "manual", retry: RetryPolicy? = nil,
        startIf: (@Sendable (ManagedSecret) -> Bool)? = nil
    ) async throws -> RotationReport {
        // A thread of its own: the rotation's state and store calls run in place, without hand-offs.
        guard configuration.lockTTL >= RotationThreads.shortestLockTTL else {
            return try await rotateOnThisThread(id, suppliedValue: suppliedValue, trigger: trigger, retry: retry, startIf: startIf)
        }
        return try await RotationThreads.shared.run {
            try await rotateOnThisThread(id, suppliedValue: suppliedValue, trigger: trigger, retry: retry, startIf: startIf)
        }
    }

    private func rotateOnThisThread(
        _ id: SecretID, suppliedValue: SecretValue?, trigger: String, retry: RetryPolicy?, startIf: (@Sendable (ManagedSecret) -> Bool)?
    ) async throws -> RotationReport {
        // An unknown id leaves no trace, not even a lock row. A success's last journal write
        // (``succeed(_:managed:)``) ends the lock in the same commit.
        return try await withSecretLock(id, releasedWith: { $0.outcome == .succeeded }) { found in
            do {
                if let startIf, found.open == nil, let managed = found.managed, !startIf(managed) {
                    throw RotorError(.notDue, "not due any more: another process rotated it since the schedule was read", secret: id)
                }
                return try await rotateLocked(found, suppliedValue: suppliedValue, trigger: trigger, retry: retry)
            } catch let interrupted as RunInterrupted {
                throw interrupted.error
            }
        }
    }

    func rotateLocked(_ found: LockedSecret, suppliedValue: SecretValue?, trigger: String, retry: RetryPolicy?) async throws -> RotationReport {
        var engine = self
        if let retry { engine.configuration.retry = retry }
        return try await engine.rotateHoldingLock(found, suppliedValue: suppliedValue, trigger: trigger)
    }

    /// Runs the rotation of the secret `found` describes, read under its lock (``withSecretLock(_:releasedWith:_:)``).
    func rotateHoldingLock(_ found: LockedSecret, suppliedValue: SecretValue?, trigger: String) async throws -> RotationReport {
        let open = found.open
        guard let managed = found.managed else { throw RotorError(.notManaged, "secret is not managed by rotor") }
        guard managed.status != .quarantined else { throw quarantinedError(managed) }
        let rotator = try rotators.make(managed.rotator, options: managed.options)
        var run = try await openOrStartRotation(managed, open: open, trigger: trigger)
        if run.record.outcome == .rollingBack {
            return try await rollBack(&run, rotator: rotator, managed: managed, cause: run.record.error ?? "an interrupted rollback")
        }
        for step in run.record.remainingSteps {
            do {
                try await runStep(step, in: &run, rotator: rotator, suppliedValue: suppliedValue)
            } catch let error as RotorError {
                return try await handleFailure(error, at: step, run: &run, rotator: rotator, managed: managed)
            }
        }
        return try await succeed(&run, managed: managed, rotator: rotator)
    }

    func notManagedError(_ id: SecretID) -> RotorError {
        RotorError(.notManaged, "secret is not managed by rotor", secret: id,
                   remedy: "create it with 'rotor secret create \(id) --rotator KIND', or check the id with 'rotor secret list'")
    }

    /// The managed secret, or ``RotorError/Code/notManaged``.
    public func requireManaged(_ id: SecretID) async throws -> ManagedSecret {
        guard let managed = try await state.managedSecret(id) else { throw notManagedError(id) }
        return managed
    }

    func quarantinedError(_ managed: ManagedSecret) -> RotorError {
        RotorError(
            .quarantined, "secret is quarantined after \(managed.failedRuns) failed run(s); last error: \(managed.lastError ?? "unknown")",
            secret: managed.id,
            remedy: "fix the cause (see 'rotor history \(managed.id)'), then run 'rotor unquarantine \(managed.id)'")
    }

    /// An audit event by this engine's actor, now.
    public func audit(_ secret: SecretID, _ operation: String, _ outcome: String, _ detail: String? = nil) -> AuditEvent {
        AuditEvent(at: clock.now(), actor: configuration.actor, secret: secret, operation: operation, outcome: outcome, detail: detail)
    }

    func stepLogger(_ secret: SecretID, token: VersionID, step: String) -> Logger {
        var logger = self.logger
        logger[metadataKey: "secret"] = "\(secret)"
        logger[metadataKey: "token"] = "\(token)"
        logger[metadataKey: "step"] = "\(step)"
        return logger
    }
}
