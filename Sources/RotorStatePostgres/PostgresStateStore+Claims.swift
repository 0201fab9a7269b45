import Foundation
import PostgresNIO
import RotorCore

/// Daemons sharing the due work: one statement picks due secrets (and secrets with a rotation left
/// open) whose lock is free or lapsed, skipping rows another daemon's claim is locking right now
/// (`FOR UPDATE SKIP LOCKED`), takes their locks, and moves their deadline to the claim's end: until
/// the claimer re-plans the secret no other daemon sees it due, and if the claimer dies it is due
/// again exactly when its claim lapses.
extension PostgresStateStore: ClaimingStore {
    public func claimDue(at now: Date, limit: Int, in scope: EnvironmentScope, owner: String, ttl: TimeInterval) async throws -> [ScheduleEntry] {
        let (lower, upper) = Self.bounds(scope)
        let (at, until) = (now.timeIntervalSince1970, now.addingTimeInterval(ttl).timeIntervalSince1970)
        return try await write("claiming due secrets") { session in
            try await session.rows("""
                WITH due AS (
                    SELECT s.secret_id FROM schedule s LEFT JOIN secret_lock l ON l.secret_id = s.secret_id
                    WHERE s.secret_id >= \(lower) AND s.secret_id < \(upper)
                      AND ((s.next_due_at IS NOT NULL AND s.next_due_at <= \(at))
                           OR EXISTS (SELECT 1 FROM rotation r WHERE r.secret_id = s.secret_id AND r.outcome IN ('in-progress', 'rolling-back')))
                      AND (l.secret_id IS NULL OR l.expires_at <= \(at) OR l.owner = \(owner))
                    ORDER BY s.next_due_at NULLS FIRST LIMIT \(limit)
                    FOR UPDATE OF s SKIP LOCKED
                ), taken AS (
                    INSERT INTO secret_lock AS l (secret_id, owner, expires_at, fence) SELECT secret_id, \(owner), \(until), 1 FROM due
                    ON CONFLICT (secret_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
                        fence = CASE WHEN l.owner = excluded.owner THEN l.fence ELSE l.fence + 1 END
                    WHERE l.owner = excluded.owner OR l.expires_at <= \(at)
                    RETURNING secret_id
                ), claimed AS (
                    SELECT s.* FROM schedule s JOIN taken t ON t.secret_id = s.secret_id
                ), pushed AS (
                    UPDATE schedule s SET next_due_at = \(until) FROM taken t WHERE s.secret_id = t.secret_id RETURNING s.secret_id
                )
                SELECT claimed.* FROM claimed ORDER BY next_due_at NULLS FIRST, secret_id
                """).map(Self.scheduleEntry)
        }
    }
}
