import GRDB

extension SQLiteStateStore {
    /// `PRAGMA application_id` of a rotor state database ("ROTS").
    static let applicationID: Int32 = 0x524F_5453

    /// Named, append-only migrations: never edit a shipped one, add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-managed-secrets-rotations-steps-audit") { db in
            try db.execute(sql: """
                CREATE TABLE managed_secret (
                    id TEXT PRIMARY KEY NOT NULL,
                    environment TEXT NOT NULL,
                    rotator TEXT NOT NULL,
                    options_json TEXT NOT NULL,
                    status TEXT NOT NULL,
                    failed_runs INTEGER NOT NULL DEFAULT 0,
                    last_rotated_at REAL,
                    last_error TEXT,
                    created_at REAL NOT NULL
                );
                CREATE INDEX managed_secret_by_environment ON managed_secret(environment, id);
                CREATE TABLE rotation (
                    token TEXT PRIMARY KEY NOT NULL,
                    secret_id TEXT NOT NULL REFERENCES managed_secret(id),
                    trigger TEXT NOT NULL,
                    started_at REAL NOT NULL,
                    ended_at REAL,
                    outcome TEXT NOT NULL,
                    last_completed_step TEXT,
                    error TEXT
                );
                CREATE UNIQUE INDEX rotation_one_open_per_secret ON rotation(secret_id)
                    WHERE outcome IN ('in-progress', 'rolling-back');
                CREATE INDEX rotation_by_secret ON rotation(secret_id, started_at);
                CREATE TABLE rotation_step (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    token TEXT NOT NULL REFERENCES rotation(token),
                    step TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    started_at REAL NOT NULL,
                    ended_at REAL,
                    outcome TEXT NOT NULL,
                    error TEXT
                );
                CREATE INDEX rotation_step_by_token ON rotation_step(token, id);
                CREATE TABLE audit_event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    actor TEXT NOT NULL,
                    secret_id TEXT,
                    operation TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    detail TEXT
                );
                CREATE INDEX audit_event_by_secret ON audit_event(secret_id, id);
                CREATE TRIGGER audit_event_append_only_update BEFORE UPDATE ON audit_event
                    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
                CREATE TRIGGER audit_event_append_only_delete BEFORE DELETE ON audit_event
                    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
                """)
        }
        registerSchedulingMigration(&migrator)
        registerFencingMigration(&migrator)
        registerRotatorConfigMigration(&migrator)
        registerFleetMigration(&migrator)
        registerConfigSequenceMigration(&migrator)
        migrator.registerMigration("v7-credential-expiry") { db in
            try db.execute(sql: "ALTER TABLE managed_secret ADD COLUMN credential_expires_at REAL")
        }
        registerReloadOutboxMigration(&migrator)
        registerAccessMigration(&migrator)
        return migrator
    }
}
