import Foundation
import PostgresNIO
import RotorCore

/// The alert and reload-hook outbox, its cursors over the audit log, and consumers' access reports.
extension PostgresStateStore: AccessLogStore {
    public func enqueueAlert(_ alert: AlertRecord) async throws {
        try await write("queueing an alert") { session in
            try await session.run("""
                INSERT INTO alert_outbox (created_at, kind, secret_id, payload, next_attempt_at)
                VALUES (\(alert.createdAt.timeIntervalSince1970), \(alert.kind), \(alert.secret?.rawValue), \(alert.payload), \(alert.createdAt.timeIntervalSince1970))
                """)
        }
    }

    public func dueAlerts(at now: Date, limit: Int) async throws -> [AlertRecord] {
        try await dueOutbox(channel: "alert", at: now, limit: limit)
    }

    public func markAlertDelivered(_ id: Int64, at: Date) async throws {
        try await write("marking an alert delivered") { session in
            try await session.run("UPDATE alert_outbox SET delivered_at = \(at.timeIntervalSince1970), attempts = attempts + 1 WHERE id = \(id)")
        }
    }

    public func markAlertFailed(_ id: Int64, error: String, nextAttemptAt: Date) async throws {
        try await write("marking an alert failed") { session in
            try await session.run("""
                UPDATE alert_outbox SET attempts = attempts + 1, last_error = \(Self.storable(String(error.prefix(300)))), next_attempt_at = \(nextAttemptAt.timeIntervalSince1970)
                WHERE id = \(id)
                """)
        }
    }

    public func pendingAlertCount() async throws -> Int {
        try await read("counting alerts") { session in
            Int(try await session.row("SELECT count(*) AS n FROM alert_outbox WHERE channel = 'alert' AND delivered_at IS NULL")!.value("n", as: Int64.self))
        }
    }

    public func fleetEnvironments(in scope: EnvironmentScope) async throws -> [String] {
        try await read("reading the fleet") { session in
            try await session.rows("SELECT DISTINCT environment FROM fleet_count WHERE secrets > 0 ORDER BY environment").map { try $0.value("environment", as: String.self) }
                .filter { name in (try? Environment(name)).map(scope.contains(environment:)) ?? false }
        }
    }

    public func recentAlerts(of secrets: [SecretID], since: Date) async throws -> [SecretID: [AlertRecord]] {
        guard !secrets.isEmpty else { return [:] }
        return try await read("reading alerts") { session in
            var found: [SecretID: [AlertRecord]] = [:]
            for row in try await session.rows("""
                SELECT * FROM alert_outbox WHERE channel = 'alert' AND created_at >= \(since.timeIntervalSince1970) AND secret_id = ANY(\(secrets.map(\.rawValue))) ORDER BY id
                """) {
                let record = try Self.outboxRecord(row)
                if let secret = record.secret { found[secret, default: []].append(record) }
            }
            return found
        }
    }

    public func currentVersionChanges(after position: Int64, limit: Int) async throws -> [CurrentVersionChange] {
        try await read("reading the audit log") { session in
            try await session.rows("""
                SELECT id, secret_id, at, operation FROM audit_event
                WHERE id > \(position) AND outcome = 'succeeded' AND operation IN ('rotation.finish', 'secret.rollback') AND secret_id IS NOT NULL
                ORDER BY id LIMIT \(limit)
                """).map { row in
                CurrentVersionChange(position: try row.value("id"), secret: try SecretID(try row.value("secret_id")),
                                     at: Date(timeIntervalSince1970: try row.value("at")), operation: try row.value("operation"))
            }
        }
    }

    public func auditEvents(after position: Int64, limit: Int) async throws -> [AuditEvent] {
        try await read("reading the audit log") { session in
            try await session.rows("SELECT * FROM audit_event WHERE id > \(position) ORDER BY id LIMIT \(limit)").map(Self.auditEvent)
        }
    }

    public func outboxCursor(_ name: String) async throws -> Int64 {
        try await read("reading an outbox cursor") { session in
            try await session.row("SELECT position FROM outbox_cursor WHERE name = \(name)")?.value("position") ?? 0
        }
    }

    public func enqueueOutbox(_ records: [(record: AlertRecord, key: String)], channel: String, cursor: (name: String, from: Int64, to: Int64)?) async throws -> Bool {
        try await write("queueing outbox records") { session in
            if let cursor {
                try await session.run("INSERT INTO outbox_cursor (name, position) VALUES (\(cursor.name), 0) ON CONFLICT (name) DO NOTHING")
                let moved = try await session.row("""
                    UPDATE outbox_cursor SET position = \(cursor.to) WHERE name = \(cursor.name) AND position = \(cursor.from) RETURNING name
                    """)
                guard moved != nil else { return false }
            }
            for (record, key) in records {
                try await session.run("""
                    INSERT INTO alert_outbox (created_at, kind, secret_id, payload, next_attempt_at, channel, dedup_key)
                    VALUES (\(record.createdAt.timeIntervalSince1970), \(record.kind), \(record.secret?.rawValue), \(record.payload),
                            \(record.createdAt.timeIntervalSince1970), \(channel), \(key))
                    ON CONFLICT (channel, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
                    """)
            }
            return true
        }
    }

    public func claimOutbox(_ id: Int64, at now: Date, until: Date) async throws -> Bool {
        try await write("claiming an outbox record") { session in
            try await session.row("""
                UPDATE alert_outbox SET next_attempt_at = \(until.timeIntervalSince1970)
                WHERE id = \(id) AND delivered_at IS NULL AND next_attempt_at <= \(now.timeIntervalSince1970) RETURNING id
                """) != nil
        }
    }

    public func dueOutbox(channel: String, at now: Date, limit: Int) async throws -> [AlertRecord] {
        try await read("reading the outbox") { session in
            try await session.rows("""
                SELECT * FROM alert_outbox WHERE channel = \(channel) AND delivered_at IS NULL AND next_attempt_at <= \(now.timeIntervalSince1970) ORDER BY id LIMIT \(limit)
                """).map(Self.outboxRecord)
        }
    }

    public func pendingOutbox(channel: String, secret: SecretID) async throws -> [(record: AlertRecord, lastError: String?)] {
        try await read("reading the outbox") { session in
            try await session.rows("""
                SELECT * FROM alert_outbox WHERE channel = \(channel) AND secret_id = \(secret.rawValue) AND delivered_at IS NULL ORDER BY id
                """).map { row in (try Self.outboxRecord(row), try row.value("last_error", as: String?.self)) }
        }
    }

    static func outboxRecord(_ row: PostgresRandomAccessRow) throws -> AlertRecord {
        AlertRecord(id: try row.value("id"), createdAt: Date(timeIntervalSince1970: try row.value("created_at")), kind: try row.value("kind"),
                    secret: try row.value("secret_id", as: String?.self).map { try SecretID($0) }, payload: try row.value("payload"),
                    attempts: try row.value("attempts"))
    }

    public func recordAccess(_ reports: [AccessReport], prunedBefore: Date) async throws -> [AccessReport] {
        try await write("recording access reports") { session in
            var recorded: [AccessReport] = []
            for report in reports {
                // A report sent again (after a lost answer) or fed twice is recorded once.
                let inserted = try await session.row("""
                    INSERT INTO access_report (secret_id, service, environment, host, reads, denied, first_at, last_at, report_key)
                    VALUES (\(report.secret.rawValue), \(report.service), \(report.environment), \(report.host), \(report.reads), \(report.denied),
                            \(report.first.timeIntervalSince1970), \(report.last.timeIntervalSince1970), \(report.key))
                    ON CONFLICT (report_key) WHERE report_key IS NOT NULL DO NOTHING RETURNING id
                    """)
                guard inserted != nil else { continue }
                recorded.append(report)
                guard report.reads > 0 else { continue }
                try await session.run("""
                    INSERT INTO secret_last_access AS a (secret_id, at, reader) VALUES (\(report.secret.rawValue), \(report.last.timeIntervalSince1970), \(report.reader))
                    ON CONFLICT (secret_id) DO UPDATE SET at = excluded.at, reader = excluded.reader WHERE excluded.at > a.at
                    """)
            }
            try await session.run("DELETE FROM access_report WHERE last_at < \(prunedBefore.timeIntervalSince1970)")
            return recorded
        }
    }

    public func deniedReads(of secret: SecretID, since: Date) async throws -> Int {
        try await read("reading access reports") { session in
            Int(try await session.row("""
                SELECT coalesce(sum(denied), 0)::bigint AS n FROM access_report WHERE secret_id = \(secret.rawValue) AND last_at >= \(since.timeIntervalSince1970)
                """)!.value("n", as: Int64.self))
        }
    }

    public func lastAccess(of secrets: [SecretID]) async throws -> [SecretID: LastAccess] {
        guard !secrets.isEmpty else { return [:] }
        return try await read("reading access reports") { session in
            var found: [SecretID: LastAccess] = [:]
            for row in try await session.rows("SELECT * FROM secret_last_access WHERE secret_id = ANY(\(secrets.map(\.rawValue)))") {
                found[try SecretID(try row.value("secret_id"))] = LastAccess(at: Date(timeIntervalSince1970: try row.value("at")), reader: try row.value("reader"))
            }
            return found
        }
    }
}
