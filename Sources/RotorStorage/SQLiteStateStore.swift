import Foundation
import GRDB
import RotorCore

/// The state database: managed secrets, the rotation journal and the audit log, in SQLite (WAL).
/// Never a secret value: only ids, labels, timings, outcomes and error summaries.
public final class SQLiteStateStore: RotationStateStore {
    let pool: DatabasePool
    public let url: URL
    public let synchronous: SQLiteSynchronous
    /// When set, every managed secret's rotator and options carry a MAC under the master key, checked on each read.
    let configAuthenticator: RotatorConfigAuthenticator?

    /// Opens (creating and migrating if needed) the state database at `url`. With `authenticator`, rows whose
    /// rotator or options were edited without the master key are refused; `sealingUnsealedRows` (only for a
    /// store that predates the MACs, ``EmbeddedSecretStore/sealsLegacyRows``) gives rows without one their MAC.
    public init(
        url: URL, synchronous: SQLiteSynchronous = .full, authenticator: RotatorConfigAuthenticator? = nil, sealingUnsealedRows: Bool = false
    ) throws {
        self.url = url
        self.synchronous = synchronous
        configAuthenticator = authenticator
        pool = try SQLiteFile.openPool(at: url, applicationID: Self.applicationID, what: "state database", synchronous: synchronous)
        do {
            try SQLiteFile.migrate(Self.migrator, pool)
            if sealingUnsealedRows, authenticator != nil { try sealUnsealedConfigs() }
        } catch {
            throw SQLiteFile.corrupted(url, what: "state database", detail: "migration failed: \(error)")
        }
    }

    private func sealUnsealedConfigs() throws {
        try pool.write { db in
            for row in try Row.fetchAll(db, sql: "SELECT id, rotator, options_json FROM managed_secret WHERE config_mac IS NULL") {
                try db.execute(cached: "UPDATE managed_secret SET config_mac = ? WHERE id = ?",
                               arguments: [self.configMAC(row["id"], rotator: row["rotator"], optionsJSON: row["options_json"]), row["id"] as String])
            }
        }
    }

    /// The MAC to store beside a row's rotator and options; `nil` without an authenticator.
    func configMAC(_ id: String, rotator: String, optionsJSON: String) -> Data? {
        configAuthenticator?.mac(id, rotator: rotator, optionsJSON: optionsJSON)
    }

    public func register(_ secret: ManagedSecret, audit: AuditEvent) async throws {
        try await pool.writeNow { db in
            guard try db.fetchValue(Bool.self, cached: "SELECT 1 FROM managed_secret WHERE id = ?", arguments: [secret.id.rawValue]) == nil else {
                throw RotorError(.secretExists, "secret is already managed by rotor", secret: secret.id)
            }
            try db.execute(
                cached: """
                    INSERT INTO managed_secret (id, environment, rotator, options_json, status, failed_runs, last_rotated_at, last_error, created_at,
                                                config_mac, credential_expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    secret.id.rawValue, secret.id.environment.name, secret.rotator.rawValue, Self.encode(secret.options),
                    secret.status.rawValue, secret.failedRuns, secret.lastRotatedAt?.epochSeconds, secret.lastError,
                    secret.createdAt.epochSeconds, self.configMAC(secret), secret.credentialExpiresAt?.epochSeconds,
                ])
            try Self.insert(audit, db)
        }
    }

    public func managedSecret(_ id: SecretID) async throws -> ManagedSecret? {
        try await pool.readNow { db in
            try db.fetchRow(cached: "SELECT * FROM managed_secret WHERE id = ?", arguments: [id.rawValue]).map(self.managedSecret)
        }
    }

    public func managedSecrets(in scope: EnvironmentScope) async throws -> [ManagedSecret] {
        try await pool.readNow { db in
            switch scope {
            case .all:
                try db.fetchRows(cached: "SELECT * FROM managed_secret ORDER BY id").map(self.managedSecret)
            case .only(let environment):
                try db.fetchRows(cached: "SELECT * FROM managed_secret WHERE environment = ? ORDER BY id", arguments: [environment.name])
                    .map(self.managedSecret)
            }
        }
    }

    public func openRotation(for id: SecretID) async throws -> RotationRecord? {
        try await pool.readNow { db in try Self.openRotation(id, db) }
    }

    public func managedSecretAndOpenRotation(_ id: SecretID) async throws -> (ManagedSecret?, RotationRecord?) {
        try await pool.readNow { db in
            (try db.fetchRow(cached: "SELECT * FROM managed_secret WHERE id = ?", arguments: [id.rawValue]).map(self.managedSecret), try Self.openRotation(id, db))
        }
    }

    static func openRotation(_ id: SecretID, _ db: Database) throws -> RotationRecord? {
        let row = try db.fetchRow(cached: "SELECT * FROM rotation WHERE secret_id = ? AND outcome IN ('in-progress', 'rolling-back')", arguments: [id.rawValue])
        return try row.map { try rotation($0, db) }
    }

    public func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64 {
        let fence = JournalFence.current
        return try await pool.writeNow { db in
            try Self.check(fence, db)
            try Self.write(backlog, token: token, owner: fence?.owner, db)
            if let fence, let lockUntil { try Self.extend(fence, until: lockUntil, db) }
            return try Self.insertStep(token: token, step: step, attempt: attempt, at: at, owner: fence?.owner, db)
        }
    }

    public func journal(_ backlog: JournalBacklog, token: VersionID) async throws {
        let fence = JournalFence.current
        try await pool.writeNow { db in
            try Self.check(fence, db)
            try Self.write(backlog, token: token, owner: fence?.owner, db)
        }
    }

    private static func insertStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, owner: String?, _ db: Database) throws -> Int64 {
        try db.execute(
            cached: "INSERT INTO rotation_step (token, step, attempt, started_at, outcome, owner) VALUES (?, ?, ?, ?, 'started', ?)",
            arguments: [token.rawValue, step.rawValue, attempt, at.epochSeconds, owner])
        return db.lastInsertedRowID
    }

    /// Writes what a journal write carries, in order, inside its transaction.
    private static func write(_ backlog: JournalBacklog, token: VersionID, owner: String?, _ db: Database) throws {
        if let opening = backlog.opening { try open(opening, db) }
        if let end = backlog.end { try Self.end(end, token: token, db) }
        for attempt in backlog.attempts {
            let id = try insertStep(token: token, step: attempt.step, attempt: attempt.attempt, at: attempt.startedAt, owner: owner, db)
            try end(StepEnd(id: id, outcome: attempt.outcome, error: attempt.error, at: attempt.endedAt, completes: attempt.completes), token: token, db)
        }
    }

    private static func open(_ opening: RotationOpening, _ db: Database) throws {
        let rotation = opening.record
        do {
            try db.execute(
                cached: "INSERT INTO rotation (token, secret_id, trigger, started_at, outcome) VALUES (?, ?, ?, ?, ?)",
                arguments: [rotation.token.rawValue, rotation.secret.rawValue, rotation.trigger, rotation.startedAt.epochSeconds, rotation.outcome.rawValue])
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw RotorError(.invalidRequest, "another rotation of this secret is already open", secret: rotation.secret,
                             remedy: "wait for it, or resume it with 'rotor rotate \(rotation.secret)'")
        }
        try db.execute(cached: "UPDATE managed_secret SET status = 'rotating' WHERE id = ?", arguments: [rotation.secret.rawValue])
        try insert(opening.audit, db)
    }

    private static func end(_ end: StepEnd, token: VersionID, _ db: Database) throws {
        try db.execute(
            cached: "UPDATE rotation_step SET outcome = ?, error = ?, ended_at = ? WHERE id = ?",
            arguments: [end.outcome.rawValue, end.error, end.at.epochSeconds, end.id])
        if let completes = end.completes {
            try db.execute(cached: "UPDATE rotation SET last_completed_step = ? WHERE token = ?", arguments: [completes.rawValue, token.rawValue])
        }
    }

    public func markRollingBack(token: VersionID, error: String, at: Date) async throws {
        let fence = JournalFence.current
        try await pool.writeNow { db in
            try Self.check(fence, db)
            try db.execute(cached: "UPDATE rotation SET outcome = 'rolling-back', error = ? WHERE token = ?", arguments: [error, token.rawValue])
        }
    }

    public func finishRun(
        token: VersionID, outcome: RotationOutcome, error: String?, at: Date, health: SecretHealthChange, audit: [AuditEvent],
        after backlog: JournalBacklog, releasingLock: Bool
    ) async throws {
        let fence = JournalFence.current
        try await pool.writeNow { db in
            try Self.check(fence, db)
            try Self.write(backlog, token: token, owner: fence?.owner, db)
            try db.execute(
                cached: "UPDATE rotation SET outcome = ?, error = ?, ended_at = ? WHERE token = ?",
                arguments: [outcome.rawValue, error, outcome.isOpen ? nil : at.epochSeconds, token.rawValue])
            let secret = try db.fetchValue(String.self, cached: "SELECT secret_id FROM rotation WHERE token = ?", arguments: [token.rawValue])
            if let secret { try Self.apply(health, to: secret, db) }
            for event in audit { try Self.insert(event, db) }
            if releasingLock, let fence { try Self.release(fence.secret, owner: fence.owner, db) }
        }
    }

    public func updateHealth(_ id: SecretID, _ health: SecretHealthChange, audit: AuditEvent) async throws {
        try await pool.writeNow { db in
            try Self.apply(health, to: id.rawValue, db)
            try Self.insert(audit, db)
        }
    }

    public func appendAudit(_ event: AuditEvent) async throws {
        try await pool.writeNow { db in try Self.insert(event, db) }
    }

    public func rotations(of id: SecretID, limit: Int) async throws -> [RotationRecord] {
        try await pool.readNow { db in
            try db.fetchRows(cached: "SELECT * FROM rotation WHERE secret_id = ? ORDER BY started_at DESC, rowid DESC LIMIT ?",
                arguments: [id.rawValue, limit]
            ).map { try Self.rotation($0, db) }
        }
    }

    public func auditEvents(of id: SecretID?, limit: Int) async throws -> [AuditEvent] {
        try await pool.readNow { db in
            let rows: [Row]
            if let id {
                rows = try db.fetchRows(cached: "SELECT * FROM (SELECT * FROM audit_event WHERE secret_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id",
                    arguments: [id.rawValue, limit])
            } else {
                rows = try db.fetchRows(cached: "SELECT * FROM (SELECT * FROM audit_event ORDER BY id DESC LIMIT ?) ORDER BY id", arguments: [limit])
            }
            return try rows.map(Self.auditEvent)
        }
    }
}
