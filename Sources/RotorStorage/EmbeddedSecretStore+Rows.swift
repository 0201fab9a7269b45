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
        let rows = try versionRows(id, db)
        guard let secret = try secretRow(id, db) else {
            guard rows.isEmpty else { throw labelsTampered(id, "its versions remain but the secret's row was removed") }
            return VersionLedger(versions: [])
        }
        do {
            let expected = sealer.labelsMAC(id, tags: secret["tags_json"], versions: rows.map(macInput))
            guard let stored = secret["labels_mac"] as Data?, SecretValue(bytes: Array(stored)).constantTimeEquals(SecretValue(bytes: Array(expected))) else {
                throw labelsTampered(id, "they do not match their MAC under the master key")
            }
        }
        return VersionLedger(versions: rows.map { row in
            VersionEntry(id: VersionID(row[0] as String), createdAt: Date(epochSeconds: row[2]), stages: decodeStages(row[3]))
        })
    }

    static func labelsTampered(_ id: SecretID, _ why: String) -> RotorError {
        RotorError(
            .storeCorrupted, "the labels of this secret were changed outside rotor (\(why))", secret: id,
            remedy: "restore the embedded store from a backup; rotor will not serve or rotate this secret until then")
    }

    /// Columns by position (`version_id, seq, created_at, stages, kind`): every read of a secret reads
    /// all its versions, and GRDB's look-up by name lowercases the name each time.
    static func versionRows(_ id: SecretID, _ db: Database) throws -> [Row] {
        try db.fetchRows(cached: "SELECT version_id, seq, created_at, stages, kind FROM secret_version WHERE secret_id = ? ORDER BY seq", arguments: [id.rawValue])
    }

    static func macInput(_ row: Row) -> (id: String, seq: Int64, createdAt: Double, stages: String, kind: String) {
        (row[0], row[1], row[2], row[3], row[4])
    }

    /// Recomputes a secret's labels MAC; every write that changes versions or labels ends with it.
    static func sealLabels(_ id: SecretID, sealer: ValueSealer, _ db: Database) throws {
        guard let secret = try secretRow(id, db) else { return }
        let mac = sealer.labelsMAC(id, tags: secret["tags_json"], versions: try versionRows(id, db).map(macInput))
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
        guard let row = try secretRow(id, db) else { throw notFound(id) }
        return SecretDescription(
            id: id, description: row["description"],
            createdAt: Date(epochSeconds: row["created_at"]), lastChangedAt: Date(epochSeconds: row["last_changed_at"]),
            lastRotatedAt: (row["last_rotated_at"] as Double?).map(Date.init(epochSeconds:)),
            tags: decodeTags(row["tags_json"]), versions: try ledger(id, sealer: sealer, db).versions)
    }

    /// Whether an existing secret already has `input`'s initial version with the same value.
    static func isSameInitialVersion(_ input: CreateSecretInput, sealer: ValueSealer, _ db: Database) throws -> Bool {
        guard let token = input.initialVersionID, let value = input.initialValue,
              let row = try db.fetchRow(cached: "SELECT kind, sealed FROM secret_version WHERE secret_id = ? AND version_id = ?",
                                        arguments: [input.id.rawValue, token.rawValue])
        else { return false }
        return try sealer.open(row["sealed"], kind: row["kind"], secret: input.id, version: token).constantTimeEquals(value)
    }

    /// PutSecretValue inside a transaction: ledger rules, sealing, pruning.
    @discardableResult
    static func put(_ input: PutSecretValueInput, sealer: ValueSealer, now: Date, _ db: Database) throws -> VersionLedger.PutOutcome {
        let before = try ledger(input.id, sealer: sealer, db)
        var after = before
        let same = try before.entry(input.token).map { _ in
            let row = try db.fetchRow(cached: "SELECT kind, sealed FROM secret_version WHERE secret_id = ? AND version_id = ?",
                arguments: [input.id.rawValue, input.token.rawValue])!
            return try sealer.open(row["sealed"], kind: row["kind"], secret: input.id, version: input.token).constantTimeEquals(input.value)
        } ?? false
        let outcome = try after.put(input.token, stages: input.stages, at: now, sameValue: same, secret: input.id)
        guard outcome == .created else { return outcome }
        let sequence = (try db.fetchValue(Int.self, cached: "SELECT max(seq) FROM secret_version WHERE secret_id = ?", arguments: [input.id.rawValue]) ?? 0) + 1
        try db.execute(
            cached: "INSERT INTO secret_version (secret_id, version_id, seq, created_at, stages, kind, sealed) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [
                input.id.rawValue, input.token.rawValue, sequence, now.epochSeconds, encodeStages(after.entry(input.token)!.stages),
                input.value.kind.rawValue, try sealer.seal(input.value, secret: input.id, version: input.token),
            ])
        _ = after.prune(at: now)
        try saveStages(input.id, before: before, after: after, sealer: sealer, db)
        try db.execute(cached: "UPDATE secret SET last_changed_at = ? WHERE id = ?", arguments: [now.epochSeconds, input.id.rawValue])
        return outcome
    }

    /// Writes the label changes between two ledgers, deletes pruned versions, and re-seals the labels.
    static func saveStages(_ id: SecretID, before: VersionLedger, after: VersionLedger, sealer: ValueSealer, _ db: Database) throws {
        for entry in before.versions {
            guard let updated = after.entry(entry.id) else {
                try db.execute(cached: "DELETE FROM secret_version WHERE secret_id = ? AND version_id = ?", arguments: [id.rawValue, entry.id.rawValue])
                continue
            }
            guard updated.stages != entry.stages else { continue }
            try db.execute(
                cached: "UPDATE secret_version SET stages = ? WHERE secret_id = ? AND version_id = ?",
                arguments: [encodeStages(updated.stages), id.rawValue, entry.id.rawValue])
        }
        try sealLabels(id, sealer: sealer, db)
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
