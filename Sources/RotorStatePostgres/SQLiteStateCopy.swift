import Foundation
import NIOCore
import PostgresNIO
import RotorCore
import RotorStorage

/// `rotor state migrate`: copies an installation's SQLite state into a PostgreSQL schema in one
/// transaction, history included, so nothing is lost and a failed copy leaves nothing half done.
/// Rows keep their ids, times and rotator-config MACs exactly (same columns, same encodings). A
/// target that already holds managed secrets or audit events is refused unless `intoNonEmpty`; then
/// only rows it lacks are added (a rerun adds nothing). Per-secret locks and the daemon lease are not
/// copied: stop rotor before the copy, and every rotation left open resumes from the copied journal.
public struct SQLiteStateCopy: Sendable {
    /// What one table's copy did.
    public struct TableResult: Sendable, Equatable {
        public var table: String
        public var read: Int
        public var added: Int
    }

    /// The tables, in an order that satisfies their references, and their columns; `identity` when
    /// the target generates the ids and a copy must keep the source's.
    static let tables: [(name: String, columns: [String], identity: Bool)] = [
        ("managed_secret", ["id", "environment", "rotator", "options_json", "status", "failed_runs", "last_rotated_at", "last_error", "created_at",
                            "config_mac", "credential_expires_at"], false),
        ("rotation", ["token", "secret_id", "trigger", "started_at", "ended_at", "outcome", "last_completed_step", "error"], false),
        ("rotation_step", ["id", "token", "step", "attempt", "started_at", "ended_at", "outcome", "error", "owner"], true),
        ("audit_event", ["id", "at", "actor", "secret_id", "operation", "outcome", "detail"], true),
        ("schedule", ["secret_id", "policy", "fingerprint", "next_due_at", "next_reminder_at", "last_reminder_at", "last_failure_at"], false),
        ("alert_outbox", ["id", "created_at", "kind", "secret_id", "payload", "attempts", "next_attempt_at", "delivered_at", "last_error", "channel",
                          "dedup_key"], true),
        ("outbox_cursor", ["name", "position"], false),
        ("access_report", ["id", "secret_id", "service", "environment", "host", "reads", "denied", "first_at", "last_at", "report_key"], true),
        ("secret_last_access", ["secret_id", "at", "reader"], false),
    ]

    /// For tables whose ids the target generates: columns a row never changes, compared when a
    /// copy into a non-empty target meets an id the target already has (the same row copied
    /// before, or another row that took the id: then nothing is copied).
    static let fixedColumns: [String: [String]] = [
        "rotation_step": ["token", "step", "attempt", "started_at"],
        "audit_event": ["at", "actor", "operation"],
        "alert_outbox": ["created_at", "kind", "channel"],
        "access_report": ["secret_id", "service", "first_at"],
    ]

    let source: SQLiteStateStore
    let target: PostgresStateStore

    public init(from source: SQLiteStateStore, to target: PostgresStateStore) {
        self.source = source
        self.target = target
    }

    /// Copies every table; throws (and changes nothing) when the target is not empty and `intoNonEmpty` is false.
    public func run(intoNonEmpty: Bool = false) async throws -> [TableResult] {
        try await target.write("copying the state from SQLite") { session in
            // Nobody else writes while the copy runs (the same lock audit positions are taken under).
            try await PostgresStateStore.serializeChanges(session)
            let used = try await session.row("""
                SELECT (SELECT count(*) FROM managed_secret) + (SELECT count(*) FROM audit_event) AS n
                """)!.value("n", as: Int64.self)
            guard used == 0 || intoNonEmpty else {
                throw RotorError(
                    .invalidRequest, "the target schema '\(target.settings.schema)' already holds rotor state (\(used) managed secrets and audit events); nothing was copied",
                    remedy: "copy into an empty schema, or add only what it lacks with --into-non-empty")
            }
            var results: [TableResult] = []
            for table in Self.tables { results.append(try await copy(table, checkingIDs: used > 0, session)) }
            return results
        }
    }

    private func copy(_ table: (name: String, columns: [String], identity: Bool), checkingIDs: Bool, _ session: StateSession) async throws -> TableResult {
        var result = TableResult(table: table.name, read: 0, added: 0)
        // A statement carries at most 65,535 values.
        let pageSize = max(1, min(1000, 60_000 / table.columns.count))
        var after: Int64 = 0
        while true {
            let rows = try await source.exportRows(table.name, columns: table.columns, after: after, limit: pageSize)
            guard let last = rows.last else { break }
            after = last.rowID
            result.read += rows.count
            result.added += try await insert(rows.map(\.values), into: table, session)
            if checkingIDs, let fixed = Self.fixedColumns[table.name] { try await requireSameRows(rows.map(\.values), table, fixed, session) }
        }
        if table.identity {
            // The next generated id follows the copied ones.
            try await session.run(PostgresQuery(unsafeSQL: """
                SELECT setval(pg_get_serial_sequence('\(table.name)', 'id'), coalesce((SELECT max(id) FROM \(table.name)), 0) + 1, false)
                """))
        }
        return result
    }

    /// `VALUES` tuples of `rows` and their binds.
    private static func values(_ rows: [[StoredValue]]) -> (tuples: String, binds: PostgresBindings) {
        var binds = PostgresBindings(capacity: rows.count * (rows.first?.count ?? 0))
        var tuples: [String] = []
        for row in rows {
            var marks: [String] = []
            for value in row {
                switch value {
                case .null: binds.appendNull()
                case .integer(let number): binds.append(number)
                case .real(let number): binds.append(number)
                case .text(let text): binds.append(PostgresStateStore.storable(text) ?? "")
                case .blob(let data): binds.append(ByteBuffer(bytes: data))
                }
                marks.append("$\(binds.count)")
            }
            tuples.append("(" + marks.joined(separator: ", ") + ")")
        }
        return (tuples.joined(separator: ", "), binds)
    }

    /// Refuses the copy when a source row's id is held in the target by a different row.
    private func requireSameRows(
        _ rows: [[StoredValue]], _ table: (name: String, columns: [String], identity: Bool), _ fixed: [String], _ session: StateSession
    ) async throws {
        let positions = ([0] + fixed.compactMap { table.columns.firstIndex(of: $0) })
        let (tuples, binds) = Self.values(rows.map { row in positions.map { row[$0] } })
        let names = ["id"] + fixed
        let differing = try await session.row(PostgresQuery(unsafeSQL: """
            SELECT count(*) AS n FROM (VALUES \(tuples)) AS v(\(names.joined(separator: ", "))) JOIN \(table.name) t ON t.id = v.id
            WHERE (\(fixed.map { "t.\($0)" }.joined(separator: ", "))) IS DISTINCT FROM (\(fixed.map { "v.\($0)" }.joined(separator: ", ")))
            """, binds: binds))!.value("n", as: Int64.self)
        guard differing == 0 else {
            throw RotorError(
                .invalidRequest, "\(differing) \(table.name) row(s) of the source have ids the target gave to other rows; nothing was copied",
                remedy: "copy into an empty schema: both installations wrote history since the last copy, and their ids overlap")
        }
    }

    private func insert(_ rows: [[StoredValue]], into table: (name: String, columns: [String], identity: Bool), _ session: StateSession) async throws -> Int {
        let (tuples, binds) = Self.values(rows)
        // A cursor the target's migration created (at position 0) takes the source's position.
        let onConflict = table.name == "outbox_cursor"
            ? "ON CONFLICT (name) DO UPDATE SET position = excluded.position WHERE outbox_cursor.position < excluded.position" : "ON CONFLICT DO NOTHING"
        let sql = """
            INSERT INTO \(table.name) (\(table.columns.joined(separator: ", ")))\(table.identity ? " OVERRIDING SYSTEM VALUE" : "")
            VALUES \(tuples) \(onConflict) RETURNING 1 AS added
            """
        return try await session.rows(PostgresQuery(unsafeSQL: sql, binds: binds)).count
    }
}
