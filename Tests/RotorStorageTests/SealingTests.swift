import Foundation
import GRDB
import Testing
import RotorCore
import RotorRotators
@testable import RotorStorage

/// The MACs over what the embedded store and the state database keep unencrypted (labels, rotator
/// options) are added once to a store from before they existed, and only to such a store: whether
/// it is one is said by its key-check record, which only the master key can write.
@Suite struct SealingTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-sealing-\(UUID().uuidString)")
    let id = try! SecretID("/prod/shop/api-key/vendor")
    var key: MasterKeySource { .environmentOrFile(environment: [MasterKeySource.environmentVariable: Self.key], keyFile: directory.appendingPathComponent("none")) }
    static let key = MasterKey.generate().base64

    /// Opens both files the way the CLI and the daemon do.
    func open() throws -> (EmbeddedSecretStore, SQLiteStateStore) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try EmbeddedSecretStore(url: directory.appendingPathComponent("store.sqlite"), keySource: key)
        let state = try SQLiteStateStore(
            url: directory.appendingPathComponent("state.sqlite"), authenticator: store.rotatorConfigAuthenticator,
            sealingUnsealedRows: store.sealsLegacyRows)
        try store.finishSealingLegacyRows()
        return (store, state)
    }

    func edit(_ file: String, _ sql: String) throws {
        let queue = try DatabaseQueue(path: directory.appendingPathComponent(file).path)
        try queue.write { db in try db.execute(sql: sql) }
        try queue.close()
    }

    func seed() async throws {
        let (store, state) = try open()
        let engine = RotationEngine(store: store, state: state, rotators: .builtIn)
        _ = try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions([:]), initialValue: SecretValue(string: "v1"))
        try store.close()
    }

    @Test func aStoreFromBeforeTheMACsIsSealedOnceAndThenRefusesUnsealedRows() async throws {
        try await seed()
        // What a store and state database written before the MACs look like.
        let legacy = try ValueSealer(key.load(mayCreate: false)).makeKeyCheck(.legacy)
        let queue = try DatabaseQueue(path: directory.appendingPathComponent("store.sqlite").path)
        try await queue.write { db in
            try db.execute(sql: "UPDATE store_meta SET value = ? WHERE key = 'key_check'; UPDATE secret SET labels_mac = NULL", arguments: [legacy])
        }
        try queue.close()
        try edit("state.sqlite", "UPDATE managed_secret SET config_mac = NULL")

        let (store, state) = try open()
        #expect(try await state.managedSecret(id)?.rotator == "random-password")
        #expect(try await store.describeSecret(id).holder(of: .current) != nil)
        try store.close()

        try edit("store.sqlite", "UPDATE secret SET labels_mac = NULL")
        try edit("state.sqlite", "UPDATE managed_secret SET config_mac = NULL")
        let (again, reopened) = try open()
        await #expect(throws: RotorError.self) { try await reopened.managedSecret(id) }
        await #expect(throws: RotorError.self) { try await again.describeSecret(id) }
    }

    /// Dropping the MAC column and the migration's record makes the next open add the column again,
    /// empty; that must not seal the edited rows as they are.
    @Test func removingTheMigrationRecordDoesNotGetEditedRowsSealed() async throws {
        try await seed()
        try edit("state.sqlite", """
            UPDATE managed_secret SET options_json = '{"length":"8"}';
            ALTER TABLE managed_secret DROP COLUMN config_mac;
            DELETE FROM grdb_migrations WHERE identifier = 'v4-rotator-config-mac'
            """)
        try edit("store.sqlite", """
            ALTER TABLE secret DROP COLUMN labels_mac;
            DELETE FROM grdb_migrations WHERE identifier = 'v2-labels-mac'
            """)
        let (store, state) = try open()
        await #expect(throws: RotorError.self) { try await state.managedSecret(id) }
        await #expect(throws: RotorError.self) { try await store.describeSecret(id) }
    }

    @Test func aRowFiledUnderAnotherEnvironmentIsRefused() async throws {
        try await seed()
        try edit("state.sqlite", "UPDATE managed_secret SET environment = 'staging'")
        let (_, state) = try open()
        await #expect(throws: RotorError.self) { try await state.managedSecret(id) }
    }

    /// Version rows planted under an id no secret has yet are refused when the secret is created,
    /// not sealed as if rotor had written them.
    @Test func versionsPlantedBeforeASecretIsCreatedAreNeverSealed() async throws {
        let (store, _) = try open()
        try store.close()
        // Someone with the file (and without the key) needs no foreign keys.
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false
        let queue = try DatabaseQueue(path: directory.appendingPathComponent("store.sqlite").path, configuration: configuration)
        try await queue.write { db in
            try db.execute(sql: """
                INSERT INTO secret_version (secret_id, version_id, seq, created_at, stages, kind, sealed)
                VALUES (?, 'planted', 1, 0, 'AWSCURRENT', 'string', x'00')
                """, arguments: [id.rawValue])
        }
        try queue.close()
        let (reopened, _) = try open()
        await #expect(throws: RotorError.self) {
            try await reopened.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "v1")))
        }
        await #expect(throws: RotorError.self) { try await reopened.describeSecret(id) }
    }
}

/// The labels MAC's text is the same bytes whether numbers are written as strings or digit by digit:
/// every store sealed before keeps verifying.
@Suite struct LabelsTextTests {
    @Test func numbersAreWrittenAsTheirDecimalStrings() throws {
        let secret = try SecretID("/prod/app/db-credentials/main")
        let versions = [
            StoredVersion(id: "v-1", seq: 0, createdAt: 0, stages: "", kind: "string"),
            StoredVersion(id: "v-2", seq: 9, createdAt: 1_765_000_000.125, stages: "AWSPREVIOUS", kind: "string"),
            StoredVersion(id: "v-3", seq: 10, createdAt: -1.5, stages: "AWSCURRENT ROTOR_TESTED", kind: "binary"),
            StoredVersion(id: "v-4", seq: Int64.max, createdAt: .greatestFiniteMagnitude, stages: "AWSPENDING", kind: "string"),
            StoredVersion(id: "v-5", seq: -7, createdAt: 1e-300, stages: "", kind: "string"),
        ]
        var expected: [UInt8] = Array("rotor-labels-v2".utf8)
        func field(_ value: String) { expected += Array("\(value.utf8.count):\(value)".utf8) }
        field(secret.rawValue)
        field(#"{"team":"payments"}"#)
        field(String(versions.count))
        for version in versions {
            field(version.id)
            field(String(version.seq))
            field(String(version.createdAt.bitPattern))
            field(version.stages)
            field(version.kind)
        }
        #expect(ValueSealer.labelsText(secret, tags: #"{"team":"payments"}"#, versions: versions) == expected)
    }
}
