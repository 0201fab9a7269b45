import Foundation
import PostgresNIO
import RotorCore

/// The journal's writes inside a transaction, in the order the SQLite store makes them.
extension PostgresStateStore {
    /// Text as PostgreSQL stores it: it refuses U+0000 outright, and an error message quoting a
    /// foreign error must never make the journal unwritable.
    static func storable(_ text: String?) -> String? {
        guard let text, text.contains("\u{0}") else { return text }
        return text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")
    }

    static func insertStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, owner: String?, _ session: StateSession) async throws -> Int64 {
        let row = try await session.row("""
            INSERT INTO rotation_step (token, step, attempt, started_at, outcome, owner)
            VALUES (\(token.rawValue), \(step.rawValue), \(attempt), \(at.timeIntervalSince1970), 'started', \(owner)) RETURNING id
            """)
        return try row!.value("id")
    }

    /// Writes what a journal write carries, in order.
    static func write(_ backlog: JournalBacklog, token: VersionID, owner: String?, _ session: StateSession) async throws {
        if let opening = backlog.opening { try await open(opening, session) }
        if let end = backlog.end { try await self.end(end, token: token, session) }
        for attempt in backlog.attempts {
            let id = try await insertStep(token: token, step: attempt.step, attempt: attempt.attempt, at: attempt.startedAt, owner: owner, session)
            try await end(StepEnd(id: id, outcome: attempt.outcome, error: attempt.error, at: attempt.endedAt, completes: attempt.completes), token: token, session)
        }
    }

    private static func open(_ opening: RotationOpening, _ session: StateSession) async throws {
        let rotation = opening.record
        do {
            try await session.run("""
                INSERT INTO rotation (token, secret_id, trigger, started_at, outcome)
                VALUES (\(rotation.token.rawValue), \(rotation.secret.rawValue), \(rotation.trigger), \(rotation.startedAt.timeIntervalSince1970), \(rotation.outcome.rawValue))
                """)
        } catch where StateStoreErrors.sqlState(error) == "23505" {
            // The one-open-rotation index refused it; the whole transaction rolls back.
            throw RotorError(.invalidRequest, "another rotation of this secret is already open", secret: rotation.secret,
                             remedy: "wait for it, or resume it with 'rotor rotate \(rotation.secret)'")
        }
        try await session.run("UPDATE managed_secret SET status = 'rotating' WHERE id = \(rotation.secret.rawValue)")
        try await insert(opening.audit, session)
    }

    private static func end(_ end: StepEnd, token: VersionID, _ session: StateSession) async throws {
        try await session.run("""
            UPDATE rotation_step SET outcome = \(end.outcome.rawValue), error = \(storable(end.error)), ended_at = \(end.at.timeIntervalSince1970) WHERE id = \(end.id)
            """)
        if let completes = end.completes {
            try await session.run("UPDATE rotation SET last_completed_step = \(completes.rawValue) WHERE token = \(token.rawValue)")
        }
    }

    /// Serializes (a row lock on `change_lock`, held to the commit) the transactions that take an audit position or a change-sequence
    /// number, so those numbers commit in order: a reader after position N (the reload hooks, audit
    /// sinks, the incremental reconcile) can never later see a smaller one appear. Re-entrant.
    ///
    /// Every transaction that changes a secret's status (the fleet counts' rows, which its trigger
    /// updates, are shared by all secrets of an environment) or appends to the audit log takes it
    /// first, before any row lock: one order for all of them, so they never deadlock.
    static func serializeChanges(_ session: StateSession) async throws {
        try await session.run("SELECT id FROM change_lock WHERE id = 1 FOR UPDATE")
    }

    static func insert(_ event: AuditEvent, _ session: StateSession) async throws {
        try await serializeChanges(session)
        try await session.run("""
            INSERT INTO audit_event (at, actor, secret_id, operation, outcome, detail)
            VALUES (\(event.at.timeIntervalSince1970), \(event.actor), \(event.secret?.rawValue), \(event.operation), \(event.outcome), \(storable(event.detail)))
            """)
    }

    static func apply(_ health: SecretHealthChange, to id: String, _ session: StateSession) async throws {
        let rotated = health.lastRotatedAt?.timeIntervalSince1970
        try await session.run("""
            UPDATE managed_secret SET status = \(health.status.rawValue), failed_runs = \(health.failedRuns), last_error = \(storable(health.lastError)),
                last_rotated_at = coalesce(\(rotated)::double precision, last_rotated_at),
                credential_expires_at = CASE WHEN \(rotated)::double precision IS NULL THEN credential_expires_at
                                             ELSE \(health.credentialExpiresAt?.timeIntervalSince1970)::double precision END
            WHERE id = \(id)
            """)
    }

    static func openRotation(_ id: SecretID, _ session: StateSession) async throws -> RotationRecord? {
        guard let row = try await session.row("SELECT * FROM rotation WHERE secret_id = \(id.rawValue) AND outcome IN ('in-progress', 'rolling-back')") else {
            return nil
        }
        return try await rotation(row, session)
    }
}
