import Foundation
import Testing
import RotorCore
import RotorStorage
import RotorTestSupport
@testable import RotorStatePostgres

/// The scheduling, outbox and access-log half of the state runs the same script on SQLite and on
/// PostgreSQL, and every answer must be the same: one behaviour, two back ends.
@Suite struct SchedulingParityTests {
    typealias Store = any RotationStateStore & SchedulingStore & AccessLogStore

    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func ids() throws -> [SecretID] {
        try ["/prod/a/api-key/one", "/prod/b/api-key/two", "/staging/a/api-key/three", "/prod/c/db-credentials/four", "/prod-eu/a/api-key/five"]
            .map { try SecretID($0) }
    }

    /// Runs the script against `store`, returning every answer as text.
    static func script(_ store: Store) async throws -> [String] {
        var out: [String] = []
        func note(_ label: String, _ value: Any) { out.append("\(label): \(value)") }
        func note(_ label: String, _ fleet: FleetSummary) {
            let counts = fleet.secrets.map { "\($0.key.rawValue)=\($0.value)" }.sorted()
            note(label, "\(counts) overdue \(fleet.overdue) next \(fleet.nextDeadline as Any) oldest \(fleet.oldestLastSuccess as Any)")
        }
        let ids = try ids()
        for (index, id) in ids.enumerated() {
            let secret = ManagedSecret(id: id, rotator: index == 3 ? "manual" : "random-password", options: RotatorOptions(["length": "\(20 + index)"]),
                                       createdAt: t0)
            try await store.register(secret, audit: AuditEvent(at: t0, actor: "test", secret: id, operation: "secret.manage", outcome: "succeeded"))
        }
        note("sequence after registering", try await store.configSequence())
        for (index, id) in ids.enumerated() where index != 2 {
            try await store.saveScheduleEntry(ScheduleEntry(
                secret: id, policy: "p\(index % 2)", fingerprint: "f\(index)", nextDueAt: t0.addingTimeInterval(Double(index) * 100),
                nextReminderAt: index == 1 ? t0.addingTimeInterval(50) : nil))
        }
        let prod = EnvironmentScope.only(try Environment("prod"))
        for scope in [EnvironmentScope.all, prod] {
            note("entries \(scope)", try await store.scheduleEntries(in: scope).map(\.secret))
            note("due \(scope)", try await store.dueRotations(at: t0.addingTimeInterval(250), limit: 10, in: scope).map(\.secret))
            note("reminders \(scope)", try await store.dueReminders(at: t0.addingTimeInterval(250), limit: 10, in: scope).map(\.secret))
            note("earliest \(scope)", try await store.earliestDeadline(in: scope) as Any)
            note("fleet \(scope)", try await store.fleetSummary(in: scope, now: t0.addingTimeInterval(150)))
            note("environments \(scope)", try await store.fleetEnvironments(in: scope))
            note("page \(scope)", try await store.secretPage(in: scope, after: ids[0], limit: 2).map { "\($0.secret.id) \($0.entry?.policy ?? "-")" })
        }
        let sequence = try await store.configSequence()
        try await store.updateRotator(ids[1], rotator: "random-password", options: RotatorOptions(["length": "40"]))
        note("changed", try await store.managedSecrets(in: .all, changedAfter: sequence).map(\.id))
        try await store.updateHealth(ids[0], SecretHealthChange(status: .active, failedRuns: 0, lastRotatedAt: t0.addingTimeInterval(5)),
                                     audit: AuditEvent(at: t0, actor: "test", secret: ids[0], operation: "rotation.finish", outcome: "succeeded"))
        note("fleet after health", try await store.fleetSummary(in: .all, now: t0))
        let expectation = ReconcileExpectation(
            policies: [.init(name: "p0", fingerprint: "f0", rotator: "random-password", options: RotatorOptions(["length": "20"])),
                       .init(name: "p1", fingerprint: "f1", rotator: "random-password", options: RotatorOptions(["length": "40"]))],
            policyIndex: { id in id.hasPrefix("/prod/a") ? 0 : id.hasPrefix("/prod/b") ? 1 : id.hasPrefix("/staging") ? 1 : id.hasPrefix("/prod-eu") ? -1 : nil })
        let candidates = try await store.reconcileCandidates(in: .all, expected: expectation)
        note("reconcile configurations", candidates.configurations.map { "\($0.id) \($0.rotator) \($0.options.storedJSON)" })
        note("reconcile schedules", candidates.schedules)
        note("managed among", try await store.managedIDs(among: [ids[0], try SecretID("/prod/x/api-key/unknown")]).sorted { $0.rawValue < $1.rawValue })
        try await store.removeScheduleEntry(ids[4])
        note("entry removed", try await store.scheduleEntry(ids[4]) as Any)

        note("lease A", try await store.acquireLease("daemon", owner: "A", ttl: 30, now: t0))
        note("lease B", try await store.acquireLease("daemon", owner: "B", ttl: 30, now: t0.addingTimeInterval(10)))
        note("lease B later", try await store.acquireLease("daemon", owner: "B", ttl: 30, now: t0.addingTimeInterval(31)))
        note("holder", try await store.leaseHolder("daemon", now: t0.addingTimeInterval(32)).map { "\($0.owner) \($0.expiresAt)" } as Any)
        try await store.releaseLease("daemon", owner: "B")
        note("holder released", try await store.leaseHolder("daemon", now: t0.addingTimeInterval(32)).map(\.owner) as Any)

        try await store.enqueueAlert(AlertRecord(createdAt: t0, kind: "rotation-failed", secret: ids[0], payload: "{\"a\":1}"))
        try await store.enqueueAlert(AlertRecord(createdAt: t0.addingTimeInterval(1), kind: "overdue", secret: ids[1], payload: "{}"))
        let due = try await store.dueAlerts(at: t0.addingTimeInterval(5), limit: 10)
        note("alerts", due.map { "\($0.kind) \($0.secret.map(String.init(describing:)) ?? "-") \($0.attempts)" })
        try await store.markAlertFailed(due[0].id, error: "timeout", nextAttemptAt: t0.addingTimeInterval(60))
        try await store.markAlertDelivered(due[1].id, at: t0.addingTimeInterval(6))
        note("pending alerts", try await store.pendingAlertCount())
        note("recent", try await store.recentAlerts(of: [ids[0], ids[1]], since: t0).mapValues { $0.map(\.kind) }.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key) \($0.value)" })
        let changes = try await store.currentVersionChanges(after: 0, limit: 10)
        note("current changes", changes.map { "\($0.secret) \($0.operation)" })
        let cursor = try await store.outboxCursor("reload-hooks")
        let record = AlertRecord(createdAt: t0, kind: "reload", secret: ids[0], payload: "{}")
        note("enqueue", try await store.enqueueOutbox([(record, "k1"), (record, "k1")], channel: "reload", cursor: ("reload-hooks", cursor, cursor + 1)))
        note("enqueue stale cursor", try await store.enqueueOutbox([(record, "k2")], channel: "reload", cursor: ("reload-hooks", cursor, cursor + 2)))
        let queued = try await store.dueOutbox(channel: "reload", at: t0.addingTimeInterval(1), limit: 10)
        note("queued", queued.map(\.kind))
        note("claim", try await store.claimOutbox(queued[0].id, at: t0.addingTimeInterval(1), until: t0.addingTimeInterval(100)))
        note("claim again", try await store.claimOutbox(queued[0].id, at: t0.addingTimeInterval(1), until: t0.addingTimeInterval(100)))
        note("pending outbox", try await store.pendingOutbox(channel: "reload", secret: ids[0]).map { "\($0.record.kind) \($0.lastError ?? "-")" })
        note("audit after", try await store.auditEvents(after: 2, limit: 3).map { "\($0.operation) \($0.secret.map(String.init(describing:)) ?? "-")" })

        let report = AccessReport(secret: ids[0], service: "billing", environment: "prod", host: "h1", reads: 3, denied: 1, first: t0, last: t0.addingTimeInterval(9), key: "r1")
        note("recorded", try await store.recordAccess([report, report], prunedBefore: t0.addingTimeInterval(-100)).count)
        note("denied", try await store.deniedReads(of: ids[0], since: t0))
        note("last access", try await store.lastAccess(of: [ids[0], ids[1]]).map { "\($0.key) \($0.value.reader) \($0.value.at)" }.sorted())
        return out
    }

    @Test(.enabled(if: PostgresTestServer.enabled))
    func sqliteAndPostgresAnswerEveryCallAlike() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let sqlite = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .normal)
        let postgres = try await PostgresStateStoreTests.open(try PostgresStateStoreTests.settings())
        defer { Task { await postgres.close() } }
        let expected = try await Self.script(sqlite)
        let actual = try await Self.script(postgres)
        #expect(actual.count == expected.count)
        for (line, (want, got)) in zip(expected, actual).enumerated() {
            #expect(got == want, "answer \(line) differs")
        }
    }
}
