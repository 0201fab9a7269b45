import Crypto
import Foundation
import GRDB
import RotorCore

/// The default secret store: an SQLite file (mode 0600) whose values are sealed with AES-256-GCM
/// under a key derived from the master key, each bound to its secret, version and kind.
/// Labels follow ``VersionLedger``, the same rules as every other store.
public final class EmbeddedSecretStore: SecretStore {
    let pool: DatabasePool
    let sealer: ValueSealer
    /// Authenticates, under this store's master key, the rotator options rotor records in its state database.
    public let rotatorConfigAuthenticator: RotatorConfigAuthenticator
    let clock: any RotorClock
    public let url: URL

    /// Opens the store at `url`, creating it (and, if needed, its key file) on first use.
    /// A wrong key, a corrupted or a foreign file throws before anything is written.
    public init(url: URL, keySource: MasterKeySource, clock: any RotorClock = SystemClock(), synchronous: SQLiteSynchronous = .full) throws {
        let isNew = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int).map { $0 == 0 } ?? true
        let keyCheck = isNew ? nil : try Self.readKeyCheck(url)
        let key = try keySource.load(mayCreate: keyCheck == nil)
        let sealer = ValueSealer(key)
        let checked = keyCheck.map(sealer.verifyKeyCheck)
        if let checked, checked == nil {
            throw RotorError(
                .wrongMasterKey, "the master key does not open the embedded store \(url.path)",
                remedy: "use the key this store was created with (ROTOR_MASTER_KEY or the key file); rotor changed nothing")
        }
        self.url = url
        self.clock = clock
        self.sealer = sealer
        rotatorConfigAuthenticator = RotatorConfigAuthenticator(key)
        // Only a store whose key-check record (which only the key can write) says it predates the MACs
        // may have unsealed rows sealed as they are; in any other store a missing MAC is tampering.
        sealsLegacyRows = (checked ?? nil) == .legacy
        pool = try SQLiteFile.openPool(at: url, applicationID: Self.applicationID, what: "embedded store", synchronous: synchronous)
        try SQLiteFile.migrate(Self.migrator, pool)
        if keyCheck == nil {
            let record = try sealer.makeKeyCheck()
            let stored = try pool.write { db in
                try db.execute(cached: "INSERT OR IGNORE INTO store_meta (key, value) VALUES ('key_check', ?)", arguments: [record])
                return try Data.fetchOne(db, sql: "SELECT value FROM store_meta WHERE key = 'key_check'")
            }
            // Another process created the store at the same moment with another key: its record won.
            guard let stored, sealer.verifyKeyCheck(stored) != nil else {
                throw RotorError(
                    .wrongMasterKey, "the master key does not open the embedded store \(url.path) (another process created it with another key)",
                    remedy: "use the key this store was created with (ROTOR_MASTER_KEY or the key file); rotor changed nothing")
            }
        }
        if sealsLegacyRows { try Self.sealUnsealedLabels(pool, sealer: sealer) }
    }

    /// Whether this open may seal rows written before labels and rotator options were authenticated
    /// (a store from before that change). ``finishSealingLegacyRows()`` ends that for good.
    public let sealsLegacyRows: Bool

    /// Marks the store as fully sealed (after the state database's rows got their MACs too): from now
    /// on an unsealed row is refused as tampering.
    public func finishSealingLegacyRows() throws {
        guard sealsLegacyRows else { return }
        let record = try sealer.makeKeyCheck()
        try pool.write { db in try db.execute(cached: "UPDATE store_meta SET value = ? WHERE key = 'key_check'", arguments: [record]) }
    }

    /// The key-check record of an existing store, read without writing; `nil` for an empty file.
    private static func readKeyCheck(_ url: URL) throws -> Data? {
        let inspection = try SQLiteFile.inspect(url, what: "embedded store") { db -> (keyCheck: Data?, holdsSecrets: Bool) in
            let keyCheck = try db.tableExists("store_meta") ? try db.fetchValue(Data.self, cached: "SELECT value FROM store_meta WHERE key = 'key_check'") : nil
            let holdsSecrets = try db.tableExists("secret") && (try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM secret)") ?? false)
            return (keyCheck, holdsSecrets)
        }
        try SQLiteFile.requireOwned((inspection.applicationID, inspection.objects), expected: applicationID, url: url, what: "embedded store")
        // Without secrets the store is new, perhaps being created by another process at this moment
        // (its key check follows its schema): opened as new, the key check written or read back below.
        guard inspection.value.keyCheck != nil || !inspection.value.holdsSecrets else {
            throw SQLiteFile.corrupted(url, what: "embedded store", detail: "its key-check record is missing")
        }
        return inspection.value.keyCheck
    }

    /// Closes the file; later calls fail.
    public func close() throws { try pool.close() }

    public func createSecret(_ input: CreateSecretInput) async throws -> SecretDescription {
        let now = clock.now()
        return try await pool.writeNow { [sealer] db in
            if try Self.secretRow(input.id, db) != nil {
                // CreateSecret is idempotent for the same token and value, as in Secrets Manager.
                guard try Self.isSameInitialVersion(input, sealer: sealer, db) else {
                    throw RotorError(.secretExists, "a secret with this id already exists", secret: input.id,
                                     remedy: "pick another id, or inspect it with 'rotor secret describe \(input.id)'")
                }
                return try Self.describe(input.id, sealer: sealer, db)
            }
            try db.execute(
                cached: "INSERT INTO secret (id, environment, description, tags_json, created_at, last_changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [input.id.rawValue, input.id.environment.name, input.description, Self.encodeTags(input.tags), now.epochSeconds, now.epochSeconds])
            // Versions without a secret row were not written by rotor: never seal them.
            guard try Self.versionRows(input.id, db).isEmpty else {
                throw Self.labelsTampered(input.id, "versions exist for a secret that does not")
            }
            try Self.storeLabelsMAC(sealer.labelsMAC(input.id, tags: Self.encodeTags(input.tags), versions: []), input.id, db)
            if let value = input.initialValue {
                guard let stored = try Self.load(input.id, sealer: sealer, db) else { throw Self.notFound(input.id) }
                let put = PutSecretValueInput(id: input.id, token: input.initialVersionID ?? VersionID(UUID().uuidString.lowercased()), value: value, stages: nil)
                try Self.put(put, into: stored, sealer: sealer, now: now, db)
            }
            return try Self.describe(input.id, sealer: sealer, db)
        }
    }

    public func describeSecret(_ id: SecretID) async throws -> SecretDescription {
        try await pool.readNow { [sealer] db in try Self.describe(id, sealer: sealer, db) }
    }

    public func getSecretValue(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretVersionValue {
        try await pool.readNow { [sealer] db in
            guard let ledger = try Self.load(id, sealer: sealer, db)?.ledger else { throw Self.notFound(id) }
            let versionID = try ledger.resolve(selector, secret: id)
            guard let row = try db.fetchRow(cached: "SELECT kind, sealed, created_at, stages FROM secret_version WHERE secret_id = ? AND version_id = ?",
                arguments: [id.rawValue, versionID.rawValue])
            else { throw RotorError(.versionNotFound, "no secret value for \(selector)", secret: id) }
            let value = try sealer.open(row["sealed"], kind: row["kind"], secret: id, version: versionID)
            return SecretVersionValue(
                secret: id, versionID: versionID, stages: Self.decodeStages(row["stages"]).sorted(), value: value,
                createdAt: Date(epochSeconds: row["created_at"]))
        }
    }

    @discardableResult
    public func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome {
        let now = clock.now()
        return try await pool.writeNow { [sealer] db in
            guard let stored = try Self.load(input.id, sealer: sealer, db) else { throw Self.notFound(input.id) }
            return try Self.put(input, into: stored, sealer: sealer, now: now, db)
        }
    }

    public func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws {
        try await updateSecretVersionStages([input])
    }

    /// All of `inputs` in one transaction: all or none of the label moves happen.
    /// Both label moves of finishSecret are one transaction here, and nothing replays old requests.
    public var labelsNeedReadBack: Bool { false }

    public func updateSecretVersionStages(_ inputs: [UpdateVersionStageInput]) async throws {
        let now = clock.now()
        try await pool.writeNow { [sealer] db in
            // Each secret is read and sealed once, its moves applied in order in between.
            var index = inputs.startIndex
            while index < inputs.endIndex {
                let id = inputs[index].id
                var end = index
                while end < inputs.endIndex, inputs[end].id == id { end += 1 }
                guard let stored = try Self.load(id, sealer: sealer, db) else { throw Self.notFound(id) }
                var after = stored.ledger
                for input in inputs[index..<end] {
                    try after.updateStage(input.stage, moveTo: input.moveTo, removeFrom: input.removeFrom, secret: id)
                }
                try Self.saveStages(stored, after: after, sealer: sealer, db)
                try db.execute(
                    cached: "UPDATE secret SET last_changed_at = ?, last_rotated_at = CASE WHEN ? THEN ? ELSE last_rotated_at END WHERE id = ?",
                    arguments: [now.epochSeconds, inputs[index..<end].contains { $0.stage == .current }, now.epochSeconds, id.rawValue])
                index = end
            }
        }
    }

    public func getRandomPassword(_ policy: PasswordPolicy) async throws -> SecretValue {
        try policy.generate()
    }

    public func listSecrets(in scope: EnvironmentScope) async throws -> [SecretDescription] {
        try await pool.readNow { [sealer] db in
            let ids: [String]
            switch scope {
            case .all: ids = try db.fetchValues(String.self, cached: "SELECT id FROM secret ORDER BY id")
            case .only(let environment):
                ids = try db.fetchValues(String.self, cached: "SELECT id FROM secret WHERE environment = ? ORDER BY id", arguments: [environment.name])
            }
            return try ids.map { try Self.describe(try SecretID($0), sealer: sealer, db) }
        }
    }
}
