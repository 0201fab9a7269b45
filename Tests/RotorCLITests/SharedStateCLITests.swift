import Foundation
import Testing
import RotorCore
import RotorStatePostgres
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
}
