import Foundation
import PostgresNIO
import RotorCore

/// The schedule, the daemon lease and the alert outbox in PostgreSQL, as ``SchedulingStore`` asks.
extension PostgresStateStore: SchedulingStore {
    /// The id range of a scope; all ids start with "/" and "0" follows it.
    static func bounds(_ scope: EnvironmentScope) -> (String, String) { scope.idRange ?? ("/", "0") }

    public func scheduleEntries(in scope: EnvironmentScope) async throws -> [ScheduleEntry] {
        let (lower, upper) = Self.bounds(scope)
        return try await read("reading the schedule") { session in
            try await session.rows("SELECT * FROM schedule WHERE secret_id >= \(lower) AND secret_id < \(upper) ORDER BY secret_id").map(Self.scheduleEntry)
        }
    }

    public func scheduleEntry(_ id: SecretID) async throws -> ScheduleEntry? {
        try await read("reading the schedule") { session in try await session.row("SELECT * FROM schedule WHERE secret_id = \(id.rawValue)").map(Self.scheduleEntry) }
    }

    /// A pending request (`rotor rotate --queue`) keeps the secret due: a re-plan meanwhile (a policy
    /// change) never postpones it.
    public func saveScheduleEntry(_ entry: ScheduleEntry) async throws {
        try await write("saving the schedule") { session in
            try await session.run("""
                INSERT INTO schedule (secret_id, policy, fingerprint, next_due_at, next_reminder_at, last_reminder_at, last_failure_at)
                VALUES (\(entry.secret.rawValue), \(entry.policy), \(entry.fingerprint), \(entry.nextDueAt?.timeIntervalSince1970),
                        \(entry.nextReminderAt?.timeIntervalSince1970), \(entry.lastReminderAt?.timeIntervalSince1970), \(entry.lastFailureAt?.timeIntervalSince1970))
                ON CONFLICT (secret_id) DO UPDATE SET policy = excluded.policy, fingerprint = excluded.fingerprint,
                    next_due_at = CASE WHEN schedule.requested_at IS NULL THEN excluded.next_due_at ELSE least(excluded.next_due_at, schedule.next_due_at) END,
                    next_reminder_at = excluded.next_reminder_at, last_reminder_at = excluded.last_reminder_at, last_failure_at = excluded.last_failure_at
                """)
        }
        // Due now (a policy made it due, a failure's retry is up): whichever daemon is free takes it.
        if let due = entry.nextDueAt, due <= Date() { await announceDueWork() }
    }

    public func removeScheduleEntry(_ id: SecretID) async throws {
        try await write("saving the schedule") { session in try await session.run("DELETE FROM schedule WHERE secret_id = \(id.rawValue)") }
    }

    public func dueRotations(at now: Date, limit: Int, in scope: EnvironmentScope) async throws -> [ScheduleEntry] {
        try await due(.rotation, at: now, limit: limit, in: scope)
    }

    public func dueReminders(at now: Date, limit: Int, in scope: EnvironmentScope) async throws -> [ScheduleEntry] {
        try await due(.reminder, at: now, limit: limit, in: scope)
    }

    /// A schedule deadline column (a fixed name, never input).
    enum Deadline: String { case rotation = "next_due_at", reminder = "next_reminder_at" }

    /// Entries whose `deadline` has passed, earliest first (the column's partial index).
    private func due(_ deadline: Deadline, at now: Date, limit: Int, in scope: EnvironmentScope) async throws -> [ScheduleEntry] {
        let (lower, upper) = Self.bounds(scope)
        let column = deadline.rawValue
        return try await read("reading the schedule") { session in
            var query = PostgresQuery(unsafeSQL: """
                SELECT * FROM schedule WHERE \(column) IS NOT NULL AND \(column) <= $1 AND secret_id >= $2 AND secret_id < $3 ORDER BY \(column) LIMIT $4
                """)
            query.binds.append(now.timeIntervalSince1970)
            query.binds.append(lower)
            query.binds.append(upper)
            query.binds.append(limit)
            return try await session.rows(query).map(Self.scheduleEntry)
        }
    }

    public func earliestDeadline(in scope: EnvironmentScope) async throws -> Date? {
        let (lower, upper) = Self.bounds(scope)
        return try await read("reading the schedule") { session in
            try await session.row("""
                SELECT least((SELECT min(next_due_at) FROM schedule WHERE secret_id >= \(lower) AND secret_id < \(upper)),
                             (SELECT min(next_reminder_at) FROM schedule WHERE secret_id >= \(lower) AND secret_id < \(upper))) AS at
                """).flatMap { try Self.date($0, "at") }
        }
    }

    public func fleetSummary(in scope: EnvironmentScope, now: Date) async throws -> FleetSummary {
        let (lower, upper) = Self.bounds(scope)
        let environment: String? = if case .only(let environment) = scope { environment.name } else { nil }
        return try await read("reading the fleet") { session in
            var counts: [SecretStatus: Int] = [:]
            for row in try await session.rows("""
                SELECT status, sum(secrets)::bigint AS secrets FROM fleet_count WHERE \(environment)::text IS NULL OR environment = \(environment) GROUP BY status
                """) {
                if let status = SecretStatus(rawValue: try row.value("status")) { counts[status] = Int(try row.value("secrets", as: Int64.self)) }
            }
            let figures = try await session.row("""
                SELECT (SELECT count(*) FROM schedule WHERE next_due_at <= \(now.timeIntervalSince1970) AND secret_id >= \(lower) AND secret_id < \(upper)) AS overdue,
                       (SELECT min(next_due_at) FROM schedule WHERE secret_id >= \(lower) AND secret_id < \(upper)) AS next,
                       (SELECT min(last_rotated_at) FROM managed_secret WHERE \(environment)::text IS NULL OR environment = \(environment)) AS oldest
                """)!
            return FleetSummary(secrets: counts, overdue: Int(try figures.value("overdue", as: Int64.self)), nextDeadline: try Self.date(figures, "next"),
                                oldestLastSuccess: try Self.date(figures, "oldest"))
        }
    }

    public func configSequence() async throws -> Int64 {
        try await read("reading the change sequence") { session in
            let row = try await session.row("SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS value FROM config_sequence")
            return try row?.value("value") ?? 0
        }
    }

    public func managedSecrets(in scope: EnvironmentScope, changedAfter sequence: Int64) async throws -> [ManagedSecret] {
        let (lower, upper) = Self.bounds(scope)
        return try await read("reading changed secrets") { session in
            try await session.rows("""
                SELECT * FROM managed_secret WHERE config_seq > \(sequence) AND id >= \(lower) AND id < \(upper) ORDER BY config_seq
                """).map(managedSecret)
        }
    }

    /// The comparison with each id's policy runs here, in Swift (PostgreSQL cannot call the glob
    /// rules); rows come unverified, as the protocol allows.
    public func reconcileCandidates(in scope: EnvironmentScope, expected: ReconcileExpectation) async throws -> ReconcileCandidates {
        let (lower, upper) = Self.bounds(scope)
        let encoded = expected.policies.map { $0.options.storedJSON }
        return try await read("reading the fleet for a reconcile pass") { session in
            var configurations: [ManagedConfiguration] = [], withPolicy: Set<String> = []
            for row in try await session.rows("SELECT id, rotator, options_json FROM managed_secret WHERE id >= \(lower) AND id < \(upper)") {
                let id: String = try row.value("id"), rotator: String = try row.value("rotator"), options: String = try row.value("options_json")
                guard let index = expected.policyIndex(id) else { continue }
                if index >= 0 { withPolicy.insert(id) }
                if index < 0 || rotator != expected.policies[index].rotator.rawValue || options != encoded[index] {
                    configurations.append(ManagedConfiguration(id: id, rotator: RotatorKind(rotator), options: RotatorOptions(storedJSON: options)))
                }
            }
            var schedules: [String] = []
            var scheduled: Set<String> = []
            for row in try await session.rows("SELECT secret_id, policy, fingerprint FROM schedule WHERE secret_id >= \(lower) AND secret_id < \(upper)") {
                let id: String = try row.value("secret_id")
                scheduled.insert(id)
                guard let index = expected.policyIndex(id), index >= 0 else { schedules.append(id); continue }
                let policy = expected.policies[index]
                if try row.value("policy", as: String.self) != policy.name || row.value("fingerprint", as: String.self) != policy.fingerprint { schedules.append(id) }
            }
            schedules += withPolicy.subtracting(scheduled)
            return ReconcileCandidates(configurations: configurations.sorted { $0.id < $1.id }, schedules: schedules.sorted())
        }
    }

    public func managedIDs(among ids: [SecretID]) async throws -> Set<SecretID> {
        guard !ids.isEmpty else { return [] }
        return try await read("reading managed ids") { session in
            Set(try await session.rows("SELECT id FROM managed_secret WHERE id = ANY(\(ids.map(\.rawValue)))").map { try SecretID($0.value("id")) })
        }
    }

    public func secretPage(in scope: EnvironmentScope, after: SecretID?, limit: Int) async throws -> [(secret: ManagedSecret, entry: ScheduleEntry?)] {
        let (lower, upper) = Self.bounds(scope)
        return try await read("reading a page of secrets") { session in
            let secrets = try await session.rows("""
                SELECT * FROM managed_secret WHERE id > \(after?.rawValue ?? "") AND id >= \(lower) AND id < \(upper) ORDER BY id LIMIT \(limit)
                """).map(managedSecret)
            guard !secrets.isEmpty else { return [] }
            let entries = try await session.rows("SELECT * FROM schedule WHERE secret_id = ANY(\(secrets.map(\.id.rawValue)))").map(Self.scheduleEntry)
            let byID = Dictionary(entries.map { ($0.secret, $0) }, uniquingKeysWith: { first, _ in first })
            return secrets.map { ($0, byID[$0.id]) }
        }
    }

    public func acquireLease(_ name: String, owner: String, ttl: TimeInterval, now: Date) async throws -> Bool {
        try await write("taking the daemon lease") { session in
            try await session.row("""
                INSERT INTO lease AS l (name, owner, acquired_at, expires_at) VALUES (\(name), \(owner), \(now.timeIntervalSince1970), \(now.addingTimeInterval(ttl).timeIntervalSince1970))
                ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
                    acquired_at = CASE WHEN l.owner = excluded.owner THEN l.acquired_at ELSE excluded.acquired_at END
                WHERE l.owner = excluded.owner OR l.expires_at <= \(now.timeIntervalSince1970)
                RETURNING name
                """) != nil
        }
    }

    public func releaseLease(_ name: String, owner: String) async throws {
        try await write("releasing the daemon lease") { session in try await session.run("DELETE FROM lease WHERE name = \(name) AND owner = \(owner)") }
    }

    public func leaseHolder(_ name: String, now: Date) async throws -> (owner: String, expiresAt: Date)? {
        try await read("reading the daemon lease") { session in
            guard let row = try await session.row("SELECT owner, expires_at FROM lease WHERE name = \(name) AND expires_at > \(now.timeIntervalSince1970)") else { return nil }
            return (try row.value("owner"), Date(timeIntervalSince1970: try row.value("expires_at")))
        }
    }

    static func scheduleEntry(_ row: PostgresRandomAccessRow) throws -> ScheduleEntry {
        var entry = ScheduleEntry(
            secret: try SecretID(try row.value("secret_id")), policy: try row.value("policy"), fingerprint: try row.value("fingerprint"),
            nextDueAt: try date(row, "next_due_at"), nextReminderAt: try date(row, "next_reminder_at"),
            lastReminderAt: try date(row, "last_reminder_at"), lastFailureAt: try date(row, "last_failure_at"))
        entry.requestedAt = try date(row, "requested_at")
        return entry
    }
}
