import Foundation
import GRDB
import Logging
import RotorCore
import RotorDaemon
import RotorPolicies
import RotorRotators
import RotorStorage
import Testing

/// A full reconcile pass compares every managed row with the policies in one streamed read and
/// writes only what differs: each kind of difference is found, and nothing else is touched.
@Suite struct FullReconcileTests {
    static let start = Date(timeIntervalSince1970: 1_780_000_000)

    static func policy(_ name: String, _ pattern: String, every days: Int = 30, options: [String: String] = ["length": "32"]) throws -> RotationPolicy {
        RotationPolicy(
            name: name, matchers: [try SecretMatcher(pattern)], rotator: "random-password", options: RotatorOptions(options),
            schedule: .every(PolicyDuration(seconds: days * 86_400)))
    }

    @Test func aFullPassFindsEachKindOfDifferenceAndTouchesNothingElse() async throws {
        let policies = PolicySet(policies: [
            try Self.policy("api", "/prod/api/*/*"),
            try Self.policy("db", "/prod/db/**"),
            try Self.policy("overlap", "/prod/db/shared/*"),
        ], files: [])
        let harness = try SchedulerHarness(start: Self.start, policies: policies)
        let reconciler = PolicyReconciler(engine: harness.engine, schedule: harness.state, clock: harness.clock, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        let value = SecretValue(string: "initial-value")
        let ids = try ["/prod/api/orders/key", "/prod/api/billing/key", "/prod/db/orders/user", "/prod/db/shared/user", "/prod/misc/other/key"].map { try SecretID($0) }
        for id in ids {
            try await harness.engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions(["length": "32"]), initialValue: value)
        }
        let first = try await reconciler.reconcile(policies)
        #expect(first.scheduled == 3, "api ×2 and db/orders; the shared secret matches two policies, misc none")
        let unchanged = try await reconciler.reconcile(policies)
        #expect(unchanged.scheduled + unchanged.rescheduled + unchanged.registered + unchanged.unscheduled == 0, "a pass with nothing to change changes nothing")

        // Each kind of difference, one secret each: a store-only secret, changed options, a changed
        // schedule, a policy that no longer matches.
        let storeOnly = try SecretID("/prod/api/search/key")
        _ = try await harness.store.createSecret(CreateSecretInput(id: storeOnly, initialValue: value))
        let changed = PolicySet(policies: [
            try Self.policy("api", "/prod/api/*/*", options: ["length": "48"]),
            try Self.policy("db", "/prod/db/orders/*", every: 7),
            try Self.policy("overlap", "/prod/db/shared/*"),
        ], files: [])
        let before = try await harness.state.scheduleEntries(in: .all)
        let summary = try await reconciler.reconcile(changed)
        #expect(summary.registered == 1 && summary.scheduled == 2, "the store-only secret is registered; it and the shared secret (now matched once) are scheduled")
        #expect(summary.rescheduled == 1, "db/orders: its policy's period changed")
        #expect(summary.unscheduled == 0)
        for id in ids.prefix(2) + [storeOnly] {
            #expect(try await harness.state.managedSecret(id)?.options["length"] == "48", "\(id) takes the policy's new options")
        }
        let after = Dictionary(uniqueKeysWithValues: try await harness.state.scheduleEntries(in: .all).map { ($0.secret, $0) })
        let old = Dictionary(uniqueKeysWithValues: before.map { ($0.secret, $0) })
        #expect(after[ids[0]] == old[ids[0]] && after[ids[1]] == old[ids[1]], "new options leave the deadlines alone")
        #expect(after[ids[2]]?.fingerprint != old[ids[2]]?.fingerprint)
        #expect(after[ids[4]] == nil, "no policy, no schedule")

        let narrowed = PolicySet(policies: [try Self.policy("db", "/prod/db/orders/*", every: 7)], files: [])
        let dropped = try await reconciler.reconcile(narrowed)
        #expect(dropped.unscheduled == 4, "api ×3 and the shared secret lost their policies")
        #expect(try await harness.state.scheduleEntries(in: .all).map(\.secret) == [ids[2]])
    }

    /// The pass's scan does not check MACs, but a row it flags is decided on its verified read: an
    /// options column rewritten outside rotor (same meaning, other bytes) fails the pass loudly.
    @Test func aRowEditedOutsideRotorFailsTheFullPass() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-tamper-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let keySource = MasterKeySource.environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key"))
        let store = try EmbeddedSecretStore(url: directory.appendingPathComponent("store.sqlite"), keySource: keySource)
        let statePath = directory.appendingPathComponent("state.sqlite")
        let state = try SQLiteStateStore(url: statePath, authenticator: store.rotatorConfigAuthenticator)
        let engine = RotationEngine(store: store, state: state, rotators: .builtIn, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        let reconciler = PolicyReconciler(engine: engine, schedule: state, clock: SystemClock(), logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        let policies = PolicySet(policies: [try Self.policy("api", "/prod/api/*/*")], files: [])
        let id = try SecretID("/prod/api/orders/key")
        try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions(["length": "32"]), initialValue: SecretValue(string: "v"))
        _ = try await reconciler.reconcile(policies)

        let queue = try DatabaseQueue(path: statePath.path)
        try await queue.write { db in try db.execute(sql: "UPDATE managed_secret SET options_json = ' ' || options_json") }
        try queue.close()
        await #expect { try await reconciler.reconcile(policies) } throws: { ($0 as? RotorError)?.code == .storeCorrupted }
    }
}
