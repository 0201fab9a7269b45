import Foundation
import GRDB
import RotorCore

/// Row-level helpers of the embedded store; each runs inside the caller's transaction.
extension EmbeddedSecretStore {
    static func notFound(_ id: SecretID) -> RotorError {
        RotorError(.secretNotFound, "secret not found in the embedded store", secret: id, remedy: "check the id with 'rotor secret list'")
    }

    static func secretRow(_ id: SecretID, _ db: Database) throws -> Row? {
        try db.fetchRow(cached: "SELECT * FROM secret WHERE id = ?", arguments: [id.rawValue])
    }

    /// A secret's versions, after checking their labels against the secret's MAC: a file edited
    /// without the master key (AWSCURRENT moved to an old version, a label removed) is refused.
    static func ledger(_ id: SecretID, sealer: ValueSealer, _ db: Database) throws -> VersionLedger {
        try load(id, sealer: sealer, db)?.ledger ?? VersionLedger(versions: [])
    }

    /// A secret's row and versions, read once per transaction and checked against the labels MAC;
    /// `nil` when the secret does not exist.
    static func load(_ id: SecretID, sealer: ValueSealer, _ db: Database) throws -> StoredSecret? {
        let versions = try versionRows(id, db)
        guard let row = try secretRow(id, db) else {
            guard versions.isEmpty else { throw labelsTampered(id, "its versions remain but the secret's row was removed") }
            return nil
        }
        let stored = StoredSecret(id: id, row: row, versions: versions)
        let expected = sealer.labelsMAC(id, tags: stored.tags, versions: versions)
        guard let mac = row["labels_mac"] as Data?, SecretValue(bytes: Array(mac)).constantTimeEquals(SecretValue(bytes: Array(expected))) else {
            throw labelsTampered(id, "they do not match their MAC under the master key")
        }
        return stored
    }

    static func labelsTampered(_ id: SecretID, _ why: String) -> RotorError {
        RotorError(
            .storeCorrupted, "the labels of this secret were changed outside rotor (\(why))", secret: id,
            remedy: "restore the embedded store from a backup; rotor will not serve or rotate this secret until then")
    }

    /// Columns by position (`version_id, seq, created_at, stages, kind`): every read of a secret reads
    /// all its versions, and GRDB's look-up by name lowercases the name each time.
    static func versionRows(_ id: SecretID, _ db: Database) throws -> [StoredVersion] {
        try db.fetchRows(cached: "SELECT version_id, seq, created_at, stages, kind FROM secret_version WHERE secret_id = ? ORDER BY seq", arguments: [id.rawValue])
            .map { StoredVersion(id: $0[0], seq: $0[1], createdAt: $0[2], stages: $0[3], kind: $0[4]) }
    }

    /// Recomputes a secret's labels MAC from its rows as they are now.
    static func sealLabels(_ id: SecretID, sealer: ValueSealer, _ db: Database) throws {
        guard let row = try secretRow(id, db) else { return }
        try storeLabelsMAC(sealer.labelsMAC(id, tags: row["tags_json"], versions: try versionRows(id, db)), id, db)
    }

    static func storeLabelsMAC(_ mac: Data, _ id: SecretID, _ db: Database) throws {
        try db.execute(cached: "UPDATE secret SET labels_mac = ? WHERE id = ?", arguments: [mac, id.rawValue])
    }

    static func sealUnsealedLabels(_ pool: DatabasePool, sealer: ValueSealer) throws {
        try pool.write { db in
            for raw in try db.fetchValues(String.self, cached: "SELECT id FROM secret WHERE labels_mac IS NULL") {
                try sealLabels(try SecretID(raw), sealer: sealer, db)
            }
        }
    }

    static func describe(_ id: SecretID, sealer: ValueSealer, _ db: Database) throws -> SecretDescription {
        guard let stored = try load(id, sealer: sealer, db) else { throw notFound(id) }
        let row = stored.row
        return SecretDescription(
            id: id, description: row["description"],
            createdAt: Date(epochSeconds: row["created_at"]), lastChangedAt: Date(epochSeconds: row["last_changed_at"]),
            lastRotatedAt: (row["last_rotated_at"] as Double?).map(Date.init(epochSeconds:)),
            tags: decodeTags(stored.tags), versions: stored.ledger.versions)
    }

    /// Whether an existing secret already has `input`'s initial version with the same value.
    static func isSameInitialVersion(_ input: CreateSecretInput, sealer: ValueSealer, _ db: Database) throws -> Bool {
        guard let token = input.initialVersionID, let value = input.initialValue,
              let row = try db.fetchRow(cached: "SELECT kind, sealed FROM secret_version WHERE secret_id = ? AND version_id = ?",
                                        arguments: [input.id.rawValue, token.rawValue])
        else { return false }
        return try sealer.open(row["sealed"], kind: row["kind"], secret: input.id, version: token).constantTimeEquals(value)
    }

    /// PutSecretValue inside a transaction, on the secret as ``load(_:sealer:_:)`` read it: ledger
    /// rules, sealing, pruning.
    @discardableResult
    static func put(_ input: PutSecretValueInput, into stored: StoredSecret, sealer: ValueSealer, now: Date, _ db: Database) throws -> VersionLedger.PutOutcome {
        let before = stored.ledger
        var after = before
        let same = try before.entry(input.token).map { _ in
            let row = try db.fetchRow(cached: "SELECT kind, sealed FROM secret_version WHERE secret_id = ? AND version_id = ?",
                arguments: [input.id.rawValue, input.token.rawValue])!
            return try sealer.open(row["sealed"], kind: row["kind"], secret: input.id, version: input.token).constantTimeEquals(input.value)
        } ?? false
        let outcome = try after.put(input.token, stages: input.stages, at: now, sameValue: same, secret: input.id)
        guard outcome == .created else { return outcome }
        let added = StoredVersion(
            id: input.token.rawValue, seq: (stored.versions.map(\.seq).max() ?? 0) + 1, createdAt: now.epochSeconds,
            stages: encodeStages(after.entry(input.token)!.stages), kind: input.value.kind.rawValue)
        try db.execute(
            cached: "INSERT INTO secret_version (secret_id, version_id, seq, created_at, stages, kind, sealed) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [
                input.id.rawValue, added.id, added.seq, added.createdAt, added.stages, added.kind,
                try sealer.seal(input.value, secret: input.id, version: input.token),
            ])
        _ = after.prune(at: now)
        var grown = stored
        grown.versions.append(added)
        try saveStages(grown, after: after, sealer: sealer, db)
        try db.execute(cached: "UPDATE secret SET last_changed_at = ? WHERE id = ?", arguments: [now.epochSeconds, input.id.rawValue])
        return outcome
    }

    /// Writes the label changes from `stored`'s versions to `after`, deletes pruned versions, and
    /// re-seals the labels over the rows as they now are (computed here, not read back).
    static func saveStages(_ stored: StoredSecret, after: VersionLedger, sealer: ValueSealer, _ db: Database) throws {
        let id = stored.id
        var kept: [StoredVersion] = []
        for var version in stored.versions {
            guard let updated = after.entry(VersionID(version.id)) else {
                try db.execute(cached: "DELETE FROM secret_version WHERE secret_id = ? AND version_id = ?", arguments: [id.rawValue, version.id])
                continue
            }
            let stages = encodeStages(updated.stages)
            if stages != version.stages {
                try db.execute(cached: "UPDATE secret_version SET stages = ? WHERE secret_id = ? AND version_id = ?", arguments: [stages, id.rawValue, version.id])
                version.stages = stages
            }
            kept.append(version)
        }
        try storeLabelsMAC(sealer.labelsMAC(id, tags: stored.tags, versions: kept), id, db)
    }

    /// Labels as one space-separated, sorted string (labels never contain whitespace).
    static func encodeStages(_ stages: Set<StagingLabel>) -> String {
        stages.map(\.rawValue).sorted().joined(separator: " ")
    }

    static func decodeStages(_ text: String) -> Set<StagingLabel> {
        Set(text.split(separator: " ").map { StagingLabel(stringLiteral: String($0)) })
    }

    static func encodeTags(_ tags: [String: String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: tags, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func decodeTags(_ json: String) -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: String] ?? [:]
    }
}

/// A version's row without its sealed value: what the labels MAC covers.
struct StoredVersion {
    let id: String
    let seq: Int64
    let createdAt: Double
    var stages: String
    let kind: String
}

/// A secret's row and its versions (in `seq` order) as read inside one transaction.
struct StoredSecret {
    let id: SecretID
    let row: Row
    var versions: [StoredVersion]

    var tags: String { row["tags_json"] }

    var ledger: VersionLedger {
        VersionLedger(versions: versions.map {
            VersionEntry(id: VersionID($0.id), createdAt: Date(epochSeconds: $0.createdAt), stages: EmbeddedSecretStore.decodeStages($0.stages))
        })
    }
}
