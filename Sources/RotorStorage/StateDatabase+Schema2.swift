import GRDB

extension SQLiteStateStore {
    /// Scheduling, locks, the daemon lease and the alert outbox.
    static func registerSchedulingMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-schedule-locks-lease-outbox") { db in
            try db.execute(sql: """
                CREATE TABLE schedule (
                    secret_id TEXT PRIMARY KEY NOT NULL REFERENCES managed_secret(id),
                    policy TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    next_due_at REAL,
                    next_reminder_at REAL,
                    last_reminder_at REAL,
                    last_failure_at REAL
                );
                CREATE INDEX schedule_by_due ON schedule(next_due_at) WHERE next_due_at IS NOT NULL;
                CREATE INDEX schedule_by_reminder ON schedule(next_reminder_at) WHERE next_reminder_at IS NOT NULL;
                CREATE TABLE secret_lock (
                    secret_id TEXT PRIMARY KEY NOT NULL,
                    owner TEXT NOT NULL,
                    expires_at REAL NOT NULL
                );
                CREATE TABLE lease (
                    name TEXT PRIMARY KEY NOT NULL,
                    owner TEXT NOT NULL,
                    acquired_at REAL NOT NULL,
                    expires_at REAL NOT NULL
                );
                CREATE TABLE alert_outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    created_at REAL NOT NULL,
                    kind TEXT NOT NULL,
                    secret_id TEXT,
                    payload TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at REAL NOT NULL,
                    delivered_at REAL,
                    last_error TEXT
                );
                CREATE INDEX alert_outbox_pending ON alert_outbox(next_attempt_at) WHERE delivered_at IS NULL;
                """)
        }
    }

    /// Fencing tokens on the per-secret locks, and which lock owner ran each step attempt.
    static func registerFencingMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-lock-fences-step-owners") { db in
            try db.execute(sql: """
                ALTER TABLE secret_lock ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE rotation_step ADD COLUMN owner TEXT;
                """)
        }
    }

    /// The MAC binding each managed secret's rotator and options to the master key (embedded store).
    static func registerRotatorConfigMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-rotator-config-mac") { db in
            try db.execute(sql: "ALTER TABLE managed_secret ADD COLUMN config_mac BLOB")
        }
    }

    /// Outbox channels (alerts, reload hooks) and the cursors that feed them from the audit log.
    static func registerReloadOutboxMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8-outbox-channels-cursors") { db in
            try db.execute(sql: """
                ALTER TABLE alert_outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'alert';
                ALTER TABLE alert_outbox ADD COLUMN dedup_key TEXT;
                CREATE INDEX alert_outbox_by_channel ON alert_outbox(channel, next_attempt_at) WHERE delivered_at IS NULL;
                CREATE UNIQUE INDEX alert_outbox_dedup ON alert_outbox(channel, dedup_key) WHERE dedup_key IS NOT NULL;
                CREATE TABLE outbox_cursor (
                    name TEXT PRIMARY KEY NOT NULL,
                    position INTEGER NOT NULL
                );
                INSERT INTO outbox_cursor (name, position) SELECT 'reload-hooks', coalesce(max(id), 0) FROM audit_event;
                """)
        }
    }

    /// Consumers' access reports (what the suspicious-access rules read) and each secret's last read.
    static func registerAccessMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9-access-reports") { db in
            try db.execute(sql: """
                CREATE TABLE access_report (
                    id INTEGER PRIMARY KEY,
                    secret_id TEXT NOT NULL,
                    service TEXT NOT NULL,
                    environment TEXT NOT NULL,
                    host TEXT NOT NULL,
                    reads INTEGER NOT NULL,
                    denied INTEGER NOT NULL,
                    first_at REAL NOT NULL,
                    last_at REAL NOT NULL,
                    report_key TEXT
                );
                CREATE UNIQUE INDEX access_report_once ON access_report(report_key) WHERE report_key IS NOT NULL;
                CREATE INDEX access_report_by_secret ON access_report(secret_id, last_at);
                CREATE INDEX access_report_by_time ON access_report(last_at);
                CREATE TABLE secret_last_access (
                    secret_id TEXT PRIMARY KEY NOT NULL,
                    at REAL NOT NULL,
                    reader TEXT NOT NULL
                );
                """)
        }
    }
}
