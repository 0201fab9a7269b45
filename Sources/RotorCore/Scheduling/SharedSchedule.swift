import Foundation

/// A schedule several daemons share (PostgreSQL state): each claims the due secrets it will rotate.
public protocol ClaimingStore: SchedulingStore {
    /// Takes, for `owner` until `now + ttl`, the per-secret locks of up to `limit` secrets of `scope`
    /// that are due at `now` and whose lock is free, lapsed or already `owner`'s, skipping those
    /// another daemon is claiming at this instant; returns their entries, earliest deadline first.
    /// A claim is the secret's lock: the rotation that follows renews it with the same fence, its
    /// journal writes check it, and a claim whose holder died is taken over once it lapses.
    /// Claims are taken one daemon at a time, and never past `caps`, counted over every lock held
    /// in the state (every daemon's rotations, batches and `rotor rotate` runs).
    func claimDue(at now: Date, limit: Int, in scope: EnvironmentScope, owner: String, ttl: TimeInterval, caps: FleetCaps) async throws -> [ScheduleEntry]
    /// Asks the daemons to rotate `id` now whatever its policy says: its deadline becomes `now`, the
    /// request and `audit` are recorded in one transaction and the daemons are woken. Throws
    /// `notManaged` when no policy schedules it. The claim that takes the secret takes the request
    /// with it (its entry's ``ScheduleEntry/requestedAt``), so one request is answered once.
    func requestRotation(_ id: SecretID, at now: Date, audit: AuditEvent) async throws
    /// Puts back a claimed request that was not answered (the claimer let the secret go).
    func restoreRequest(_ id: SecretID, requestedAt: Date) async throws
    /// Every lock held at `now` in `scope` (who rotates what), by secret id.
    func claims(in scope: EnvironmentScope, now: Date) async throws -> [ClaimRecord]
}

/// Caps on the rotations running at once across every daemon that shares the state, counted per
/// environment scope (daemons of other environments, and their batches, do not use this scope's slots).
public struct FleetCaps: Sendable, Hashable {
    public var total: Int
    public var perRotator: Int

    public init(total: Int, perRotator: Int) {
        self.total = max(1, total)
        self.perRotator = max(1, perRotator)
    }

    /// No cap (tests and tools that claim directly).
    public static let none = FleetCaps(total: Int(Int32.max), perRotator: Int(Int32.max))
}

/// One held per-secret lock: a daemon's claim, a batch's or a `rotor rotate` run's.
public struct ClaimRecord: Sendable, Hashable {
    public var secret: SecretID
    public var owner: String
    public var expiresAt: Date
    public var fence: Int64

    /// Who and where, without the rest of the process's identity (start time, boot id, PID namespace)
    /// that a lock owner carries: `ACTOR@HOST:PID`.
    public var holder: String {
        guard let at = owner.lastIndex(of: "@") else { return owner }
        let place = owner[owner.index(after: at)...].split(separator: ":", omittingEmptySubsequences: false).prefix(2)
        return String(owner[..<at]) + "@" + place.joined(separator: ":")
    }

    public init(secret: SecretID, owner: String, expiresAt: Date, fence: Int64) {
        self.secret = secret
        self.owner = owner
        self.expiresAt = expiresAt
        self.fence = fence
    }
}

/// Wakes the daemons sharing a state when due work may be waiting for them: a requested rotation, a
/// released claim, a deadline moved to now (PostgreSQL: `LISTEN`/`NOTIFY`).
public protocol DueWorkSignal: Sendable {
    /// Yields whenever another process announced due work, and once after the listener (re)connects
    /// (announcements made while it was away are lost). Ends when the consuming task is cancelled.
    func dueWorkAnnouncements() -> AsyncStream<Void>
}

/// A quota of calls shared by every caller that holds it (Secrets Manager's 50 writes a second per
/// account and region).
public protocol WriteQuota: Sendable {
    /// Waits until a call is allowed and takes it.
    func acquire() async throws
}
