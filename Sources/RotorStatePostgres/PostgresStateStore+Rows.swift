import Foundation
import PostgresNIO
import RotorCore

/// Row ⇄ domain conversions of the PostgreSQL state schema (the same columns as SQLite's).
extension PostgresStateStore {
    /// Decodes a managed secret, refusing a row whose rotator or options fail their MAC.
    func managedSecret(_ row: PostgresRandomAccessRow) throws -> ManagedSecret {
        let idText: String = try row.value("id"), rotator: String = try row.value("rotator"), optionsJSON: String = try row.value("options_json")
        try configAuthenticator?.verify(try row.value("config_mac", as: Data?.self), id: idText, rotator: rotator, optionsJSON: optionsJSON)
        let id = try SecretID(idText)
        let environment: String = try row.value("environment")
        guard id.environment.name == environment else {
            throw RotorError(.storeCorrupted, "the state database files this secret under environment '\(environment.prefix(64))', not its own",
                             secret: id, remedy: "restore the state database from a backup (and find who could write it)")
        }
        return ManagedSecret(
            id: id, rotator: RotatorKind(rotator), options: RotatorOptions(storedJSON: optionsJSON),
            status: SecretStatus(rawValue: try row.value("status")) ?? .failed,
            failedRuns: try row.value("failed_runs"),
            lastRotatedAt: try Self.date(row, "last_rotated_at"),
            lastError: try row.value("last_error"),
            createdAt: Date(timeIntervalSince1970: try row.value("created_at")),
            credentialExpiresAt: try Self.date(row, "credential_expires_at"))
    }

    static func date(_ row: PostgresRandomAccessRow, _ column: String) throws -> Date? {
        try row.value(column, as: Double?.self).map(Date.init(timeIntervalSince1970:))
    }

    static func rotation(_ row: PostgresRandomAccessRow, _ session: StateSession) async throws -> RotationRecord {
        let token = VersionID(try row.value("token", as: String.self))
        let steps = try await session.rows("SELECT * FROM rotation_step WHERE token = \(token.rawValue) ORDER BY id").map(step)
        return RotationRecord(
            token: token,
            secret: try SecretID(try row.value("secret_id")),
            trigger: try row.value("trigger"),
            startedAt: Date(timeIntervalSince1970: try row.value("started_at")),
            endedAt: try date(row, "ended_at"),
            outcome: RotationOutcome(rawValue: try row.value("outcome")) ?? .inProgress,
            lastCompletedStep: try row.value("last_completed_step", as: String?.self).flatMap(RotationStep.init(rawValue:)),
            error: try row.value("error"),
            steps: steps)
    }

    static func step(_ row: PostgresRandomAccessRow) throws -> StepRecord {
        StepRecord(
            id: try row.value("id"), token: VersionID(try row.value("token", as: String.self)),
            step: JournalStep(rawValue: try row.value("step")) ?? .rollback, attempt: try row.value("attempt"),
            startedAt: Date(timeIntervalSince1970: try row.value("started_at")),
            endedAt: try date(row, "ended_at"),
            outcome: StepOutcome(rawValue: try row.value("outcome")) ?? .started, error: try row.value("error"), owner: try row.value("owner"))
    }

    static func auditEvent(_ row: PostgresRandomAccessRow) throws -> AuditEvent {
        var event = AuditEvent(
            at: Date(timeIntervalSince1970: try row.value("at")), actor: try row.value("actor"),
            secret: try row.value("secret_id", as: String?.self).map { try SecretID($0) },
            operation: try row.value("operation"), outcome: try row.value("outcome"), detail: try row.value("detail"))
        event.position = try row.value("id")
        return event
    }
}
