import GRDB

extension SQLiteStateStore {
    /// Fleet-level figures that never scan the fleet: secrets per (environment, status), kept by
    /// triggers in the transaction that changes a row, and an index for the oldest last success.
    static func registerFleetMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5-fleet-counts") { db in
            try db.execute(sql: """
                CREATE TABLE fleet_count (
                    environment TEXT NOT NULL,
                    status TEXT NOT NULL,
                    secrets INTEGER NOT NULL,
                    PRIMARY KEY (environment, status)
                );
                INSERT INTO fleet_count (environment, status, secrets)
                    SELECT environment, status, count(*) FROM managed_secret GROUP BY environment, status;
                CREATE TRIGGER fleet_count_insert AFTER INSERT ON managed_secret BEGIN
                    INSERT INTO fleet_count (environment, status, secrets) VALUES (NEW.environment, NEW.status, 1)
                        ON CONFLICT (environment, status) DO UPDATE SET secrets = secrets + 1;
                END;
                CREATE TRIGGER fleet_count_delete AFTER DELETE ON managed_secret BEGIN
                    UPDATE fleet_count SET secrets = secrets - 1 WHERE environment = OLD.environment AND status = OLD.status;
                END;
                CREATE TRIGGER fleet_count_update AFTER UPDATE OF environment, status ON managed_secret
                    WHEN OLD.environment IS NOT NEW.environment OR OLD.status IS NOT NEW.status BEGIN
                    UPDATE fleet_count SET secrets = secrets - 1 WHERE environment = OLD.environment AND status = OLD.status;
                    INSERT INTO fleet_count (environment, status, secrets) VALUES (NEW.environment, NEW.status, 1)
                        ON CONFLICT (environment, status) DO UPDATE SET secrets = secrets + 1;
                END;
                CREATE INDEX managed_secret_by_last_rotated ON managed_secret(last_rotated_at) WHERE last_rotated_at IS NOT NULL;
                """)
        }
    }

    /// A change sequence on managed secrets: every registration and every change of rotator or
    /// options takes the next number, so an incremental reconcile reads only rows changed since its last pass.
    static func registerConfigSequenceMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6-config-sequence") { db in
            try db.execute(sql: """
                CREATE TABLE config_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
                INSERT INTO config_sequence (id, value) VALUES (1, 0);
                ALTER TABLE managed_secret ADD COLUMN config_seq INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX managed_secret_by_config_seq ON managed_secret(config_seq);
                CREATE TRIGGER config_seq_insert AFTER INSERT ON managed_secret BEGIN
                    UPDATE config_sequence SET value = value + 1 WHERE id = 1;
                    UPDATE managed_secret SET config_seq = (SELECT value FROM config_sequence WHERE id = 1) WHERE id = NEW.id;
                END;
                CREATE TRIGGER config_seq_update AFTER UPDATE OF rotator, options_json ON managed_secret BEGIN
                    UPDATE config_sequence SET value = value + 1 WHERE id = 1;
                    UPDATE managed_secret SET config_seq = (SELECT value FROM config_sequence WHERE id = 1) WHERE id = NEW.id;
                END;
                """)
        }
    }
}
