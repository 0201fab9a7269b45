import PostgresNIO
import RotorCore

/// Named, append-only migrations of the PostgreSQL state schema (never edit a shipped one: add one).
/// Times are epoch seconds in `double precision`, as in the SQLite state database, so a migration
/// between the two copies them exactly; ids compare byte by byte (`COLLATE "C"`, as SQLite does), so
/// an environment's ids are one range whatever the database's collation.
struct StateMigration: Sendable {
    let name: String
    let statements: [String]

    static let all: [StateMigration] = [journal, scheduling, daemons, fleet]

    static let journal = StateMigration(name: "v1-journal-locks-audit", statements: [
        """
        CREATE TABLE managed_secret (
            id text COLLATE "C" PRIMARY KEY, environment text COLLATE "C" NOT NULL, rotator text NOT NULL, options_json text NOT NULL,
            status text NOT NULL, failed_runs integer NOT NULL DEFAULT 0, last_rotated_at double precision, last_error text,
            created_at double precision NOT NULL, config_mac bytea, credential_expires_at double precision)
        """,
        "CREATE INDEX managed_secret_by_environment ON managed_secret (environment, id)",
        """
        CREATE TABLE rotation (
            token text PRIMARY KEY, secret_id text COLLATE "C" NOT NULL REFERENCES managed_secret (id), trigger text NOT NULL,
            started_at double precision NOT NULL, ended_at double precision, outcome text NOT NULL, last_completed_step text, error text,
            position bigint GENERATED ALWAYS AS IDENTITY)
        """,
        "CREATE UNIQUE INDEX rotation_one_open_per_secret ON rotation (secret_id) WHERE outcome IN ('in-progress', 'rolling-back')",
        "CREATE INDEX rotation_by_secret ON rotation (secret_id, started_at)",
        """
        CREATE TABLE rotation_step (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, token text NOT NULL REFERENCES rotation (token), step text NOT NULL,
            attempt integer NOT NULL, started_at double precision NOT NULL, ended_at double precision, outcome text NOT NULL,
            error text, owner text)
        """,
        "CREATE INDEX rotation_step_by_token ON rotation_step (token, id)",
        """
        CREATE TABLE audit_event (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at double precision NOT NULL, actor text NOT NULL, secret_id text COLLATE "C",
            operation text NOT NULL, outcome text NOT NULL, detail text)
        """,
        "CREATE INDEX audit_event_by_secret ON audit_event (secret_id, id)",
        """
        CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$
        """,
        "CREATE TRIGGER audit_event_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_event FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
        """
        CREATE TABLE secret_lock (
            secret_id text COLLATE "C" PRIMARY KEY, owner text NOT NULL, expires_at double precision NOT NULL, fence bigint NOT NULL DEFAULT 0)
        """,
    ])
}

extension StateMigration {
    static let scheduling = StateMigration(name: "v2-schedule-lease-outbox-access-fleet", statements: [
        """
        CREATE TABLE schedule (
            secret_id text COLLATE "C" PRIMARY KEY REFERENCES managed_secret (id), policy text NOT NULL, fingerprint text NOT NULL,
            next_due_at double precision, next_reminder_at double precision, last_reminder_at double precision, last_failure_at double precision)
        """,
        "CREATE INDEX schedule_by_due ON schedule (next_due_at) WHERE next_due_at IS NOT NULL",
        "CREATE INDEX schedule_by_reminder ON schedule (next_reminder_at) WHERE next_reminder_at IS NOT NULL",
        "CREATE TABLE lease (name text PRIMARY KEY, owner text NOT NULL, acquired_at double precision NOT NULL, expires_at double precision NOT NULL)",
        """
        CREATE TABLE alert_outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, created_at double precision NOT NULL, kind text NOT NULL, secret_id text COLLATE "C",
            payload text NOT NULL, attempts integer NOT NULL DEFAULT 0, next_attempt_at double precision NOT NULL, delivered_at double precision,
            last_error text, channel text NOT NULL DEFAULT 'alert', dedup_key text)
        """,
        "CREATE INDEX alert_outbox_pending ON alert_outbox (channel, next_attempt_at) WHERE delivered_at IS NULL",
        "CREATE UNIQUE INDEX alert_outbox_dedup ON alert_outbox (channel, dedup_key) WHERE dedup_key IS NOT NULL",
        "CREATE TABLE outbox_cursor (name text PRIMARY KEY, position bigint NOT NULL)",
        "INSERT INTO outbox_cursor (name, position) SELECT 'reload-hooks', coalesce(max(id), 0) FROM audit_event",
        """
        CREATE TABLE access_report (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, secret_id text COLLATE "C" NOT NULL, service text NOT NULL, environment text NOT NULL,
            host text NOT NULL, reads bigint NOT NULL, denied bigint NOT NULL, first_at double precision NOT NULL, last_at double precision NOT NULL,
            report_key text)
        """,
        "CREATE UNIQUE INDEX access_report_once ON access_report (report_key) WHERE report_key IS NOT NULL",
        "CREATE INDEX access_report_by_secret ON access_report (secret_id, last_at)",
        "CREATE INDEX access_report_by_time ON access_report (last_at)",
        "CREATE TABLE secret_last_access (secret_id text COLLATE \"C\" PRIMARY KEY, at double precision NOT NULL, reader text NOT NULL)",
        // Fleet counts kept by the writes themselves (no scan for /metrics).
        "CREATE TABLE fleet_count (environment text COLLATE \"C\" NOT NULL, status text NOT NULL, secrets bigint NOT NULL, PRIMARY KEY (environment, status))",
        "INSERT INTO fleet_count SELECT environment, status, count(*) FROM managed_secret GROUP BY environment, status",
        """
        CREATE FUNCTION fleet_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                UPDATE fleet_count SET secrets = secrets - 1 WHERE environment = OLD.environment AND status = OLD.status;
            END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') THEN
                INSERT INTO fleet_count (environment, status, secrets) VALUES (NEW.environment, NEW.status, 1)
                    ON CONFLICT (environment, status) DO UPDATE SET secrets = fleet_count.secrets + 1;
            END IF;
            RETURN NULL;
        END $$
        """,
        "CREATE TRIGGER fleet_count_insert_delete AFTER INSERT OR DELETE ON managed_secret FOR EACH ROW EXECUTE FUNCTION fleet_count_change()",
        """
        CREATE TRIGGER fleet_count_update AFTER UPDATE OF environment, status ON managed_secret FOR EACH ROW
            WHEN (OLD.environment IS DISTINCT FROM NEW.environment OR OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION fleet_count_change()
        """,
        "CREATE INDEX managed_secret_by_last_rotated ON managed_secret (last_rotated_at) WHERE last_rotated_at IS NOT NULL",
        // The change lock (serializeChanges): a row only rotor's role can lock, not an advisory key
        // any role of the database could hold.
        "CREATE TABLE change_lock (id integer PRIMARY KEY CHECK (id = 1))",
        "INSERT INTO change_lock (id) VALUES (1)",
        // The change sequence of rotators and options (incremental reconcile).
        "CREATE SEQUENCE config_sequence",
        "ALTER TABLE managed_secret ADD COLUMN config_seq bigint NOT NULL DEFAULT 0",
        "CREATE INDEX managed_secret_by_config_seq ON managed_secret (config_seq)",
        """
        CREATE FUNCTION config_seq_next() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.config_seq := nextval('config_sequence'); RETURN NEW; END $$
        """,
        "CREATE TRIGGER config_seq_insert BEFORE INSERT ON managed_secret FOR EACH ROW EXECUTE FUNCTION config_seq_next()",
        "CREATE TRIGGER config_seq_update BEFORE UPDATE OF rotator, options_json ON managed_secret FOR EACH ROW EXECUTE FUNCTION config_seq_next()",
    ])
}

extension StateMigration {
    static let daemons = StateMigration(name: "v3-daemons", statements: [
        """
        CREATE TABLE daemon (
            owner text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL, version text NOT NULL,
            started_at double precision NOT NULL, heartbeat_at double precision NOT NULL)
        """,
        "CREATE INDEX daemon_by_heartbeat ON daemon (heartbeat_at)",
    ])
}

extension StateMigration {
    /// Fleet-wide limits and requests: the gate that orders claims (so caps are counted exactly), the
    /// shared write quota's buckets, and rotations asked of the daemons (`rotor rotate --queue`).
    static let fleet = StateMigration(name: "v4-claim-gate-write-quota-requests", statements: [
        "CREATE TABLE claim_gate (id integer PRIMARY KEY CHECK (id = 1))",
        "INSERT INTO claim_gate (id) VALUES (1)",
        "CREATE TABLE write_quota (name text COLLATE \"C\" PRIMARY KEY, tokens double precision NOT NULL, updated_at double precision NOT NULL)",
        "ALTER TABLE schedule ADD COLUMN requested_at double precision",
        "CREATE INDEX secret_lock_by_expiry ON secret_lock (expires_at)",
    ])
}

extension PostgresStateStore {
    /// Creates the schema if needed and applies the migrations it lacks, in one transaction under an
    /// advisory lock, so daemons starting together migrate once. A schema migrated by a newer rotor
    /// (a name this one does not know) is refused rather than used.
    func migrate() async throws {
        let schema = settings.schema
        try await write("migrating the schema") { session in
            try await session.run("SELECT pg_advisory_xact_lock(hashtext(\("rotor.migrate." + schema)))")
            // A schema that exists must be this role's (or a role it is a member of): tables someone
            // else set up could hand out locks and fences as they like.
            if let existing = try await session.row("SELECT pg_has_role(current_user, nspowner, 'MEMBER') AS ours FROM pg_namespace WHERE nspname = \(schema)") {
                guard try existing.value("ours", as: Bool.self) else {
                    throw RotorError(
                        .insecurePeer, "the state schema '\(schema)' belongs to a role rotor's user is not a member of; rotor used nothing from it",
                        remedy: "give rotor a schema of its own (schema= in the state URL), created by its user or a role it belongs to")
                }
            } else {
                // Creating needs CREATE on the database; a schema the DBA made for rotor needs nothing more.
                try await session.run(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""))
            }
            try await session.run(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(schema)\""))
            try await session.run("CREATE TABLE IF NOT EXISTS migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            let applied = Set(try await session.rows("SELECT name FROM migrations").map { try $0.value("name", as: String.self) })
            let known = Set(StateMigration.all.map(\.name))
            if let unknown = applied.subtracting(known).sorted().first {
                throw RotorError(
                    .storeCorrupted, "the state schema '\(schema)' has migration '\(unknown.prefix(80))', which this rotor does not know: a newer rotor migrated it",
                    remedy: "run this host's rotor at the newer version (runbooks/multi-host.md, upgrading one by one)")
            }
            for migration in StateMigration.all where !applied.contains(migration.name) {
                for statement in migration.statements { try await session.run(PostgresQuery(unsafeSQL: statement)) }
                try await session.run("INSERT INTO migrations (name) VALUES (\(migration.name))")
            }
        }
    }
}
