import GRDB

extension EmbeddedSecretStore {
    /// `PRAGMA application_id` of a rotor embedded store ("ROTE").
    static let applicationID: Int32 = 0x524F_5445

    static let labelsMigration = "v2-labels-mac"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-secrets-versions") { db in
            try db.execute(sql: """
                CREATE TABLE store_meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value BLOB NOT NULL
                );
                CREATE TABLE secret (
                    id TEXT PRIMARY KEY NOT NULL,
                    environment TEXT NOT NULL,
                    description TEXT,
                    tags_json TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    last_changed_at REAL NOT NULL,
                    last_rotated_at REAL
                );
                CREATE INDEX secret_by_environment ON secret(environment, id);
                CREATE TABLE secret_version (
                    secret_id TEXT NOT NULL REFERENCES secret(id),
                    version_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    created_at REAL NOT NULL,
                    stages TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    sealed BLOB NOT NULL,
                    PRIMARY KEY (secret_id, version_id)
                );
                CREATE INDEX secret_version_by_seq ON secret_version(secret_id, seq);
                """)
        }
        migrator.registerMigration(labelsMigration) { db in
            // Filled by sealLabelsOnce at the first open with the key; NULL afterwards means tampered.
            try db.execute(sql: "ALTER TABLE secret ADD COLUMN labels_mac BLOB")
        }
        return migrator
    }
}
