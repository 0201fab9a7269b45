import Foundation
import GRDB
import RotorCore

/// Row ⇄ domain conversions of the state database.
extension SQLiteStateStore {
    static func encode(_ options: RotatorOptions) -> String { options.storedJSON }

    static func decodeOptions(_ json: String) -> RotatorOptions { RotatorOptions(storedJSON: json) }

    func configMAC(_ secret: ManagedSecret) -> Data? {
        configMAC(secret.id.rawValue, rotator: secret.rotator.rawValue, optionsJSON: Self.encode(secret.options))
    }

    /// Decodes a managed secret, refusing a row whose rotator or options fail their MAC.
    func managedSecret(_ row: Row) throws -> ManagedSecret {
        try configAuthenticator?.verify(row["config_mac"], id: row["id"], rotator: row["rotator"], optionsJSON: row["options_json"])
        let id = try SecretID(row["id"])
        // Scoped queries select by this column; it must name the id's own environment.
        guard id.environment.name == row["environment"] as String else {
            throw RotorError(.storeCorrupted, "the state database files this secret under environment '\(row["environment"] as String)', not its own",
                             secret: id, remedy: "restore state.sqlite from a backup (and find who could write it)")
        }
        return ManagedSecret(
            id: id,
            rotator: RotatorKind(row["rotator"] as String),
            options: Self.decodeOptions(row["options_json"]),
            status: SecretStatus(rawValue: row["status"]) ?? .failed,
            failedRuns: row["failed_runs"],
            lastRotatedAt: (row["last_rotated_at"] as Double?).map(Date.init(epochSeconds:)),
            lastError: row["last_error"],
            createdAt: Date(epochSeconds: row["created_at"]),
            credentialExpiresAt: (row["credential_expires_at"] as Double?).map(Date.init(epochSeconds:)))
    }

    static func rotation(_ row: Row, _ db: Database) throws -> RotationRecord {
        let token = VersionID(row["token"] as String)
        let steps = try db.fetchRows(cached: "SELECT * FROM rotation_step WHERE token = ? ORDER BY id", arguments: [token.rawValue]).map(step)
        return RotationRecord(
            token: token,
            secret: try SecretID(row["secret_id"]),
            trigger: row["trigger"],
            startedAt: Date(epochSeconds: row["started_at"]),
            endedAt: (row["ended_at"] as Double?).map(Date.init(epochSeconds:)),
            outcome: RotationOutcome(rawValue: row["outcome"]) ?? .inProgress,
            lastCompletedStep: (row["last_completed_step"] as String?).flatMap(RotationStep.init(rawValue:)),
            error: row["error"],
            steps: steps)
    }

    static func step(_ row: Row) -> StepRecord {
        StepRecord(
            id: row["id"], token: VersionID(row["token"] as String),
            step: JournalStep(rawValue: row["step"]) ?? .rollback, attempt: row["attempt"],
            startedAt: Date(epochSeconds: row["started_at"]),
            endedAt: (row["ended_at"] as Double?).map(Date.init(epochSeconds:)),
            outcome: StepOutcome(rawValue: row["outcome"]) ?? .started, error: row["error"], owner: row["owner"])
    }

    static func auditEvent(_ row: Row) throws -> AuditEvent {
        var event = AuditEvent(
            at: Date(epochSeconds: row["at"]), actor: row["actor"],
            secret: try (row["secret_id"] as String?).map { try SecretID($0) },
            operation: row["operation"], outcome: row["outcome"], detail: row["detail"])
        event.position = row["id"]
        return event
    }

    static func insert(_ event: AuditEvent, _ db: Database) throws {
        try db.execute(
            cached: "INSERT INTO audit_event (at, actor, secret_id, operation, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [event.at.epochSeconds, event.actor, event.secret?.rawValue, event.operation, event.outcome, event.detail])
    }

    static func apply(_ health: SecretHealthChange, to id: String, _ db: Database) throws {
        try db.execute(
            cached: """
                UPDATE managed_secret SET status = ?1, failed_runs = ?2, last_error = ?3,
                    last_rotated_at = coalesce(?4, last_rotated_at),
                    credential_expires_at = CASE WHEN ?4 IS NULL THEN credential_expires_at ELSE ?5 END WHERE id = ?6
                """,
            arguments: [health.status.rawValue, health.failedRuns, health.lastError, health.lastRotatedAt?.epochSeconds,
                        health.credentialExpiresAt?.epochSeconds, id])
    }
}
