import Foundation
import Logging
import PostgresNIO
import RotorCore
import RotorStorage

/// rotor's state (managed secrets, the rotation journal, per-secret locks with fences, the audit log)
/// in PostgreSQL, for several hosts sharing one state. Every method is one transaction; journal writes
/// check the task's lock (``JournalFence``) under a row lock in the same transaction, so two hosts can
/// never both write a rotation's next step. Never a secret value: only ids, labels, times, outcomes.
public final class PostgresStateStore: RotationStateStore {
    public let settings: PostgresStateSettings
    let pool: StateConnectionPool
    let logger: Logger
    /// When set, every managed secret's rotator and options carry a MAC under the master key, checked on each read.
    let configAuthenticator: RotatorConfigAuthenticator?

    /// Connects and migrates the schema (creating it if needed).
    public static func open(
        _ settings: PostgresStateSettings, authenticator: RotatorConfigAuthenticator? = nil, logger: Logger = Logger(label: "rotor.state")
    ) async throws -> PostgresStateStore {
        let store = PostgresStateStore(settings: settings, authenticator: authenticator, logger: logger)
        do {
            try await store.migrate()
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    private init(settings: PostgresStateSettings, authenticator: RotatorConfigAuthenticator?, logger: Logger) {
        self.settings = settings
        self.logger = logger
        configAuthenticator = authenticator
        pool = StateConnectionPool(settings: settings, logger: logger)
    }

    /// Closes the connections.
    public func close() async { await pool.close() }

    /// One write transaction; every failure becomes a ``RotorError`` saying what failed (`what`).
    func write<T: Sendable>(_ what: String, _ body: (StateSession) async throws -> T) async throws -> T {
        try await transaction(what, readOnly: false, body)
    }

    /// One read-only transaction on one snapshot.
    func read<T: Sendable>(_ what: String, _ body: (StateSession) async throws -> T) async throws -> T {
        try await transaction(what, readOnly: true, body)
    }

    private func transaction<T: Sendable>(_ what: String, readOnly: Bool, _ body: (StateSession) async throws -> T) async throws -> T {
        do {
            return try await pool.withConnection { connection in
                try await StateSession.transaction(connection, readOnly: readOnly, logger: logger, body)
            }
        } catch let error as CancellationError {
            throw error
        } catch {
            throw StateStoreErrors.failed(error, settings, what: what)
        }
    }

    public func register(_ secret: ManagedSecret, audit: AuditEvent) async throws {
        let optionsJSON = secret.options.storedJSON
        let mac = configAuthenticator?.mac(secret.id.rawValue, rotator: secret.rotator.rawValue, optionsJSON: optionsJSON)
        try await write("registering a managed secret") { session in
            try await Self.serializeChanges(session)
            let inserted = try await session.rows("""
                INSERT INTO managed_secret (id, environment, rotator, options_json, status, failed_runs, last_rotated_at, last_error, created_at,
                                            config_mac, credential_expires_at)
                VALUES (\(secret.id.rawValue), \(secret.id.environment.name), \(secret.rotator.rawValue), \(optionsJSON), \(secret.status.rawValue),
                        \(secret.failedRuns), \(secret.lastRotatedAt?.timeIntervalSince1970), \(secret.lastError), \(secret.createdAt.timeIntervalSince1970),
                        \(mac), \(secret.credentialExpiresAt?.timeIntervalSince1970))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """)
            guard !inserted.isEmpty else { throw RotorError(.secretExists, "secret is already managed by rotor", secret: secret.id) }
            try await Self.insert(audit, session)
        }
    }

    public func managedSecret(_ id: SecretID) async throws -> ManagedSecret? {
        try await read("reading a managed secret") { session in
            try await session.row("SELECT * FROM managed_secret WHERE id = \(id.rawValue)").map(managedSecret)
        }
    }

    public func managedSecrets(in scope: EnvironmentScope) async throws -> [ManagedSecret] {
        try await read("listing managed secrets") { session in
            switch scope {
            case .all: try await session.rows("SELECT * FROM managed_secret ORDER BY id").map(managedSecret)
            case .only(let environment):
                try await session.rows("SELECT * FROM managed_secret WHERE environment = \(environment.name) ORDER BY id").map(managedSecret)
            }
        }
    }

    public func openRotation(for id: SecretID) async throws -> RotationRecord? {
        try await read("reading the open rotation") { session in try await Self.openRotation(id, session) }
    }

    public func managedSecretAndOpenRotation(_ id: SecretID) async throws -> (ManagedSecret?, RotationRecord?) {
        try await read("reading a managed secret") { session in
            (try await session.row("SELECT * FROM managed_secret WHERE id = \(id.rawValue)").map(managedSecret), try await Self.openRotation(id, session))
        }
    }

    public func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64 {
        let fence = JournalFence.current
        return try await write("journaling a step's intent") { session in
            if backlog.opening != nil { try await Self.serializeChanges(session) }
            try await Self.check(fence, session)
            try await Self.write(backlog, token: token, owner: fence?.owner, session)
            if let fence, let lockUntil { try await Self.extend(fence, until: lockUntil, session) }
            return try await Self.insertStep(token: token, step: step, attempt: attempt, at: at, owner: fence?.owner, session)
        }
    }

    public func journal(_ backlog: JournalBacklog, token: VersionID) async throws {
        let fence = JournalFence.current
        try await write("journaling a step") { session in
            if backlog.opening != nil { try await Self.serializeChanges(session) }
            try await Self.check(fence, session)
            try await Self.write(backlog, token: token, owner: fence?.owner, session)
        }
    }

    public func markRollingBack(token: VersionID, error: String, at: Date) async throws {
        let fence = JournalFence.current
        try await write("journaling a rollback") { session in
            try await Self.check(fence, session)
            try await session.run("UPDATE rotation SET outcome = 'rolling-back', error = \(Self.storable(error)) WHERE token = \(token.rawValue)")
        }
    }

    public func finishRun(
        token: VersionID, outcome: RotationOutcome, error: String?, at: Date, health: SecretHealthChange, audit: [AuditEvent],
        after backlog: JournalBacklog, releasingLock: Bool
    ) async throws {
        let fence = JournalFence.current
        let released = try await write("journaling a run's end") { session in
            try await Self.serializeChanges(session)
            try await Self.check(fence, session)
            try await Self.write(backlog, token: token, owner: fence?.owner, session)
            let ended = outcome.isOpen ? nil : at.timeIntervalSince1970
            let secret = try await session.row("""
                UPDATE rotation SET outcome = \(outcome.rawValue), error = \(Self.storable(error)), ended_at = \(ended) WHERE token = \(token.rawValue) RETURNING secret_id
                """)
            if let secret { try await Self.apply(health, to: try secret.value("secret_id"), session) }
            for event in audit { try await Self.insert(event, session) }
            guard releasingLock, let fence else { return false }
            return try await Self.release(fence.secret, owner: fence.owner, session)
        }
        if released { await announceDueWork() }
    }

    public func updateHealth(_ id: SecretID, _ health: SecretHealthChange, audit: AuditEvent) async throws {
        try await write("changing a secret's health") { session in
            try await Self.serializeChanges(session)
            try await Self.apply(health, to: id.rawValue, session)
            try await Self.insert(audit, session)
        }
    }

    public func appendAudit(_ event: AuditEvent) async throws {
        try await write("appending to the audit log") { session in try await Self.insert(event, session) }
    }

    public func updateRotator(_ id: SecretID, rotator: RotatorKind, options: RotatorOptions) async throws {
        let optionsJSON = options.storedJSON
        let mac = configAuthenticator?.mac(id.rawValue, rotator: rotator.rawValue, optionsJSON: optionsJSON)
        try await write("changing a secret's rotator") { session in
            try await Self.serializeChanges(session)
            try await session.run("""
                UPDATE managed_secret SET rotator = \(rotator.rawValue), options_json = \(optionsJSON), config_mac = \(mac) WHERE id = \(id.rawValue)
                """)
        }
    }

    public func rotations(of id: SecretID, limit: Int) async throws -> [RotationRecord] {
        try await read("reading rotations") { session in
            var records: [RotationRecord] = []
            for row in try await session.rows("SELECT * FROM rotation WHERE secret_id = \(id.rawValue) ORDER BY started_at DESC, position DESC LIMIT \(limit)") {
                records.append(try await Self.rotation(row, session))
            }
            return records
        }
    }

    public func auditEvents(of id: SecretID?, limit: Int) async throws -> [AuditEvent] {
        try await read("reading the audit log") { session in
            let rows = if let id {
                try await session.rows("SELECT * FROM (SELECT * FROM audit_event WHERE secret_id = \(id.rawValue) ORDER BY id DESC LIMIT \(limit)) e ORDER BY id")
            } else {
                try await session.rows("SELECT * FROM (SELECT * FROM audit_event ORDER BY id DESC LIMIT \(limit)) e ORDER BY id")
            }
            return try rows.map(Self.auditEvent)
        }
    }
}
