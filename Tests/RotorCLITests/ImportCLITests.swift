import Foundation
import RotorTestSupport
import Testing

/// `rotor import env` from a dotenv file: a dry run by default, secrets created with --apply, the
/// consumer's change printed, never a value.
@Suite struct ImportCLITests {
    @Test func aDotenvFileIsPlannedThenImportedWithoutPrintingAValue() async throws {
        let cli = try CLI()
        let env = cli.home.appendingPathComponent("orders.env")
        try "GITHUB_TOKEN=CANARY-import-ghp\nDB_PASSWORD='CANARY-import-db'\nLOG_LEVEL=info\n".write(to: env, atomically: true, encoding: .utf8)
        let plan = try await cli.run(["import", "env", "--from", env.path, "--environment", "prod", "--service", "orders"])
        #expect(plan.status == 0 && plan.stdout.contains("GITHUB_TOKEN -> /prod/orders/api-token/github-token  would create"))
        #expect(plan.stdout.contains("LOG_LEVEL -> -  left alone") && plan.stdout.contains("dry run: nothing changed"))
        #expect(try await cli.run(["secret", "list"]).stdout.isEmpty)

        let applied = try await cli.run(["import", "env", "--from", env.path, "--environment", "prod", "--service", "orders", "--apply"])
        #expect(applied.status == 0 && applied.stdout.contains("2 secret(s) created"), "\(applied.stderr)")
        #expect(applied.stdout.contains("secretId=/prod/orders/database/db-password"))
        #expect(try await cli.run(["secret", "get", "/prod/orders/database/db-password"]).stdout == "CANARY-import-db\n")
        let again = try await cli.run(["import", "env", "--from", env.path, "--environment", "prod", "--service", "orders", "--apply"])
        #expect(again.stdout.contains("exists: not changed") && again.stdout.contains("0 secret(s) created"))
        for result in [plan, applied, again] { #expect(!(result.stdout + result.stderr).contains("CANARY")) }
    }
}
