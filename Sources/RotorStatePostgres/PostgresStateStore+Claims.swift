import Foundation
import PostgresNIO
import RotorCore

/// Daemons sharing the due work: one statement picks due secrets (and secrets with a rotation left
/// open) whose lock is free or lapsed, skipping rows another transaction is locking (`FOR UPDATE
/// SKIP LOCKED`), keeps within the fleet's caps (the locks held in the claimer's environments, by
/// anyone), takes their locks, and moves their deadline to the claim's end: until the claimer
/// re-plans the secret no other daemon sees it due, and if the claimer dies it is due again exactly
/// when its claim lapses. A lock this claimer already holds is not claimed again (it is running it).
extension PostgresStateStore: ClaimingStore {
    public func claimDue(
        at now: Date, limit: Int, in scope: EnvironmentScope, owner: String, ttl: TimeInterval, caps: FleetCaps
    ) async throws -> [ScheduleEntry] {
        let (lower, upper) = Self.bounds(scope)
        let (at, until) = (now.timeIntervalSince1970, now.addingTimeInterval(ttl).timeIntervalSince1970)
        // Candidates beyond `limit`, so a kind at its cap does not hide the due secrets of another.
        let scan = max(1, limit) * 4
        return try await write("claiming due secrets") { session in
            // One claimer at a time: the locks it counts cannot change under it, so caps hold exactly.
            try await session.run("SELECT id FROM claim_gate WHERE id = 1 FOR UPDATE")
            return try await session.rows("""
                WITH held AS (
                    SELECT coalesce(m.rotator, '') AS rotator, count(*) AS n
                    FROM secret_lock l LEFT JOIN managed_secret m ON m.id = l.secret_id
                    WHERE l.secret_id >= \(lower) AND l.secret_id < \(upper) AND l.expires_at > \(at) AND l.owner <> '' GROUP BY 1
                ), candidate AS (
                    SELECT s.secret_id, s.next_due_at, s.requested_at, coalesce(m.rotator, '') AS rotator
                    FROM schedule s LEFT JOIN secret_lock l ON l.secret_id = s.secret_id LEFT JOIN managed_secret m ON m.id = s.secret_id
                    WHERE s.secret_id >= \(lower) AND s.secret_id < \(upper)
                      AND ((s.next_due_at IS NOT NULL AND s.next_due_at <= \(at))
                           OR EXISTS (SELECT 1 FROM rotation r WHERE r.secret_id = s.secret_id AND r.outcome IN ('in-progress', 'rolling-back')))
                      AND (l.secret_id IS NULL OR l.expires_at <= \(at))
                      AND coalesce(m.rotator, '') NOT IN (SELECT rotator FROM held WHERE n >= \(caps.perRotator))
                    ORDER BY s.next_due_at NULLS FIRST, s.secret_id LIMIT \(scan)
                    FOR UPDATE OF s SKIP LOCKED
                ), within_kind AS (
                    SELECT c.secret_id, c.next_due_at, c.requested_at FROM (
                        SELECT c.*, row_number() OVER (PARTITION BY c.rotator ORDER BY c.next_due_at NULLS FIRST, c.secret_id) AS of_kind
                        FROM candidate c) c
                    LEFT JOIN held h ON h.rotator = c.rotator
                    WHERE c.of_kind <= \(caps.perRotator) - coalesce(h.n, 0)
                ), due AS (
                    SELECT secret_id, requested_at FROM (
                        SELECT w.*, row_number() OVER (ORDER BY w.next_due_at NULLS FIRST, w.secret_id) AS overall FROM within_kind w) w
                    WHERE overall <= \(caps.total) - (SELECT coalesce(sum(n), 0) FROM held)
                    ORDER BY next_due_at NULLS FIRST, secret_id LIMIT \(limit)
                ), taken AS (
                    INSERT INTO secret_lock AS l (secret_id, owner, expires_at, fence) SELECT secret_id, \(owner), \(until), 1 FROM due
                    ON CONFLICT (secret_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
                        fence = CASE WHEN l.owner = excluded.owner THEN l.fence ELSE l.fence + 1 END
                    WHERE l.expires_at <= \(at)
                    RETURNING secret_id
                ), pushed AS (
                    -- The claim answers a request: cleared in the claim's own transaction, so no other
                    -- daemon can claim the same request once this one's lock is released.
                    UPDATE schedule s SET next_due_at = \(until), requested_at = NULL FROM taken t WHERE s.secret_id = t.secret_id
                    RETURNING s.secret_id
                )
                -- The request as the claim's row lock read it (the latest), not as the statement's snapshot had it.
                SELECT s.secret_id, s.policy, s.fingerprint, s.next_due_at, s.next_reminder_at, s.last_reminder_at, s.last_failure_at, d.requested_at
                FROM schedule s JOIN taken t ON t.secret_id = s.secret_id JOIN due d ON d.secret_id = s.secret_id
                ORDER BY s.next_due_at NULLS FIRST, s.secret_id
                """).map(Self.scheduleEntry)
        }
    }

    public func requestRotation(_ id: SecretID, at now: Date, audit: AuditEvent) async throws {
        let at = now.timeIntervalSince1970
        try await write("requesting a rotation") { session in
            try await Self.serializeChanges(session)
            let row = try await session.row("""
                UPDATE schedule SET requested_at = \(at), next_due_at = least(coalesce(next_due_at, \(at)), \(at))
                WHERE secret_id = \(id.rawValue) RETURNING secret_id
                """)
            guard row != nil else {
                throw RotorError(.notManaged, "no policy schedules \(id), so no daemon would rotate it", secret: id,
                                 remedy: "add it to a policy in the daemons' schedules/, or rotate it here with 'rotor rotate \(id)' (without --queue)")
            }
            try await Self.insert(audit, session)
            try await Self.announceDueWork(session)
        }
    }

    public func restoreRequest(_ id: SecretID, requestedAt: Date) async throws {
        try await write("restoring a rotation request") { session in
            try await session.run("""
                UPDATE schedule SET requested_at = coalesce(requested_at, \(requestedAt.timeIntervalSince1970)) WHERE secret_id = \(id.rawValue)
                """)
        }
    }

    public func claims(in scope: EnvironmentScope, now: Date) async throws -> [ClaimRecord] {
        let (lower, upper) = Self.bounds(scope)
        return try await read("listing claims") { session in
            try await session.rows("""
                SELECT secret_id, owner, expires_at, fence FROM secret_lock
                WHERE secret_id >= \(lower) AND secret_id < \(upper) AND expires_at > \(now.timeIntervalSince1970) AND owner <> ''
                ORDER BY secret_id
                """).map { row in
                ClaimRecord(secret: try SecretID(try row.value("secret_id")), owner: try row.value("owner"),
                            expiresAt: Date(timeIntervalSince1970: try row.value("expires_at")), fence: try row.value("fence"))
            }
        }
    }
}
