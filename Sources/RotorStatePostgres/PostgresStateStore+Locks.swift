import Foundation
import PostgresNIO
import RotorCore

/// Per-secret locks with fences. The lock row is taken with a row lock in every journal write
/// (``check(_:_:)``), so a concurrent take-over waits for that write to commit and then gets a new fence.
extension PostgresStateStore {
    public func acquireSecretLock(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> SecretLock? {
        try await write("taking a secret's lock") { session in try await Self.acquire(id, owner: owner, ttl: ttl, now: now, session) }
    }

    /// One transaction: the managed row checked, the lock taken, then the managed secret and its open
    /// rotation read again under the lock. Taking the lock may have waited for the last holder's
    /// final write (its row lock), and a statement after that wait sees that write (READ COMMITTED):
    /// what was read before it may be the state of a rotation that has since finished.
    public func lockAndRead(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> LockedSecret {
        try await write("taking a secret's lock") { session in
            guard let row = try await session.row("SELECT * FROM managed_secret WHERE id = \(id.rawValue)") else {
                return LockedSecret(lock: nil, managed: nil, open: nil)
            }
            guard let lock = try await Self.acquire(id, owner: owner, ttl: ttl, now: now, session) else {
                return LockedSecret(lock: nil, managed: try managedSecret(row), open: nil)
            }
            let managed = try await session.row("SELECT * FROM managed_secret WHERE id = \(id.rawValue)").map(managedSecret)
            return LockedSecret(lock: lock, managed: managed, open: try await Self.openRotation(id, session))
        }
    }

    /// Takes (or renews) `owner`'s lock; nil while another holder's has not lapsed. The fence grows
    /// whenever the lock changes hands.
    static func acquire(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date, _ session: StateSession) async throws -> SecretLock? {
        let row = try await session.row("""
            INSERT INTO secret_lock AS l (secret_id, owner, expires_at, fence) VALUES (\(id.rawValue), \(owner), \(now.addingTimeInterval(ttl).timeIntervalSince1970), 1)
            ON CONFLICT (secret_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
                fence = CASE WHEN l.owner = excluded.owner THEN l.fence ELSE l.fence + 1 END
            WHERE l.owner = excluded.owner OR l.expires_at <= \(now.timeIntervalSince1970)
            RETURNING fence
            """)
        return try row.map { SecretLock(secret: id, owner: owner, fence: try $0.value("fence")) }
    }

    /// Releasing keeps the row (owner emptied, expired) so the next holder's fence is higher.
    public func releaseSecretLock(_ id: SecretID, owner: String) async throws {
        if try await write("releasing a secret's lock", { session in try await Self.release(id, owner: owner, session) }) { await announceDueWork() }
    }

    /// Whether `owner` held it. A released lock frees a slot of the fleet's caps: once the transaction
    /// committed, the caller wakes the daemons waiting for one (``announceDueWork()``).
    static func release(_ id: SecretID, owner: String, _ session: StateSession) async throws -> Bool {
        try await session.row("""
            UPDATE secret_lock SET owner = '', expires_at = 0 WHERE secret_id = \(id.rawValue) AND owner = \(owner) RETURNING secret_id
            """) != nil
    }

    public func secretLockHolder(_ id: SecretID, now: Date) async throws -> String? {
        try await read("reading a secret's lock") { session in
            try await session.row("""
                SELECT owner FROM secret_lock WHERE secret_id = \(id.rawValue) AND expires_at > \(now.timeIntervalSince1970) AND owner <> ''
                """)?.value("owner")
        }
    }

    public func breakSecretLock(_ id: SecretID, heldBy owner: String) async throws { try await releaseSecretLock(id, owner: owner) }

    /// Refuses the write unless the task's lock (read before the transaction) is still the secret's.
    /// `FOR UPDATE` holds the lock row until the commit, so no take-over can slip between check and write.
    static func check(_ fence: SecretLock?, _ session: StateSession) async throws {
        guard let lock = fence else { return }
        let row = try await session.row("SELECT owner, fence FROM secret_lock WHERE secret_id = \(lock.secret.rawValue) FOR UPDATE")
        let owner: String? = try row?.value("owner")
        guard let row, owner == lock.owner, try row.value("fence", as: Int64.self) == lock.fence else {
            throw JournalFence.lost(lock, holder: owner.flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    /// After ``check(_:_:)``: the lock lives at least until `until`.
    static func extend(_ lock: SecretLock, until: Date, _ session: StateSession) async throws {
        try await session.run("""
            UPDATE secret_lock SET expires_at = greatest(expires_at, \(until.timeIntervalSince1970))
            WHERE secret_id = \(lock.secret.rawValue) AND owner = \(lock.owner) AND fence = \(lock.fence)
            """)
    }
}
