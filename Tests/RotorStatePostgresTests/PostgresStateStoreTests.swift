import Foundation
import Logging
import PostgresNIO
import Testing
import RotorCore
import RotorStorage
import RotorTestSupport
@testable import RotorStatePostgres

/// The PostgreSQL state store's own rules, against the server `make test` starts: the state URL, the
/// migrations, the rotator-config MAC, the append-only audit log, reconnection, and no secret value in
/// any table or in the server's statement log. (The engine's behaviour on it runs in RotorStorageTests
/// under the `embedded+postgres` backend.)
@Suite struct PostgresStateStoreTests {
    static let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    static func settings(schema: String = PostgresTestServer.uniqueSchema(), caFile: String?? = nil, poolSize: Int = 4) throws -> PostgresStateSettings {
        let server = try PostgresTestServer.require()
        return try PostgresStateSettings(
            host: server.host, port: server.port, username: server.user, password: SecretValue(string: server.password), database: "postgres",
            schema: schema, caFile: caFile ?? server.caFile, poolSize: poolSize)
    }

    /// An embedded store in a fresh directory (its master key authenticates the state's rotator configs).
    static func embeddedStore() throws -> EmbeddedSecretStore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try EmbeddedSecretStore(
            url: directory.appendingPathComponent("store.sqlite"),
            keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")))
    }

    static func open(_ settings: PostgresStateSettings, authenticator: RotatorConfigAuthenticator? = nil) async throws -> PostgresStateStore {
        try await PostgresStateStore.open(settings, authenticator: authenticator, logger: quiet)
    }

    @Test func theStateURLIsParsedAndItsPasswordNeverComesFromIt() throws {
        let settings = try PostgresStateSettings(
            url: "postgres://rotor@db.internal:6432/fleet?schema=rotor_prod&sslrootcert=/etc/rotor/ca.pem", environment: ["ROTOR_STATE_PASSWORD": "CANARY-pw"])
        #expect(settings.host == "db.internal" && settings.port == 6432 && settings.username == "rotor" && settings.database == "fleet")
        #expect(settings.schema == "rotor_prod" && settings.tls == .verifyFull && settings.caFile == "/etc/rotor/ca.pem" && settings.weakness == nil)
        for text in ["\(settings)", String(reflecting: settings), { var out = ""; dump(settings, to: &out); return out }()] {
            #expect(!text.contains("CANARY"), "\(text)")
        }
        let weak = try PostgresStateSettings(url: "postgresql://rotor@h/db?sslmode=require", environment: ["ROTOR_STATE_PASSWORD": "x"])
        #expect(weak.tls == .require && weak.weakness != nil && weak.schema == "rotor")
    }

    @Test(arguments: [
        ("postgres://rotor:CANARY@h/db", "carries a password"),
        ("mysql://rotor@h/db", "is not postgres://"),
        ("postgres://h/db", "names no user"),
        ("postgres://rotor@h/", "names no database"),
        ("postgres://rotor@h/db?sslmode=allow", "sslmode 'allow'"),
        ("postgres://rotor@h/db?schema=Robert%27);DROP", "is not a plain name"),
        ("postgres://rotor@h/db?options=-c%20x", "parameter 'options' is unknown"),
        ("postgres://rotor@h/db?pool=0", "pool must be 1 to 64"),
        ("postgres://rotor@h/db?schema=public", "shared with other roles"),
        ("postgres://rotor@h/db?schema=pg_catalog", "shared with other roles"),
    ])
    func aBadStateURLIsRefusedWithoutEchoingAPassword(_ url: String, _ problem: String) {
        #expect { _ = try PostgresStateSettings(url: url, environment: ["ROTOR_STATE_PASSWORD": "x"]) } throws: { error in
            let text = "\(error)"
            return (error as? RotorError)?.code == .invalidInput && text.contains(problem) && !text.contains("CANARY")
        }
    }

    @Test func thePasswordComesFromTheEnvironmentOrAFile() throws {
        #expect { _ = try PostgresStateSettings(url: "postgres://rotor@h/db", environment: [:]) } throws: {
            "\($0)".contains("ROTOR_STATE_PASSWORD")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-pw-\(UUID().uuidString)")
        try "from-file\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        #expect { _ = try PostgresStateSettings(url: "postgres://rotor@h/db", environment: ["ROTOR_STATE_PASSWORD_FILE": file.path]) } throws: {
            "\($0)".contains("readable by other users")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        let settings = try PostgresStateSettings(url: "postgres://rotor@h/db", environment: ["ROTOR_STATE_PASSWORD_FILE": file.path])
        #expect(settings.password.exposedString == "from-file")
    }

    @Test(.enabled(if: PostgresTestServer.enabled))
    func daemonsStartingTogetherMigrateOnceAndANewerSchemaIsRefused() async throws {
        let settings = try Self.settings()
        let stores = try await withThrowingTaskGroup(of: PostgresStateStore.self) { group in
            for _ in 0..<4 { group.addTask { try await Self.open(settings) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let names = try await stores[0].write("test") { session in
            try await session.rows("SELECT name FROM migrations ORDER BY name").map { try $0.value("name", as: String.self) }
        }
        #expect(names == StateMigration.all.map(\.name).sorted())
        try await stores[0].write("test") { session in try await session.run("INSERT INTO migrations (name) VALUES ('v99-from-the-future')") }
        for store in stores { await store.close() }
        await #expect { _ = try await Self.open(settings) } throws: { error in
            (error as? RotorError)?.code == .storeCorrupted && "\(error)".contains("v99-from-the-future") && "\(error)".contains("newer rotor")
        }
    }

    @Test(.enabled(if: PostgresTestServer.enabled))
    func aRotatorEditedInTheDatabaseWithoutTheMasterKeyIsRefused() async throws {
        let embedded = try Self.embeddedStore()
        let state = try await Self.open(try Self.settings(), authenticator: embedded.rotatorConfigAuthenticator)
        defer { Task { await state.close() } }
        let id = try SecretID("/prod/payments/db-credentials/ledger")
        let secret = ManagedSecret(id: id, rotator: "random-password", options: RotatorOptions(["length": "32"]), status: .active, createdAt: Date())
        try await state.register(secret, audit: AuditEvent(at: Date(), actor: "test", secret: id, operation: "manage", outcome: "ok"))
        #expect(try await state.managedSecret(id)?.options["length"] == "32")
        try await state.write("test") { session in
            try await session.run("UPDATE managed_secret SET options_json = '{\"length\":\"4\"}' WHERE id = \(id.rawValue)")
        }
        await #expect { _ = try await state.managedSecret(id) } throws: { error in
            (error as? RotorError)?.code == .storeCorrupted && "\(error)".contains("integrity check")
        }
    }

    @Test(.enabled(if: PostgresTestServer.enabled))
    func theAuditLogIsAppendOnly() async throws {
        let state = try await Self.open(try Self.settings())
        defer { Task { await state.close() } }
        try await state.appendAudit(AuditEvent(at: Date(), actor: "test", secret: nil, operation: "manage", outcome: "ok"))
        for statement in ["UPDATE audit_event SET outcome = 'forged'", "DELETE FROM audit_event", "TRUNCATE audit_event"] {
            await #expect(throws: (any Error).self, "\(statement)") {
                try await state.write("test") { session in try await session.run(PostgresQuery(unsafeSQL: statement)) }
            }
        }
        #expect(try await state.auditEvents(of: nil, limit: 10).map(\.outcome) == ["ok"])
    }

    /// The server ends the store's connection (as a restart does): the next call opens a new one.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func theStoreReconnectsAfterItsConnectionWasEnded() async throws {
        let settings = try Self.settings(poolSize: 1)
        let state = try await Self.open(settings)
        let admin = try await Self.open(try Self.settings())
        defer { Task { await state.close(); await admin.close() } }
        let id = try SecretID("/prod/payments/api-key/reconnect")
        _ = try await state.acquireSecretLock(id, owner: "A", ttl: 60, now: Date())
        let pid = try await state.write("test") { session in try await session.row("SELECT pg_backend_pid() AS pid")!.value("pid", as: Int32.self) }
        try await admin.write("test") { session in try await session.run("SELECT pg_terminate_backend(\(pid))") }
        #expect(try await state.secretLockHolder(id, now: Date()) == "A")
        let again = try await state.write("test") { session in try await session.row("SELECT pg_backend_pid() AS pid")!.value("pid", as: Int32.self) }
        #expect(again != pid)
    }

    @Test(.enabled(if: PostgresTestServer.enabled))
    func aServerWhoseCertificateIsNotTrustedGetsNoPassword() async throws {
        // The test server's certificate is self-signed: without its CA, verify-full refuses it.
        await #expect { _ = try await Self.open(try Self.settings(caFile: .some(nil))) } throws: { error in
            (error as? RotorError)?.code == .insecurePeer && "\(error)".contains("no password was sent")
        }
    }
}
