import struct Foundation.Date
import struct Foundation.TimeInterval

/// The engine's durable state: managed secrets, the rotation journal and the audit log.
/// Every method is one transaction. Implementations never store a secret value.
public protocol RotationStateStore: Sendable {
    /// Registers a newly managed secret; throws ``RotorError/Code/secretExists`` if it is already managed.
    func register(_ secret: ManagedSecret, audit: AuditEvent) async throws
    func managedSecret(_ id: SecretID) async throws -> ManagedSecret?
    func managedSecrets(in scope: EnvironmentScope) async throws -> [ManagedSecret]

    /// The open (in-progress or rolling-back) rotation of a secret, with its steps.
    func openRotation(for id: SecretID) async throws -> RotationRecord?
    /// ``managedSecret(_:)`` and ``openRotation(for:)`` in one read (a rotation's first look under its lock).
    func managedSecretAndOpenRotation(_ id: SecretID) async throws -> (ManagedSecret?, RotationRecord?)
    /// Writes the intent to run a step and returns the step record's id. In the same transaction it
    /// applies `backlog` first (the new rotation, the end of the step before, whole attempts of steps
    /// with no side effect: one commit instead of several, all durable before the next side effect)
    /// and extends the task's lock (``JournalFence/current``) to `lockUntil`. Opening a rotation fails
    /// if one is already open and marks the secret `rotating`.
    func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64
    /// Writes a backlog on its own (a failed attempt, the end of a step before a rollback or a roll-forward).
    func journal(_ backlog: JournalBacklog, token: VersionID) async throws
    /// Records the decision to roll back before the rollback touches anything.
    func markRollingBack(token: VersionID, error: String, at: Date) async throws
    /// Ends a run: applies `backlog` (its last step), sets the rotation's outcome (an open outcome keeps
    /// it resumable), the secret's health and audit events and, with `releasingLock`, deletes the task's
    /// lock (``JournalFence/current``), in one transaction.
    func finishRun(
        token: VersionID, outcome: RotationOutcome, error: String?, at: Date,
        health: SecretHealthChange, audit: [AuditEvent], after backlog: JournalBacklog, releasingLock: Bool
    ) async throws
    /// Changes a secret's health outside a rotation (unquarantine, rollback command).
    func updateHealth(_ id: SecretID, _ health: SecretHealthChange, audit: AuditEvent) async throws
    func appendAudit(_ event: AuditEvent) async throws

    /// Changes the rotator and options of a managed secret (a policy now says otherwise).
    func updateRotator(_ id: SecretID, rotator: RotatorKind, options: RotatorOptions) async throws

    /// Takes the per-secret lock for `owner` until `now + ttl`, or renews it; `nil` when another owner
    /// holds it. The fence is new whenever the lock changes hands and stays the same on renewal.
    /// The daemon, `rotor rotate` and `rotor rollback` take it, so one secret is never rotated by two processes at once.
    ///
    /// Journal writes (``beginStep(token:step:attempt:at:after:lockUntil:)``, ``journal(_:token:)``,
    /// ``markRollingBack(token:error:at:)``, ``finishRun(token:outcome:error:at:health:audit:after:releasingLock:)``) made while
    /// ``JournalFence/current`` is set must fail with ``JournalFence/lost(_:holder:)`` unless that lock,
    /// fence included, is still the secret's, checked in the same transaction.
    func acquireSecretLock(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> SecretLock?
    /// Takes the secret's lock as ``acquireSecretLock(_:owner:ttl:now:)`` does and reads, under it, the
    /// managed secret and its open rotation: one transaction where the store can. An id that is not
    /// managed takes no lock (it leaves no trace).
    func lockAndRead(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> LockedSecret
    func releaseSecretLock(_ id: SecretID, owner: String) async throws
    /// The owner of an unexpired lock on `id`, if any.
    func secretLockHolder(_ id: SecretID, now: Date) async throws -> String?
    /// Ends the lock of `owner` (a process known to be dead) so it can be taken at once; no-op if someone else holds it.
    func breakSecretLock(_ id: SecretID, heldBy owner: String) async throws

    /// Rotations of a secret, newest first, with their steps.
    func rotations(of id: SecretID, limit: Int) async throws -> [RotationRecord]
    /// Audit events, oldest first; all secrets when `id` is nil.
    func auditEvents(of id: SecretID?, limit: Int) async throws -> [AuditEvent]
}

extension RotationStateStore {
    /// Writes a step's intent with nothing before it to end and no lock renewal.
    public func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date) async throws -> Int64 {
        try await beginStep(token: token, step: step, attempt: attempt, at: at, after: .none, lockUntil: nil)
    }

    /// Journals a new rotation on its own and marks the secret `rotating`. Fails if one is already open.
    public func beginRotation(_ rotation: RotationRecord, audit: AuditEvent) async throws {
        try await journal(JournalBacklog(opening: RotationOpening(record: rotation, audit: audit)), token: rotation.token)
    }

    /// Ends a run whose last step is already journaled, keeping the lock.
    public func finishRun(
        token: VersionID, outcome: RotationOutcome, error: String?, at: Date, health: SecretHealthChange, audit: [AuditEvent]
    ) async throws {
        try await finishRun(token: token, outcome: outcome, error: error, at: at, health: health, audit: audit, after: .none, releasingLock: false)
    }

    /// Writes `end` on its own (a failed attempt, a rollback).
    public func endStep(_ end: StepEnd, token: VersionID) async throws {
        try await journal(JournalBacklog(end: end), token: token)
    }

    /// Ends a step attempt on its own; `completes` advances the rotation's last completed step.
    public func endStep(_ id: Int64, token: VersionID, outcome: StepOutcome, error: String?, at: Date, completes: RotationStep?) async throws {
        try await endStep(StepEnd(id: id, outcome: outcome, error: error, at: at, completes: completes), token: token)
    }
}

/// A step attempt's end, held by the engine until the next journal write carries it.
public struct StepEnd: Sendable, Hashable {
    public var id: Int64
    public var outcome: StepOutcome
    public var error: String?
    public var at: Date
    /// The step this end completes (advances the rotation's last completed step).
    public var completes: RotationStep?

    public init(id: Int64, outcome: StepOutcome, error: String? = nil, at: Date, completes: RotationStep?) {
        self.id = id
        self.outcome = outcome
        self.error = error
        self.at = at
        self.completes = completes
    }
}

extension RotationStateStore {
    public func managedSecretAndOpenRotation(_ id: SecretID) async throws -> (ManagedSecret?, RotationRecord?) {
        (try await managedSecret(id), try await openRotation(for: id))
    }

    public func lockAndRead(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> LockedSecret {
        guard let found = try await managedSecret(id) else { return LockedSecret(lock: nil, managed: nil, open: nil) }
        guard let lock = try await acquireSecretLock(id, owner: owner, ttl: ttl, now: now) else { return LockedSecret(lock: nil, managed: found, open: nil) }
        let (managed, open) = try await managedSecretAndOpenRotation(id)
        return LockedSecret(lock: lock, managed: managed, open: open)
    }
}

/// What ``RotationStateStore/lockAndRead(_:owner:ttl:now:)`` found: the lock (nil when another
/// holder has it), the managed secret (nil when not managed) and, under the lock, its open rotation.
public struct LockedSecret: Sendable {
    public var lock: SecretLock?
    public var managed: ManagedSecret?
    public var open: RotationRecord?

    public init(lock: SecretLock?, managed: ManagedSecret?, open: RotationRecord?) {
        self.lock = lock
        self.managed = managed
        self.open = open
    }
}
