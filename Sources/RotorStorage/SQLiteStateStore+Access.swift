import Foundation
import GRDB
import RotorCore

extension SQLiteStateStore: AccessLogStore {
    public func recordAccess(_ reports: [AccessReport], prunedBefore: Date) async throws -> [AccessReport] {
        try await pool.writeNow { db in
            var recorded: [AccessReport] = []
            for report in reports {
                // A report sent again (after a lost answer) or fed twice is recorded once.
                try db.execute(cached: """
                    INSERT OR IGNORE INTO access_report (secret_id, service, environment, host, reads, denied, first_at, last_at, report_key)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [report.secret.rawValue, report.service, report.environment, report.host, report.reads, report.denied,
                                     report.first.epochSeconds, report.last.epochSeconds, report.key])
                guard db.changesCount == 1 else { continue }
                recorded.append(report)
                guard report.reads > 0 else { continue }
                try db.execute(cached: """
                    INSERT INTO secret_last_access (secret_id, at, reader) VALUES (?1, ?2, ?3)
                    ON CONFLICT(secret_id) DO UPDATE SET at = ?2, reader = ?3 WHERE ?2 > at
                    """, arguments: [report.secret.rawValue, report.last.epochSeconds, report.reader])
            }
            try db.execute(cached: "DELETE FROM access_report WHERE last_at < ?", arguments: [prunedBefore.epochSeconds])
            return recorded
        }
    }

    public func deniedReads(of secret: SecretID, since: Date) async throws -> Int {
        try await pool.readNow { db in
            try Int.fetchOne(db, sql: "SELECT coalesce(sum(denied), 0) FROM access_report WHERE secret_id = ? AND last_at >= ?",
                             arguments: [secret.rawValue, since.epochSeconds]) ?? 0
        }
    }

    public func lastAccess(of secrets: [SecretID]) async throws -> [SecretID: LastAccess] {
        guard !secrets.isEmpty else { return [:] }
        return try await pool.readNow { db in
            var found: [SecretID: LastAccess] = [:]
            let marks = Array(repeating: "?", count: secrets.count).joined(separator: ",")
            for row in try Row.fetchAll(db, sql: "SELECT * FROM secret_last_access WHERE secret_id IN (\(marks))",
                                        arguments: StatementArguments(secrets.map(\.rawValue))) {
                found[try SecretID(row["secret_id"])] = LastAccess(at: Date(epochSeconds: row["at"]), reader: row["reader"])
            }
            return found
        }
    }
}
