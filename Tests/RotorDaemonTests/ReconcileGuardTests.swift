import Foundation
import Logging
import RotorCore
import RotorDaemon
import RotorPolicies
import Testing

/// The daemon's reconcile applies the same guard rails as the CLI: a policy that would put a rotator
/// without a target over a credential of an outside system is not applied, and a secret whose
/// rotator records facts from its value is not managed automatically. Neither stops the pass.
@Suite struct ReconcileGuardTests {
    static let start = try! Date("2027-01-01T12:00:00Z", strategy: .iso8601)

    @Test func aPolicyThatWouldFakeARotationIsNotAppliedAndThePassGoesOn() async throws {
        let logs = CapturedLogs()
        let policies = PolicySet(policies: [
            RotationPolicy(name: "db", matchers: [try SecretMatcher("/prod/*/db-credentials/*")], rotator: "random-password",
                           options: RotatorOptions(["field": "password"]), schedule: .every(PolicyDuration("30d")!)),
        ], files: [])
        let harness = try SchedulerHarness(start: Self.start, policies: policies)
        let reconciler = PolicyReconciler(engine: harness.engine, schedule: harness.state, clock: harness.clock, logger: logs.logger)
        let login = try SecretID("/prod/orders/db-credentials/app")
        try await harness.engine.createManagedSecret(login, rotator: "manual", options: RotatorOptions(),
                                                     initialValue: SecretValue(string: #"{"engine":"postgres","host":"db","password":"canary-db-pw"}"#))
        let plain = try SecretID("/prod/orders/db-credentials/cache")
        try await harness.engine.createManagedSecret(plain, rotator: "manual", options: RotatorOptions(), initialValue: SecretValue(string: #"{"password":"p"}"#))

        _ = try await reconciler.reconcile(policies)
        #expect(try await harness.state.managedSecret(login)?.rotator == "manual", "not applied")
        #expect(try await harness.state.managedSecret(plain)?.rotator == "random-password", "the pass went on")
        #expect(logs.all.contains { $0.contains("policy not applied") && $0.contains("database secret JSON") })
        #expect(!logs.all.joined().contains("canary-db-pw"))
    }

    @Test func aSecretWhoseRotatorRecordsFactsFromItsValueIsNotManagedAutomatically() async throws {
        let logs = CapturedLogs()
        let policies = PolicySet(policies: [
            RotationPolicy(name: "cognito", matchers: [try SecretMatcher("/prod/cognito/app-client/*")], rotator: "cognito-app-client",
                           schedule: .every(PolicyDuration("90d")!)),
        ], files: [])
        let harness = try SchedulerHarness(start: Self.start, policies: policies, rotators: .shipped)
        let id = try SecretID("/prod/cognito/app-client/secret")
        _ = try await harness.store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string:
            #"{"userPoolId":"eu-west-1_Victim1","clientId":"c1","clientSecret":"s"}"#)))
        let reconciler = PolicyReconciler(engine: harness.engine, schedule: harness.state, clock: harness.clock, logger: logs.logger)
        _ = try await reconciler.reconcile(policies)
        #expect(try await harness.state.managedSecret(id) == nil)
        #expect(logs.all.contains { $0.contains("not managed automatically") && $0.contains("client-id, user-pool-id") })
    }
}
