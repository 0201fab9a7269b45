import Foundation
import PostgresNIO
import Testing
import RotorCore
@testable import RotorStatePostgres
import RotorTestSupport

/// `--state postgres://…` (ROTOR_STATE_URL): the CLI keeps its journal, schedule and audit in a
/// PostgreSQL schema, never in `--home`, and the state's password never comes from (or shows in) argv.
@Suite struct SharedStateCLITests {
    /// A CLI whose state is a fresh schema on the test server, and that schema's name.
    static func cli() throws -> (CLI, String) {
        let server = try PostgresTestServer.require()
        let schema = PostgresTestServer.uniqueSchema("cli")
        var cli = try CLI()
        cli.environment["ROTOR_STATE_URL"] =
            "postgres://\(server.user)@\(server.host):\(server.port)/postgres?schema=\(schema)" + (server.caFile.map { "&sslrootcert=\($0)" } ?? "")
        cli.environment["ROTOR_STATE_PASSWORD"] = server.password
        return (cli, schema)
    }

    @Test(.enabled(if: PostgresTestServer.enabled))
    func rotationsAreJournaledInPostgresAndNotInHome() async throws {
        let (cli, schema) = try Self.cli()
        let id = "/prod/payments/api-key/shared-state"
        #expect(try await cli.run("secret", "create", id, "--rotator", "random-password").status == 0)
        let rotated = try await cli.run("rotate", id)
        #expect(rotated.status == 0, "\(rotated.output)")
        #expect(!FileManager.default.fileExists(atPath: cli.home.appendingPathComponent("state.sqlite").path), "the state went to --home")
        let history = try await cli.run("history", id)
        #expect(history.status == 0 && history.stdout.contains("succeeded"), "\(history.output)")

        let server = try PostgresTestServer.require()
        let state = try await PostgresStateStore.open(try PostgresStateSettings(
            host: server.host, port: server.port, username: server.user, password: SecretValue(string: server.password), database: "postgres",
            schema: schema, caFile: server.caFile))
        defer { Task { await state.close() } }
        let rotations = try await state.rotations(of: try SecretID(id), limit: 5)
        #expect(rotations.count == 1 && rotations.first?.outcome == .succeeded)
        #expect(!cli.everythingPrinted.contains(server.password), "the state password was printed")
    }

    @Test(.enabled(if: PostgresTestServer.enabled))
    func aStateURLWithAPasswordIsRefusedAndNothingIsOpened() async throws {
        let (cli, _) = try Self.cli()
        let result = try await cli.run(["secret", "list"], extraEnvironment: ["ROTOR_STATE_URL": "postgres://rotor:CANARY-in-url@127.0.0.1/postgres"])
        #expect(result.status != 0)
        #expect(result.output.contains("carries a password") && !result.output.contains("CANARY"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: cli.home.appendingPathComponent("state.sqlite").path))
    }

    /// A daemon on the PostgreSQL state says on `/healthz` whether it reaches the state: its role
    /// locked out and its connections ended, it reports "unreachable" (and degraded); let in again, "reachable".
    @Test(.enabled(if: PostgresTestServer.enabled))
    func theDaemonsHealthSaysWhetherItReachesTheState() async throws {
        let server = try PostgresTestServer.require()
        let (role, schema) = ("rotor_h_\(UInt32.random(in: 0...UInt32.max))", PostgresTestServer.uniqueSchema("health"))
        let password = "pw" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let admin = try await PostgresStateStore.open(try PostgresStateSettings(
            host: server.host, port: server.port, username: server.user, password: SecretValue(string: server.password), database: "postgres",
            schema: PostgresTestServer.uniqueSchema("admin"), caFile: server.caFile))
        defer { Task { await admin.close() } }
        func sql(_ statement: String) async throws {
            try await admin.write("test") { session in try await session.run(PostgresQuery(unsafeSQL: statement)) }
        }
        try await sql("CREATE ROLE \(role) LOGIN PASSWORD '\(password)'")
        try await sql("CREATE SCHEMA \(schema) AUTHORIZATION \(role)")
        let cli = try CLI()
        let url = "postgres://\(role)@\(server.host):\(server.port)/postgres?schema=\(schema)" + (server.caFile.map { "&sslrootcert=\($0)" } ?? "")
        let daemon = try DaemonProcess(home: cli.home, policies: try cli.policies(StatusPageTests.policies), token: "health-token",
                                       environment: ["ROTOR_STATE_URL": url, "ROTOR_STATE_PASSWORD": password])
        defer { daemon.signal(SIGTERM) }
        #expect(try await CLI.eventually { try await daemon.json("/healthz")["state"] as? String == "reachable" })
        try await sql("ALTER ROLE \(role) NOLOGIN")
        try await sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role)'")
        #expect(try await CLI.eventually {
            let health = try await daemon.json("/healthz")
            return health["state"] as? String == "unreachable" && health["status"] as? String == "degraded"
        }, "\(daemon.output.suffix(2000))")
        try await sql("ALTER ROLE \(role) LOGIN")
        #expect(try await CLI.eventually { try await daemon.json("/healthz")["state"] as? String == "reachable" })
        #expect(!daemon.output.contains(password), "the state password was logged")
    }
}
