import Foundation
import GRDB
import Testing
import RotorCore
@testable import RotorStorage

/// What only the embedded store must do: encryption at rest, key handling, refusing bad files.
@Suite struct EmbeddedStoreTests {
    static let id = try! SecretID("/prod/template-management/encryption-key/template-key")
    static let canary = "CANARY-embedded-7f3a9c-\(UUID().uuidString)"

    struct Paths {
        let directory: URL
        var store: URL { directory.appendingPathComponent("store.sqlite") }
        var key: URL { directory.appendingPathComponent("master.key") }
        var source: MasterKeySource { .environmentOrFile(environment: [:], keyFile: key) }
        init() throws { directory = try TemporaryDirectory.make() }
    }

    @discardableResult
    func makeStore(_ paths: Paths, keepOpen: Bool = false) async throws -> EmbeddedSecretStore {
        let store = try EmbeddedSecretStore(url: paths.store, keySource: paths.source)
        _ = try await store.createSecret(CreateSecretInput(id: Self.id, initialValue: SecretValue(string: Self.canary)))
        if !keepOpen { try store.close() }
        return store
    }

    @Test func finishSecretsLabelMovesAreOneTransactionAndNotReadBack() async throws {
        let store = try await makeStore(try Paths(), keepOpen: true)
        defer { try? store.close() }
        #expect(!store.labelsNeedReadBack)
    }

    func bytes(_ url: URL) throws -> Data { try Data(contentsOf: url) }

    func mode(_ url: URL) throws -> Int { try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as! Int }

    /// finishSecret's two label moves are one transaction here: a move that fails undoes the one before it.
    @Test func labelMovesInOneCallAreAllOrNothing() async throws {
        let paths = try Paths()
        let store = try await makeStore(paths, keepOpen: true)
        let current = try #require(try await store.describeSecret(Self.id).holder(of: .current))
        let token: VersionID = "dddddddd-0000-4000-8000-000000000004"
        try await store.putSecretValue(PutSecretValueInput(id: Self.id, token: token, value: SecretValue(string: "next"), stages: [.pending]))
        let moveCurrent = UpdateVersionStageInput(id: Self.id, stage: .current, moveTo: token, removeFrom: current)
        let wrongRemove = UpdateVersionStageInput(id: Self.id, stage: .pending, removeFrom: current)
        await #expect(throws: RotorError.self) { try await store.updateSecretVersionStages([moveCurrent, wrongRemove]) }
        #expect(try await store.describeSecret(Self.id).versionIDsToStages == [current: [.current], token: [.pending]], "nothing moved")

        let stripPending = UpdateVersionStageInput(id: Self.id, stage: .pending, removeFrom: token)
        try await store.updateSecretVersionStages([moveCurrent, stripPending])
        #expect(try await store.describeSecret(Self.id).versionIDsToStages == [current: [.previous], token: [.current]])
    }

    @Test func filesArePrivateAndValuesAreNotInClear() async throws {
        let paths = try Paths()
        let store = try await makeStore(paths, keepOpen: true)
        _ = try await store.describeSecret(Self.id)
        #expect(try mode(paths.store) == 0o600)
        #expect(try mode(paths.key) == 0o600)
        for suffix in ["", "-wal", "-shm"] {
            let url = URL(fileURLWithPath: paths.store.path + suffix)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            #expect(try mode(url) == 0o600)
            #expect(try bytes(url).range(of: Data(Self.canary.utf8)) == nil)
        }
    }

    @Test func masterKeyFromEnvironmentIsUsedAndNeverWrittenToDisk() async throws {
        let paths = try Paths()
        let key = MasterKey.generate()
        let source = MasterKeySource.environmentOrFile(environment: [MasterKeySource.environmentVariable: key.base64], keyFile: paths.key)
        let store = try EmbeddedSecretStore(url: paths.store, keySource: source)
        _ = try await store.createSecret(CreateSecretInput(id: Self.id, initialValue: SecretValue(string: Self.canary)))
        #expect(!FileManager.default.fileExists(atPath: paths.key.path))
        let reopened = try EmbeddedSecretStore(url: paths.store, keySource: source)
        #expect(try await reopened.getSecretValue(Self.id, .current).value.exposedString == Self.canary)
    }

    @Test func wrongKeyIsRefusedAndChangesNothing() async throws {
        let paths = try Paths()
        try await makeStore(paths)
        let before = try bytes(paths.store)
        let wrong = MasterKeySource.environmentOrFile(environment: [MasterKeySource.environmentVariable: MasterKey.generate().base64], keyFile: paths.key)
        #expect { try EmbeddedSecretStore(url: paths.store, keySource: wrong) } throws: { error in
            let error = error as? RotorError
            return error?.code == .wrongMasterKey && error?.remedy?.contains("changed nothing") == true
        }
        #expect(try bytes(paths.store) == before)
    }

    @Test func malformedKeysAreClearErrors() throws {
        let paths = try Paths()
        for text in ["not base64!!", Data([1, 2, 3]).base64EncodedString()] {
            let source = MasterKeySource.environmentOrFile(environment: [MasterKeySource.environmentVariable: text], keyFile: paths.key)
            #expect { try EmbeddedSecretStore(url: paths.store, keySource: source) } throws: { ($0 as? RotorError)?.code == .wrongMasterKey }
        }
        #expect(!FileManager.default.fileExists(atPath: paths.store.path))
    }

    @Test func missingKeyFileForAnExistingStoreIsNotReplaced() async throws {
        let paths = try Paths()
        try await makeStore(paths)
        try FileManager.default.removeItem(at: paths.key)
        #expect { try EmbeddedSecretStore(url: paths.store, keySource: paths.source) } throws: { error in
            (error as? RotorError)?.code == .wrongMasterKey && "\(error)".contains("missing")
        }
        #expect(!FileManager.default.fileExists(atPath: paths.key.path))
    }

    @Test func keyFileReadableByOthersIsRefused() async throws {
        let paths = try Paths()
        try await makeStore(paths)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: paths.key.path)
        #expect { try EmbeddedSecretStore(url: paths.store, keySource: paths.source) } throws: { error in
            (error as? RotorError)?.remedy?.contains("chmod 600") == true
        }
    }

    @Test(arguments: ["garbage", "truncated"])
    func corruptedFileIsRefusedAndLeftAlone(kind: String) async throws {
        let paths = try Paths()
        try await makeStore(paths)
        let original = try bytes(paths.store)
        let corrupted = kind == "garbage" ? Data("this is not a database at all, just text".utf8) : original.prefix(200)
        try corrupted.write(to: paths.store)
        #expect { try EmbeddedSecretStore(url: paths.store, keySource: paths.source) } throws: { ($0 as? RotorError)?.code == .storeCorrupted }
        #expect(try bytes(paths.store) == corrupted)
    }

    @Test func foreignSQLiteFileIsRefused() async throws {
        let paths = try Paths()
        let queue = try DatabaseQueue(path: paths.store.path)
        try await queue.write { db in try db.execute(sql: "CREATE TABLE invoices (id INTEGER PRIMARY KEY)") }
        try queue.close()
        let before = try bytes(paths.store)
        #expect { try EmbeddedSecretStore(url: paths.store, keySource: paths.source) } throws: { error in
            (error as? RotorError)?.code == .storeCorrupted && "\(error)".contains("another application")
        }
        #expect(try bytes(paths.store) == before)
        #expect(!FileManager.default.fileExists(atPath: paths.key.path))
    }

    @Test func stateDatabaseIsNotAcceptedAsAStore() async throws {
        let paths = try Paths()
        _ = try SQLiteStateStore(url: paths.store)
        #expect { try EmbeddedSecretStore(url: paths.store, keySource: paths.source) } throws: { ($0 as? RotorError)?.code == .storeCorrupted }
    }

    @Test func ciphertextMovedToAnotherVersionDoesNotDecrypt() async throws {
        let paths = try Paths()
        let store = try await makeStore(paths, keepOpen: true)
        let token: VersionID = "dddddddd-0000-4000-8000-000000000004"
        try await store.putSecretValue(PutSecretValueInput(id: Self.id, token: token, value: SecretValue(string: "other"), stages: [.pending]))
        try await store.pool.write { db in
            try db.execute(sql: """
                UPDATE secret_version SET sealed = (SELECT sealed FROM secret_version WHERE stages LIKE '%AWSCURRENT%')
                WHERE version_id = ?
                """, arguments: [token.rawValue])
        }
        await #expect { try await store.getSecretValue(Self.id, .pending(token)) } throws: { error in
            (error as? RotorError)?.code == .storeCorrupted && !"\(error)".contains(Self.canary)
        }
    }
}
