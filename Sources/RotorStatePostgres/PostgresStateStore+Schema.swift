import PostgresNIO
import RotorCore

/// Named, append-only migrations of the PostgreSQL state schema (never edit a shipped one: add one).
/// Times are epoch seconds in `double precision`, as in the SQLite state database, so a migration
/// between the two copies them exactly.
struct StateMigration: Sendable {
    let name: String
    let statements: [String]

    static let all: [StateMigration] = [journal]

    static let journal = StateMigration(name: "v1-journal-locks-audit", statements: [
        """
        CREATE TABLE managed_secret (
            id text PRIMARY KEY, environment text NOT NULL, rotator text NOT NULL, options_json text NOT NULL,
            status text NOT NULL, failed_runs integer NOT NULL DEFAULT 0, last_rotated_at double precision, last_error text,
            created_at double precision NOT NULL, config_mac bytea, credential_expires_at double precision)
        """,
        "CREATE INDEX managed_secret_by_environment ON managed_secret (environment, id)",
        """
        CREATE TABLE rotation (
            token text PRIMARY KEY, secret_id text NOT NULL REFERENCES managed_secret (id), trigger text NOT NULL,
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
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at double precision NOT NULL, actor text NOT NULL, secret_id text,
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
            secret_id text PRIMARY KEY, owner text NOT NULL, expires_at double precision NOT NULL, fence bigint NOT NULL DEFAULT 0)
        """,
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
            try await session.run(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""))
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
