import Foundation
import Logging
import Testing
import RotorCore
import RotorRotators
import RotorStorage
import RotorTestSupport
@testable import RotorStatePostgres

/// `rotor state migrate`: an installation's SQLite state copied into PostgreSQL reads back the same
/// through every call, its rotator MACs still verify, new rows follow the copied ids, and a rerun
/// is refused (or, when asked, adds nothing).
@Suite struct StateCopyTests {
    @Test(.enabled(if: PostgresTestServer.enabled))
    func aCopiedInstallationReadsBackTheSameAndARerunAddsNothing() async throws {
        let store = try PostgresStateStoreTests.embeddedStore()
        let sqlite = try SQLiteStateStore(url: store.url.deletingLastPathComponent().appendingPathComponent("state.sqlite"), authenticator: store.rotatorConfigAuthenticator)
        let engine = RotationEngine(store: store, state: sqlite, rotators: .builtIn, configuration: EngineConfiguration(actor: "test"),
                                    logger: PostgresStateStoreTests.quiet)
        let ids = try ["/prod/payments/api-key/a", "/prod/payments/api-key/b", "/staging/search/api-key/c"].map { try SecretID($0) }
        for id in ids {
            _ = try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions(["length": "24"]), initialValue: SecretValue(string: "initial"))
            #expect(try await engine.rotate(id).succeeded)
        }
        #expect(try await engine.rotate(ids[0]).succeeded)
        try await sqlite.saveScheduleEntry(ScheduleEntry(secret: ids[1], policy: "p", fingerprint: "f", nextDueAt: Date(timeIntervalSince1970: 1_900_000_000)))
        try await sqlite.enqueueAlert(AlertRecord(createdAt: Date(), kind: "overdue", secret: ids[2], payload: "{}"))

        let schema = PostgresTestServer.uniqueSchema()
        let postgres = try await PostgresStateStoreTests.open(try PostgresStateStoreTests.settings(schema: schema), authenticator: store.rotatorConfigAuthenticator)
        defer { Task { await postgres.close() } }
        let results = try await SQLiteStateCopy(from: sqlite, to: postgres).run()
        let byTable = Dictionary(uniqueKeysWithValues: results.map { ($0.table, $0) })
        #expect(byTable["managed_secret"]?.added == 3 && byTable["rotation"]?.added == 4 && byTable["schedule"]?.added == 1)
        // The target's migration made the reload hooks' cursor; the copy moves it to the source's position.
        #expect(results.filter { $0.table != "outbox_cursor" }.allSatisfy { $0.read == $0.added }, "\(results)")
        #expect(try await postgres.outboxCursor("reload-hooks") == (try await sqlite.outboxCursor("reload-hooks")))

        // Every read answers the same (the MACs verify: managedSecret would throw otherwise).
        #expect(try await postgres.managedSecrets(in: .all) == (try await sqlite.managedSecrets(in: .all)))
        for id in ids {
            #expect(try await postgres.rotations(of: id, limit: 10) == (try await sqlite.rotations(of: id, limit: 10)))
            #expect(try await postgres.auditEvents(of: id, limit: 100) == (try await sqlite.auditEvents(of: id, limit: 100)))
            #expect(try await postgres.scheduleEntry(id) == (try await sqlite.scheduleEntry(id)))
        }
        #expect(try await postgres.dueAlerts(at: Date().addingTimeInterval(1), limit: 10).map(\.kind) == ["overdue"])
        #expect(try await postgres.fleetSummary(in: .all, now: Date()).secrets == (try await sqlite.fleetSummary(in: .all, now: Date())).secrets)

        // New rows take ids after the copied ones; the rotations continue on PostgreSQL.
        let lastAudit = try await postgres.auditEvents(of: nil, limit: 1).last?.position ?? 0
        let onPostgres = RotationEngine(store: store, state: postgres, rotators: .builtIn, configuration: EngineConfiguration(actor: "test"),
                                        logger: PostgresStateStoreTests.quiet)
        #expect(try await onPostgres.rotate(ids[1]).succeeded)
        #expect((try await postgres.auditEvents(of: nil, limit: 1).last?.position ?? 0) > lastAudit)

        await #expect { _ = try await SQLiteStateCopy(from: sqlite, to: postgres).run() } throws: { error in
            (error as? RotorError)?.code == .invalidRequest && "\(error)".contains("nothing was copied")
        }
        let again = try await SQLiteStateCopy(from: sqlite, to: postgres).run(intoNonEmpty: true)
        #expect(again.allSatisfy { $0.added == 0 }, "\(again)")

        // Both installations wrote history since the copy: the ids overlap, and nothing is copied.
        #expect(try await engine.rotate(ids[2]).succeeded)
        let before = try await postgres.auditEvents(of: nil, limit: 1000).count
        await #expect { _ = try await SQLiteStateCopy(from: sqlite, to: postgres).run(intoNonEmpty: true) } throws: { error in
            (error as? RotorError)?.code == .invalidRequest && "\(error)".contains("ids the target gave to other rows")
        }
        #expect(try await postgres.auditEvents(of: nil, limit: 1000).count == before)
    }
}
