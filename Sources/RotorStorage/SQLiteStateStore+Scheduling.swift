import Foundation
import GRDB
import Synchronization
import RotorCore

/// Locks, the schedule, the lease and the alert outbox in the state database.
extension SQLiteStateStore: SchedulingStore {
    public func updateRotator(_ id: SecretID, rotator: RotatorKind, options: RotatorOptions) async throws {
        try await pool.writeNow { db in
            let optionsJSON = Self.encode(options)
            try db.execute(cached: "UPDATE managed_secret SET rotator = ?, options_json = ?, config_mac = ? WHERE id = ?",
                           arguments: [rotator.rawValue, optionsJSON, self.configMAC(id.rawValue, rotator: rotator.rawValue, optionsJSON: optionsJSON), id.rawValue])
        }
    }

    public func acquireSecretLock(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> SecretLock? {
        try await pool.writeNow { db in try Self.acquire(id, owner: owner, ttl: ttl, now: now, db) }
    }

    /// One commit: the managed row checked, the lock taken, the managed secret and its open rotation read.
    public func lockAndRead(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> LockedSecret {
        try await pool.writeNow { db in
            guard let row = try db.fetchRow(cached: "SELECT * FROM managed_secret WHERE id = ?", arguments: [id.rawValue]) else {
                return LockedSecret(lock: nil, managed: nil, open: nil)
            }
            let managed = try self.managedSecret(row)
            guard let lock = try Self.acquire(id, owner: owner, ttl: ttl, now: now, db) else { return LockedSecret(lock: nil, managed: managed, open: nil) }
            return LockedSecret(lock: lock, managed: managed, open: try Self.openRotation(id, db))
        }
    }

    /// Inside a write transaction: takes (or renews) `owner`'s lock; nil while another holder's has not lapsed.
    static func acquire(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date, _ db: Database) throws -> SecretLock? {
        try db.execute(cached: """
            INSERT INTO secret_lock (secret_id, owner, expires_at, fence) VALUES (?, ?, ?, 1)
            ON CONFLICT(secret_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
                fence = CASE WHEN secret_lock.owner = excluded.owner THEN secret_lock.fence ELSE secret_lock.fence + 1 END
            WHERE secret_lock.owner = excluded.owner OR secret_lock.expires_at <= ?
            """, arguments: [id.rawValue, owner, now.addingTimeInterval(ttl).epochSeconds, now.epochSeconds])
        guard db.changesCount > 0 else { return nil }
        let fence = try db.fetchValue(Int64.self, cached: "SELECT fence FROM secret_lock WHERE secret_id = ?", arguments: [id.rawValue]) ?? 0
        return SecretLock(secret: id, owner: owner, fence: fence)
    }

    /// Releasing keeps the row (owner emptied, expired) so the next holder's fence is higher.
    public func releaseSecretLock(_ id: SecretID, owner: String) async throws {
        try await pool.writeNow { db in try Self.release(id, owner: owner, db) }
    }

    /// Inside a write transaction: ends `owner`'s lock on the secret (the row and its fence stay).
    static func release(_ id: SecretID, owner: String, _ db: Database) throws {
        try db.execute(cached: "UPDATE secret_lock SET owner = '', expires_at = 0 WHERE secret_id = ? AND owner = ?", arguments: [id.rawValue, owner])
    }

    public func secretLockHolder(_ id: SecretID, now: Date) async throws -> String? {
        try await pool.readNow { db in
            try db.fetchValue(String.self, cached: "SELECT owner FROM secret_lock WHERE secret_id = ? AND expires_at > ? AND owner <> ''",
                              arguments: [id.rawValue, now.epochSeconds])
        }
    }

    public func breakSecretLock(_ id: SecretID, heldBy owner: String) async throws { try await releaseSecretLock(id, owner: owner) }

    /// Inside a journal write's transaction: refuses the write when the task's lock (``JournalFence``,
    /// read by the caller before the transaction) is no longer the secret's.
    static func check(_ fence: SecretLock?, _ db: Database) throws {
        guard let lock = fence else { return }
        let row = try db.fetchRow(cached: "SELECT owner, fence FROM secret_lock WHERE secret_id = ?", arguments: [lock.secret.rawValue])
        guard let row, row["owner"] as String == lock.owner, row["fence"] as Int64 == lock.fence else {
            throw JournalFence.lost(lock, holder: (row?["owner"] as String?).flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    /// Inside a journal write's transaction, after ``check(_:_:)``: the lock lives at least until `until`.
    static func extend(_ lock: SecretLock, until: Date, _ db: Database) throws {
        try db.execute(cached: "UPDATE secret_lock SET expires_at = max(expires_at, ?) WHERE secret_id = ? AND owner = ? AND fence = ?",
                       arguments: [until.epochSeconds, lock.secret.rawValue, lock.owner, lock.fence])
    }

    public func acquireLease(_ name: String, owner: String, ttl: TimeInterval, now: Date) async throws -> Bool {
        try await pool.writeNow { db in
            guard try Self.takeRow("lease", key: "name", name, owner: owner, until: now.addingTimeInterval(ttl), now: now, db) else { return false }
            return true
        }
    }

    public func releaseLease(_ name: String, owner: String) async throws {
        try await pool.writeNow { db in try db.execute(cached: "DELETE FROM lease WHERE name = ? AND owner = ?", arguments: [name, owner]) }
    }

    public func leaseHolder(_ name: String, now: Date) async throws -> (owner: String, expiresAt: Date)? {
        try await pool.readNow { db in
            guard let row = try db.fetchRow(cached: "SELECT owner, expires_at FROM lease WHERE name = ? AND expires_at > ?", arguments: [name, now.epochSeconds])
            else { return nil }
            return (row["owner"], Date(epochSeconds: row["expires_at"]))
        }
    }

    /// Takes a (key → owner, expiry) row when it is free, expired or already ours; one statement, so
    /// two processes can never both succeed.
    static func takeRow(_ table: String, key: String, _ value: String, owner: String, until: Date, now: Date, _ db: Database) throws -> Bool {
        let extra = table == "lease" ? ", acquired_at" : ""
        let extraValue = table == "lease" ? ", ?" : ""
        var arguments: StatementArguments = [value, owner]
        if table == "lease" { _ = arguments.append(contentsOf: [now.epochSeconds]) }
        _ = arguments.append(contentsOf: [until.epochSeconds, owner, now.epochSeconds])
        try db.execute(cached: """
            INSERT INTO \(table) (\(key), owner\(extra), expires_at) VALUES (?, ?\(extraValue), ?)
            ON CONFLICT(\(key)) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at\(table == "lease" ? ", acquired_at = CASE WHEN lease.owner = excluded.owner THEN lease.acquired_at ELSE excluded.acquired_at END" : "")
            WHERE \(table).owner = ? OR \(table).expires_at <= ?
            """, arguments: arguments)
        return db.changesCount > 0
    }

    public func scheduleEntries(in scope: EnvironmentScope) async throws -> [ScheduleEntry] {
        let (lower, upper) = Self.bounds(scope)
        return try await pool.readNow { db in
            try db.fetchRows(cached: "SELECT * FROM schedule WHERE secret_id >= ? AND secret_id < ? ORDER BY secret_id", arguments: [lower, upper])
                .map(Self.scheduleEntry)
        }
    }

    /// The id range of a scope; all ids start with "/" and "0" follows it.
    static func bounds(_ scope: EnvironmentScope) -> (String, String) { scope.idRange ?? ("/", "0") }

    public func fleetSummary(in scope: EnvironmentScope, now: Date) async throws -> FleetSummary {
        let (lower, upper) = Self.bounds(scope)
        let environment: String? = if case .only(let environment) = scope { environment.name } else { nil }
        return try await pool.readNow { db in
            var counts: [SecretStatus: Int] = [:]
            let rows = try db.fetchRows(
                cached: "SELECT status, sum(secrets) AS secrets FROM fleet_count WHERE ?1 IS NULL OR environment = ?1 GROUP BY status", arguments: [environment])
            for row in rows { if let status = SecretStatus(rawValue: row["status"]) { counts[status] = row["secrets"] } }
            let overdue = try db.fetchValue(
                Int.self, cached: "SELECT count(*) FROM schedule \(Self.deadlineIndex("next_due_at")) WHERE next_due_at IS NOT NULL AND next_due_at <= ? AND secret_id >= ? AND secret_id < ?",
                arguments: [now.epochSeconds, lower, upper]) ?? 0
            let next = try Self.earliest("next_due_at", lower: lower, upper: upper, db)
            // In last-success order through the partial index, stopping at the first row of the scope.
            let oldest = try db.fetchValue(
                Double.self, cached: """
                    SELECT last_rotated_at FROM managed_secret INDEXED BY managed_secret_by_last_rotated
                    WHERE last_rotated_at IS NOT NULL AND (?1 IS NULL OR environment = ?1) ORDER BY last_rotated_at LIMIT 1
                    """, arguments: [environment])
            return FleetSummary(secrets: counts, overdue: overdue, nextDeadline: next.map(Date.init(epochSeconds:)), oldestLastSuccess: oldest.map(Date.init(epochSeconds:)))
        }
    }

    public func configSequence() async throws -> Int64 {
        try await pool.readNow { db in try db.fetchValue(Int64.self, cached: "SELECT value FROM config_sequence WHERE id = 1") ?? 0 }
    }

    public func managedSecrets(in scope: EnvironmentScope, changedAfter sequence: Int64) async throws -> [ManagedSecret] {
        let (lower, upper) = Self.bounds(scope)
        return try await pool.readNow { db in
            try db.fetchRows(
                cached: "SELECT * FROM managed_secret INDEXED BY managed_secret_by_config_seq WHERE config_seq > ? AND id >= ? AND id < ? ORDER BY config_seq",
                arguments: [sequence, lower, upper]
            ).map(self.managedSecret)
        }
    }

    public func reconcileCandidates(in scope: EnvironmentScope, expected: ReconcileExpectation) async throws -> ReconcileCandidates {
        let (lower, upper) = Self.bounds(scope)
        let encoded = expected.policies.map { Self.encode($0.options) }
        return try await pool.readNow { db in
            // Each id's policy comes from Swift (the glob rules); the comparison with what that policy
            // wants runs in SQL, on two plain table scans (`+` keeps the id indexes out of them).
            let counter = try PolicyFunction(expected.policyIndex, on: db)
            // A failed removal leaves it registered but retained by the connection, so never dangling.
            defer { try? counter.remove() }
            var configured: [String] = [], scheduled: [String] = []
            var configArguments: [DatabaseValue] = [lower.databaseValue, upper.databaseValue]
            var scheduleArguments = configArguments
            for (index, policy) in expected.policies.enumerated() {
                configured.append("WHEN \(index) THEN NOT (rotator = ? AND options_json = ?)")
                configArguments += [policy.rotator.rawValue.databaseValue, encoded[index].databaseValue]
                scheduled.append("WHEN \(index) THEN NOT (policy = ? AND fingerprint = ?)")
                scheduleArguments += [policy.name.databaseValue, policy.fingerprint.databaseValue]
            }
            let configurations = try Row.fetchAll(db, sql: """
                SELECT id, rotator, options_json FROM managed_secret WHERE +id >= ? AND +id < ?
                AND CASE rotor_reconcile_policy(id) WHEN -1 THEN 1 \(configured.joined(separator: " ")) ELSE 0 END
                """, arguments: StatementArguments(configArguments)
            ).map { ManagedConfiguration(id: $0[0], rotator: RotatorKind($0[1] as String), options: Self.decodeOptions($0[2])) }
            let managedWithPolicy = counter.reset()
            var schedules = try String.fetchAll(db, sql: """
                SELECT secret_id FROM schedule WHERE +secret_id >= ? AND +secret_id < ?
                AND CASE rotor_reconcile_policy(secret_id) WHEN -1 THEN 1 \(scheduled.joined(separator: " ")) ELSE 1 END
                """, arguments: StatementArguments(scheduleArguments))
            // Every entry belongs to a managed secret (a foreign key): equal counts mean no managed
            // secret with a policy lacks its entry, and the look-up for missing ones is skipped.
            if counter.reset() != managedWithPolicy {
                schedules += try String.fetchAll(db, sql: """
                    SELECT id FROM managed_secret m WHERE +id >= ? AND +id < ? AND rotor_reconcile_policy(id) >= 0
                    AND NOT EXISTS (SELECT 1 FROM schedule s WHERE s.secret_id = m.id)
                    """, arguments: [lower, upper])
            }
            return ReconcileCandidates(configurations: configurations.sorted { $0.id < $1.id }, schedules: schedules.sorted())
        }
    }

    public func managedIDs(among ids: [SecretID]) async throws -> Set<SecretID> {
        try await pool.readNow { db in
            var managed = Set<SecretID>()
            for id in ids where try db.fetchValue(Int.self, cached: "SELECT 1 FROM managed_secret WHERE id = ?", arguments: [id.rawValue]) != nil {
                managed.insert(id)
            }
            return managed
        }
    }

    public func secretPage(in scope: EnvironmentScope, after: SecretID?, limit: Int) async throws -> [(secret: ManagedSecret, entry: ScheduleEntry?)] {
        let (lower, upper) = Self.bounds(scope)
        return try await pool.readNow { db in
            let secrets = try db.fetchRows(
                cached: "SELECT * FROM managed_secret WHERE id > ? AND id >= ? AND id < ? ORDER BY id LIMIT ?",
                arguments: [after?.rawValue ?? "", lower, upper, limit]
            ).map(self.managedSecret)
            guard let first = secrets.first, let last = secrets.last else { return [] }
            let entries = try db.fetchRows(
                cached: "SELECT * FROM schedule WHERE secret_id >= ? AND secret_id <= ?", arguments: [first.id.rawValue, last.id.rawValue]
            ).map(Self.scheduleEntry)
            let byID = Dictionary(entries.map { ($0.secret, $0) }, uniquingKeysWith: { first, _ in first })
            return secrets.map { ($0, byID[$0.id]) }
        }
    }

    public func scheduleEntry(_ id: SecretID) async throws -> ScheduleEntry? {
        try await pool.readNow { db in try db.fetchRow(cached: "SELECT * FROM schedule WHERE secret_id = ?", arguments: [id.rawValue]).map(Self.scheduleEntry) }
    }

    public func saveScheduleEntry(_ entry: ScheduleEntry) async throws {
        try await saveScheduleEntries([entry])
    }

    /// Saves entries in one transaction (one entry from the scheduler; many from imports and benchmarks).
    public func saveScheduleEntries(_ entries: [ScheduleEntry]) async throws {
        try await pool.writeNow { db in
            for entry in entries {
                try db.execute(cached: """
                    INSERT OR REPLACE INTO schedule (secret_id, policy, fingerprint, next_due_at, next_reminder_at, last_reminder_at, last_failure_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [
                        entry.secret.rawValue, entry.policy, entry.fingerprint, entry.nextDueAt?.epochSeconds, entry.nextReminderAt?.epochSeconds,
                        entry.lastReminderAt?.epochSeconds, entry.lastFailureAt?.epochSeconds,
                    ])
            }
        }
    }

    /// Registers many managed secrets in one transaction, without audit events (imports, benchmarks).
    public func registerMany(_ secrets: [ManagedSecret]) async throws {
        try await pool.writeNow { db in
            for secret in secrets {
                try db.execute(cached: """
                    INSERT INTO managed_secret (id, environment, rotator, options_json, status, failed_runs, created_at, config_mac)
                    VALUES (?, ?, ?, ?, ?, 0, ?, ?)
                    """, arguments: [secret.id.rawValue, secret.id.environment.name, secret.rotator.rawValue, Self.encode(secret.options),
                                     secret.status.rawValue, secret.createdAt.epochSeconds, self.configMAC(secret)])
            }
        }
    }

    public func removeScheduleEntry(_ id: SecretID) async throws {
        try await pool.writeNow { db in try db.execute(cached: "DELETE FROM schedule WHERE secret_id = ?", arguments: [id.rawValue]) }
    }

    public func dueRotations(at now: Date, limit: Int, in scope: EnvironmentScope) async throws -> [ScheduleEntry] {
        try await due("next_due_at", at: now, limit: limit, scope: scope)
    }

    public func dueReminders(at now: Date, limit: Int, in scope: EnvironmentScope) async throws -> [ScheduleEntry] {
        try await due("next_reminder_at", at: now, limit: limit, scope: scope)
    }

    /// Entries whose `column` deadline has passed, earliest first: a range scan of that column's partial index.
    private func due(_ column: String, at now: Date, limit: Int, scope: EnvironmentScope) async throws -> [ScheduleEntry] {
        let (lower, upper) = Self.bounds(scope)
        return try await pool.readNow { db in
            try db.fetchRows(
                cached: "SELECT * FROM schedule \(Self.deadlineIndex(column)) WHERE \(column) IS NOT NULL AND \(column) <= ? AND secret_id >= ? AND secret_id < ? ORDER BY \(column) LIMIT ?",
                arguments: [now.epochSeconds, lower, upper, limit]).map(Self.scheduleEntry)
        }
    }

    /// Forces the deadline's partial index: without statistics SQLite takes the scope's id range for
    /// the narrower one and scans the whole table (every secret, when the scope is all of them).
    static func deadlineIndex(_ column: String) -> String {
        column == "next_due_at" ? "INDEXED BY schedule_by_due" : "INDEXED BY schedule_by_reminder"
    }

    /// The earliest `column` deadline in the id range: the index in deadline order, stopping at the first row in range.
    static func earliest(_ column: String, lower: String, upper: String, _ db: Database) throws -> Double? {
        try db.fetchValue(
            Double.self, cached: "SELECT \(column) FROM schedule \(deadlineIndex(column)) WHERE \(column) IS NOT NULL AND secret_id >= ? AND secret_id < ? ORDER BY \(column) LIMIT 1",
            arguments: [lower, upper])
    }

    public func earliestDeadline(in scope: EnvironmentScope) async throws -> Date? {
        let (lower, upper) = Self.bounds(scope)
        return try await pool.readNow { db in
            let due = try Self.earliest("next_due_at", lower: lower, upper: upper, db)
            let reminder = try Self.earliest("next_reminder_at", lower: lower, upper: upper, db)
            return [due, reminder].compactMap { $0 }.min().map(Date.init(epochSeconds:))
        }
    }

    static func scheduleEntry(_ row: Row) throws -> ScheduleEntry {
        ScheduleEntry(
            secret: try SecretID(row["secret_id"]), policy: row["policy"], fingerprint: row["fingerprint"],
            nextDueAt: (row["next_due_at"] as Double?).map(Date.init(epochSeconds:)),
            nextReminderAt: (row["next_reminder_at"] as Double?).map(Date.init(epochSeconds:)),
            lastReminderAt: (row["last_reminder_at"] as Double?).map(Date.init(epochSeconds:)),
            lastFailureAt: (row["last_failure_at"] as Double?).map(Date.init(epochSeconds:)))
    }

    public func enqueueAlert(_ alert: AlertRecord) async throws {
        try await pool.writeNow { db in
            try db.execute(cached: "INSERT INTO alert_outbox (created_at, kind, secret_id, payload, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [alert.createdAt.epochSeconds, alert.kind, alert.secret?.rawValue, alert.payload, alert.createdAt.epochSeconds])
        }
    }

    public func dueAlerts(at now: Date, limit: Int) async throws -> [AlertRecord] {
        try await pool.readNow { db in
            try db.fetchRows(cached: "SELECT * FROM alert_outbox WHERE channel = 'alert' AND delivered_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                             arguments: [now.epochSeconds, limit]).map { row in
                AlertRecord(id: row["id"], createdAt: Date(epochSeconds: row["created_at"]), kind: row["kind"],
                            secret: try (row["secret_id"] as String?).map { try SecretID($0) }, payload: row["payload"], attempts: row["attempts"])
            }
        }
    }

    public func fleetEnvironments(in scope: EnvironmentScope) async throws -> [String] {
        try await pool.readNow { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT environment FROM fleet_count WHERE secrets > 0 ORDER BY environment")
                .filter { name in (try? Environment(name)).map(scope.contains(environment:)) ?? false }
        }
    }

    public func recentAlerts(of secrets: [SecretID], since: Date) async throws -> [SecretID: [AlertRecord]] {
        guard !secrets.isEmpty else { return [:] }
        return try await pool.readNow { db in
            let marks = Array(repeating: "?", count: secrets.count).joined(separator: ",")
            var found: [SecretID: [AlertRecord]] = [:]
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM alert_outbox WHERE channel = 'alert' AND created_at >= ? AND secret_id IN (\(marks)) ORDER BY id
                """, arguments: StatementArguments([since.epochSeconds] + secrets.map(\.rawValue)))
            for row in rows {
                let record = AlertRecord(id: row["id"], createdAt: Date(epochSeconds: row["created_at"]), kind: row["kind"],
                                         secret: try (row["secret_id"] as String?).map { try SecretID($0) }, payload: row["payload"], attempts: row["attempts"])
                if let secret = record.secret { found[secret, default: []].append(record) }
            }
            return found
        }
    }

    public func markAlertDelivered(_ id: Int64, at: Date) async throws {
        try await pool.writeNow { db in
            try db.execute(cached: "UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?", arguments: [at.epochSeconds, id])
        }
    }

    public func markAlertFailed(_ id: Int64, error: String, nextAttemptAt: Date) async throws {
        try await pool.writeNow { db in
            try db.execute(cached: "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                           arguments: [String(error.prefix(300)), nextAttemptAt.epochSeconds, id])
        }
    }

    public func pendingAlertCount() async throws -> Int {
        try await pool.readNow { db in try db.fetchValue(Int.self, cached: "SELECT count(*) FROM alert_outbox WHERE channel = 'alert' AND delivered_at IS NULL") ?? 0 }
    }

    public func currentVersionChanges(after position: Int64, limit: Int) async throws -> [CurrentVersionChange] {
        try await pool.readNow { db in
            try db.fetchRows(cached: """
                SELECT id, secret_id, at, operation FROM audit_event
                WHERE id > ? AND outcome = 'succeeded' AND operation IN ('rotation.finish', 'secret.rollback') AND secret_id IS NOT NULL
                ORDER BY id LIMIT ?
                """, arguments: [position, limit]).map { row in
                CurrentVersionChange(position: row["id"], secret: try SecretID(row["secret_id"]), at: Date(epochSeconds: row["at"]), operation: row["operation"])
            }
        }
    }

    public func auditEvents(after position: Int64, limit: Int) async throws -> [AuditEvent] {
        try await pool.readNow { db in
            try db.fetchRows(cached: "SELECT * FROM audit_event WHERE id > ? ORDER BY id LIMIT ?", arguments: [position, limit]).map(Self.auditEvent)
        }
    }

    public func outboxCursor(_ name: String) async throws -> Int64 {
        try await pool.readNow { db in try Int64.fetchOne(db, sql: "SELECT position FROM outbox_cursor WHERE name = ?", arguments: [name]) ?? 0 }
    }

    public func enqueueOutbox(_ records: [(record: AlertRecord, key: String)], channel: String, cursor: (name: String, from: Int64, to: Int64)?) async throws -> Bool {
        try await pool.writeNow { db in
            if let cursor {
                try db.execute(cached: "INSERT OR IGNORE INTO outbox_cursor (name, position) VALUES (?, 0)", arguments: [cursor.name])
                try db.execute(cached: "UPDATE outbox_cursor SET position = ? WHERE name = ? AND position = ?", arguments: [cursor.to, cursor.name, cursor.from])
                guard db.changesCount == 1 else { return false }
            }
            for (record, key) in records {
                try db.execute(cached: """
                    INSERT OR IGNORE INTO alert_outbox (created_at, kind, secret_id, payload, next_attempt_at, channel, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [record.createdAt.epochSeconds, record.kind, record.secret?.rawValue, record.payload, record.createdAt.epochSeconds, channel, key])
            }
            return true
        }
    }

    public func claimOutbox(_ id: Int64, at now: Date, until: Date) async throws -> Bool {
        try await pool.writeNow { db in
            try db.execute(cached: "UPDATE alert_outbox SET next_attempt_at = ? WHERE id = ? AND delivered_at IS NULL AND next_attempt_at <= ?",
                           arguments: [until.epochSeconds, id, now.epochSeconds])
            return db.changesCount == 1
        }
    }

    public func dueOutbox(channel: String, at now: Date, limit: Int) async throws -> [AlertRecord] {
        try await pool.readNow { db in
            try db.fetchRows(cached: "SELECT * FROM alert_outbox WHERE channel = ? AND delivered_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                             arguments: [channel, now.epochSeconds, limit]).map(Self.outboxRecord)
        }
    }

    public func pendingOutbox(channel: String, secret: SecretID) async throws -> [(record: AlertRecord, lastError: String?)] {
        try await pool.readNow { db in
            try db.fetchRows(cached: "SELECT * FROM alert_outbox WHERE channel = ? AND secret_id = ? AND delivered_at IS NULL ORDER BY id",
                             arguments: [channel, secret.rawValue]).map { row in (try Self.outboxRecord(row), row["last_error"]) }
        }
    }

    static func outboxRecord(_ row: Row) throws -> AlertRecord {
        AlertRecord(id: row["id"], createdAt: Date(epochSeconds: row["created_at"]), kind: row["kind"],
                    secret: try (row["secret_id"] as String?).map { try SecretID($0) }, payload: row["payload"], attempts: row["attempts"])
    }
}
