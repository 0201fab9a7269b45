import Foundation
import Logging
import PostgresNIO
import Testing
import RotorCore
import RotorRotators
import RotorStorage
import RotorTestSupport
@testable import RotorStatePostgres

/// No secret value reaches the PostgreSQL state: not in any table of rotor's schema, not in the
/// server's statement log (the test server logs every statement with its parameters).
@Suite struct StateHygieneTests {
    @Test(.enabled(if: PostgresTestServer.enabled))
    func noValueReachesAnyTableOrTheServersStatementLog() async throws {
        let store = try PostgresStateStoreTests.embeddedStore()
        let schema = PostgresTestServer.uniqueSchema()
        let state = try await PostgresStateStoreTests.open(try PostgresStateStoreTests.settings(schema: schema), authenticator: store.rotatorConfigAuthenticator)
        defer { Task { await state.close() } }
        let engine = RotationEngine(store: store, state: state, rotators: .builtIn, configuration: EngineConfiguration(actor: "test"),
                                    logger: PostgresStateStoreTests.quiet)
        let id = try SecretID("/prod/payments/api-key/canary")
        let canary = "CANARY-\(UUID().uuidString)"
        try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions(), initialValue: SecretValue(string: canary))
        #expect(try await engine.rotate(id).succeeded)
        let rotated = try #require(try await store.getSecretValue(id, .current).value.exposedString)
        #expect(rotated != canary)

        let tables = try await state.write("test") { session in
            try await session.rows("SELECT tablename FROM pg_tables WHERE schemaname = \(schema) ORDER BY 1").map { try $0.value("tablename", as: String.self) }
        }
        #expect(tables.contains("rotation_step") && tables.contains("audit_event"))
        for table in tables {
            let text = try await state.write("test") { session in
                try await session.row(PostgresQuery(unsafeSQL: "SELECT coalesce(string_agg(t::text, E'\\n'), '') AS text FROM \"\(table)\" t"))!.value("text", as: String.self)
            }
            #expect(!text.contains(canary) && !text.contains(rotated), "a value in table \(table)")
        }
        let log = try PostgresTestServer.require().log
        if !log.isEmpty {
            let logged = try String(contentsOfFile: log, encoding: .utf8)
            #expect(logged.contains(schema), "the statement log is read")
            #expect(!logged.contains(canary) && !logged.contains(rotated), "a value in the server's statement log")
        }
    }
}
