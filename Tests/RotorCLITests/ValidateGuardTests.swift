import Foundation
import Testing

/// `rotor validate` refuses, at the policy's line, a rotator without a target over a managed secret
/// whose value belongs to an outside system, unless the policy says value-only.
@Suite struct ValidateGuardTests {
    @Test func aRandomPasswordPolicyOverADatabaseLoginIsRefusedAtItsLine() async throws {
        let cli = try CLI()
        let value = #"{"engine":"postgres","host":"db.internal","username":"app","password":"initial-db-password"}"#
        #expect(try await cli.run("secret", "create", "/prod/orders/db-credentials/app", "--rotator", "manual", "--value-stdin", stdin: value).status == 0)
        let policies = cli.home.appendingPathComponent("policies")
        try FileManager.default.createDirectory(at: policies, withIntermediateDirectories: true)
        let policy = """
            policies:
              - name: db
                match: [/prod/*/db-credentials/*]
                rotator: random-password
                options: {field: password}
                every: 30d
            """
        try policy.write(to: policies.appendingPathComponent("db.yaml"), atomically: true, encoding: .utf8)
        let refused = try await cli.run("validate", policies.path)
        #expect(refused.status == 64 && refused.output.contains("db.yaml:2:") && refused.output.contains("AWS's database secret JSON"), "\(refused.output)")
        #expect(refused.output.contains("postgres-alternating-users") && !cli.everythingPrinted.contains("initial-db-password"))

        try policy.replacingOccurrences(of: "{field: password}", with: "{field: password, value-only: \"true\"}")
            .write(to: policies.appendingPathComponent("db.yaml"), atomically: true, encoding: .utf8)
        let allowed = try await cli.run("validate", policies.path)
        #expect(allowed.status == 0, "\(allowed.output)")
    }
}
