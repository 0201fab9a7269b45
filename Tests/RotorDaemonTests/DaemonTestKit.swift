import Foundation
import Logging
import Synchronization
import RotorCore
@testable import RotorDaemon
import RotorTestSupport
import RotorPolicies
import RotorRotators
import RotorStorage
import RotorPostgres
import RotorGitHub
import RotorCognito
import RotorHTTP

/// An embedded store, a state database and a scheduler over them, on a simulated clock.
struct SchedulerHarness {
    let directory: URL
    let clock: TestClock
    let store: EmbeddedSecretStore
    let state: SQLiteStateStore
    let engine: RotationEngine
    let scheduler: RotationScheduler
    let policies: PolicySet

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    init(
        start: Date, policies: PolicySet? = nil, rotators: RotatorRegistry = .shippedSimulated, configuration: SchedulerConfiguration = SchedulerConfiguration(),
        sleeping: TestClock.Sleeping = .advancesTime
    ) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-daemon-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        clock = TestClock(start, sleeping: sleeping)
        store = try EmbeddedSecretStore(
            url: directory.appendingPathComponent("store.sqlite"),
            keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")), clock: clock, synchronous: .normal)
        state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .normal)
        let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        engine = RotationEngine(store: store, state: state, rotators: rotators, clock: clock,
                                configuration: EngineConfiguration(actor: "daemon"), logger: quiet)
        let set = try policies ?? PolicyLoader(rotators: rotators).load(path: Self.repository.appendingPathComponent("schedules").path)
        self.policies = set
        scheduler = RotationScheduler(
            engine: engine, schedule: state, policies: { set }, clock: clock,
            alerts: AlertCenter(outbox: state, clock: clock, logger: quiet), metrics: RotorMetrics(), configuration: configuration, logger: quiet)
    }

    /// Runs the scheduler's ticks, jumping the clock from deadline to deadline, until `end`.
    func simulate(until end: Date) async throws {
        try await scheduler.start()
        while clock.now() < end {
            try await scheduler.tick()
            guard let next = try await state.earliestDeadline(in: .all), next <= end else { break }
            clock.set(max(next, clock.now().addingTimeInterval(1)))
        }
    }
}

extension RotatorRegistry {
    /// Every kind the shipped policies name, with its real options (so loading `schedules/` checks them).
    static let shipped: RotatorRegistry = {
        var registry = RotatorRegistry.withPostgres
        RotatorRegistry.gitHubDescriptors.forEach { registry.register($0) }
        RotatorRegistry.cognitoDescriptors(environment: [:]).forEach { registry.register($0) }
        return registry.withProbes()
    }()

    /// ``shipped``, with the kinds that need an outside system (GitHub, Cognito, PostgreSQL) replaced
    /// by rotators that make a random value under the same name and options: the scheduler's
    /// simulations exercise schedules, not credentials.
    static let shippedSimulated: RotatorRegistry = {
        var registry = shipped
        for kind: RotatorKind in ["github-pat", "github-app-token", "cognito-app-client", "postgres-alternating-users", "postgres-single-user"] {
            guard let real = try? shipped.descriptor(kind) else { continue }
            registry.register(RotatorDescriptor(
                kind: kind, summary: "simulated " + real.summary, options: real.options,
                build: { _ throws(RotorError) in SimulatedRotator(kind: kind) }, initialValue: { _, _ in SecretValue(string: "initial") }))
        }
        return registry.withProbes()
    }()
}

/// A rotator under a real kind's name that changes nothing outside: a fresh random value each time.
/// Like the kind it stands in for, it has a target (an empty one).
struct SimulatedRotator: Rotator {
    let kind: RotatorKind
    var hasTarget: Bool { true }
    var createReadsCurrent: Bool { false }
    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        CreateSecretResponse(newValue: SecretValue(string: UUID().uuidString))
    }
    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse { TestSecretResponse() }
}
