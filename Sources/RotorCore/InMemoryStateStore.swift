import struct Foundation.Date
import struct Foundation.TimeInterval

/// A ``RotationStateStore`` in memory, for fast tests. Same semantics as the SQLite one.
public actor InMemoryStateStore: RotationStateStore {
    private var secrets: [SecretID: ManagedSecret] = [:]
    private var rotations: [VersionID: RotationRecord] = [:]
    private var order: [VersionID] = []
    private var audit: [AuditEvent] = []
    private var nextStepID: Int64 = 1
    private var locks: [SecretID: (owner: String, expiresAt: Date, fence: Int64)] = [:]

    public init() {}

    public func register(_ secret: ManagedSecret, audit event: AuditEvent) throws {
        guard secrets[secret.id] == nil else { throw RotorError(.secretExists, "secret is already managed", secret: secret.id) }
        secrets[secret.id] = secret
        audit.append(event)
    }

    public func managedSecret(_ id: SecretID) -> ManagedSecret? { secrets[id] }

    public func managedSecrets(in scope: EnvironmentScope) -> [ManagedSecret] {
        secrets.values.filter { scope.contains($0.id) }.sorted { $0.id < $1.id }
    }

    public func openRotation(for id: SecretID) -> RotationRecord? {
        order.lazy.compactMap { self.rotations[$0] }.first { $0.secret == id && $0.outcome.isOpen }
    }

    public func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) throws -> Int64 {
        try checkFence()
        try write(backlog, token: token)
        if let lock = JournalFence.current, let until = lockUntil, var held = locks[lock.secret] {
            held.expiresAt = max(held.expiresAt, until)
            locks[lock.secret] = held
        }
        return insertStep(StepRecord(id: 0, token: token, step: step, attempt: attempt, startedAt: at, owner: JournalFence.current?.owner))
    }

    public func journal(_ backlog: JournalBacklog, token: VersionID) throws {
        try checkFence()
        try write(backlog, token: token)
    }

    /// Applies a backlog in order; only opening a rotation can fail, and it comes first.
    private func write(_ backlog: JournalBacklog, token: VersionID) throws {
        if let opening = backlog.opening { try open(opening) }
        if let end = backlog.end { self.end(end, token: token) }
        for attempt in backlog.attempts {
            let id = insertStep(StepRecord(
                id: 0, token: token, step: attempt.step, attempt: attempt.attempt, startedAt: attempt.startedAt, owner: JournalFence.current?.owner))
            end(StepEnd(id: id, outcome: attempt.outcome, error: attempt.error, at: attempt.endedAt, completes: attempt.completes), token: token)
        }
    }

    private func open(_ opening: RotationOpening) throws {
        let rotation = opening.record
        guard openRotation(for: rotation.secret) == nil, rotations[rotation.token] == nil else {
            throw RotorError(.invalidRequest, "a rotation is already open", secret: rotation.secret)
        }
        rotations[rotation.token] = rotation
        order.append(rotation.token)
        secrets[rotation.secret]?.status = .rotating
        audit.append(opening.audit)
    }

    private func insertStep(_ record: StepRecord) -> Int64 {
        var record = record
        record.id = nextStepID
        nextStepID += 1
        rotations[record.token]?.steps.append(record)
        return record.id
    }

    private func end(_ end: StepEnd, token: VersionID) {
        guard var rotation = rotations[token], let index = rotation.steps.firstIndex(where: { $0.id == end.id }) else { return }
        rotation.steps[index].outcome = end.outcome
        rotation.steps[index].error = end.error
        rotation.steps[index].endedAt = end.at
        if let completes = end.completes { rotation.lastCompletedStep = completes }
        rotations[token] = rotation
    }

    public func markRollingBack(token: VersionID, error: String, at: Date) throws {
        try checkFence()
        rotations[token]?.outcome = .rollingBack
        rotations[token]?.error = error
    }

    public func finishRun(
        token: VersionID, outcome: RotationOutcome, error: String?, at: Date, health: SecretHealthChange, audit events: [AuditEvent],
        after backlog: JournalBacklog, releasingLock: Bool
    ) throws {
        try checkFence()
        try write(backlog, token: token)
        if releasingLock, let lock = JournalFence.current { releaseSecretLock(lock.secret, owner: lock.owner) }
        guard var rotation = rotations[token] else { return }
        rotation.outcome = outcome
        rotation.error = error
        if !outcome.isOpen { rotation.endedAt = at }
        rotations[token] = rotation
        apply(health, to: rotation.secret)
        audit.append(contentsOf: events)
    }

    public func updateHealth(_ id: SecretID, _ health: SecretHealthChange, audit event: AuditEvent) {
        apply(health, to: id)
        audit.append(event)
    }

    public func appendAudit(_ event: AuditEvent) { audit.append(event) }

    public func updateRotator(_ id: SecretID, rotator: RotatorKind, options: RotatorOptions) {
        secrets[id]?.rotator = rotator
        secrets[id]?.options = options
    }

    public func acquireSecretLock(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) -> SecretLock? {
        let held = locks[id]
        if let held, held.owner != owner, held.expiresAt > now { return nil }
        let fence = held.map { $0.owner == owner ? $0.fence : $0.fence + 1 } ?? 1
        locks[id] = (owner, now.addingTimeInterval(ttl), fence)
        return SecretLock(secret: id, owner: owner, fence: fence)
    }

    public func releaseSecretLock(_ id: SecretID, owner: String) {
        if let held = locks[id], held.owner == owner { locks[id] = ("", .distantPast, held.fence) }
    }

    public func secretLockHolder(_ id: SecretID, now: Date) -> String? {
        locks[id].flatMap { $0.expiresAt > now && !$0.owner.isEmpty ? $0.owner : nil }
    }

    public func breakSecretLock(_ id: SecretID, heldBy owner: String) { releaseSecretLock(id, owner: owner) }

    /// Refuses a journal write whose task holds a lock that is no longer the secret's.
    private func checkFence() throws {
        guard let lock = JournalFence.current else { return }
        guard let held = locks[lock.secret], held.owner == lock.owner, held.fence == lock.fence else {
            throw JournalFence.lost(lock, holder: locks[lock.secret]?.owner)
        }
    }

    public func rotations(of id: SecretID, limit: Int) -> [RotationRecord] {
        Array(order.reversed().compactMap { rotations[$0] }.filter { $0.secret == id }.prefix(limit))
    }

    public func auditEvents(of id: SecretID?, limit: Int) -> [AuditEvent] {
        Array(audit.filter { id == nil || $0.secret == id }.suffix(limit))
    }

    private func apply(_ health: SecretHealthChange, to id: SecretID) {
        guard var secret = secrets[id] else { return }
        secret.status = health.status
        secret.failedRuns = health.failedRuns
        secret.lastError = health.lastError
        if let rotated = health.lastRotatedAt { (secret.lastRotatedAt, secret.credentialExpiresAt) = (rotated, health.credentialExpiresAt) }
        secrets[id] = secret
    }
}
