import Foundation
import Logging
import RotorCore
import RotorStorage
import RotorTestSupport
import Synchronization
import Testing

/// A step past its time limit (80% of the lock's lifetime) is cancelled and fails as transient; the
/// next attempt runs. The lock's heartbeat runs beside it, as a child of the caller's task.
@Suite struct StepTimeoutTests {
    /// On threads of the tests' own: a second attempt queued behind a hundred suites could meet the limit too.
    @Test func aStepPastItsLimitIsCancelledAndTheNextAttemptRuns() async throws {
        try await withTaskExecutorPreference(DedicatedExecutor.shared) { try await stepPastItsLimit() }
    }

    func stepPastItsLimit() async throws {
        let world = try FencingTests.TwoProcesses()
        let slow = SlowOnceRotator()
        var registry = RotatorRegistry.builtIn
        registry.register(RotatorDescriptor(kind: "slow-once", summary: "test", options: [:], build: { _ throws(RotorError) in slow }, initialValue: { _, _ in nil }))
        let engine = RotationEngine(
            store: InMemorySecretStore(), state: try SQLiteStateStore(url: world.directory.appendingPathComponent("state.sqlite"), synchronous: .normal),
            rotators: registry, configuration: EngineConfiguration(retry: RetryPolicy(attemptsPerRun: 2), actor: "t", lockTTL: 3),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await engine.createManagedSecret(world.id, rotator: "slow-once", options: RotatorOptions(), initialValue: SecretValue(string: "initial"))

        let report = try await engine.rotate(world.id)

        #expect(report.succeeded)
        #expect(slow.log == ["create: cancelled", "create: done"])
        let steps = try #require(try await engine.state.rotations(of: world.id, limit: 1).first).steps
        let creates = steps.filter { $0.step == .createSecret }
        #expect(creates.map(\.outcome) == [.failed, .succeeded])
        #expect(creates.first?.error?.contains("createSecret did not finish within 2s and was cancelled") == true, "\(creates)")
    }
}

/// A rotation whose setSecret holds until `gate` opens, on a state store whose renewals fail `failures` times.
struct HeldStepWithFailingRenewals {
    let world: FencingTests.TwoProcesses
    let gate = Gate()
    let renewals: FailingRenewals
    let engine: RotationEngine
    let rotation: Task<RotationReport, any Error>

    init(failures: Int) async throws {
        world = try FencingTests.TwoProcesses()
        renewals = FailingRenewals(base: try SQLiteStateStore(url: world.directory.appendingPathComponent("state.sqlite"), synchronous: .normal), failures: failures)
        var registry = RotatorRegistry.builtIn
        let rotator = SharedTargetRotator(owner: "A", target: world.target, calls: world.calls, gate: gate)
        registry.register(RotatorDescriptor(kind: "shared", summary: "test", options: [:], build: { _ throws(RotorError) in rotator }, initialValue: { _, _ in nil }))
        // Renewals every 2 s; the lock is known to last 4 s past the last one.
        let engine = RotationEngine(
            store: InMemorySecretStore(), state: renewals, rotators: registry,
            configuration: EngineConfiguration(actor: "t", lockTTL: 6, lockOwner: "A"), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await engine.createManagedSecret(world.id, rotator: "shared", options: RotatorOptions(), initialValue: SecretValue(string: "initial"))
        self.engine = engine
        rotation = Task(executorPreference: DedicatedExecutor.shared) { [id = world.id] in try await engine.rotate(id) }
        for _ in 0..<12000 where renewals.renewals < 2 { try await Task.sleep(for: .milliseconds(10)) }
    }
}

extension StepTimeoutTests {
    /// A renewal that fails without the lock being lost (a busy database) is tried again a second
    /// later; the step it guards goes on and succeeds.
    @Test func aRenewalThatFailsOnceNeitherFailsNorStopsTheStep() async throws {
        try await withTaskExecutorPreference(DedicatedExecutor.shared) {
            let held = try await HeldStepWithFailingRenewals(failures: 1) // the failure at 2 s, the retry at 3 s
            held.gate.open()
            let report = try await held.rotation.value
            #expect(report.succeeded, "\(report.error.map(String.init(describing:)) ?? "")")
            #expect(held.renewals.failed == 1 && held.renewals.renewals >= 2)
        }
    }

    /// Renewals that keep failing (the state database is unreachable): before the lock may lapse
    /// the step's work is cancelled and the run stops, open, for the next run to resume.
    @Test func renewalsFailingUntilTheLockMayLapseStopTheRun() async throws {
        try await withTaskExecutorPreference(DedicatedExecutor.shared) {
            let held = try await HeldStepWithFailingRenewals(failures: .max) // 2 s fails, the retry at 3 s gives up
            try await Task.sleep(for: .milliseconds(200))
            held.gate.open() // the work ignores cancellation until now
            await #expect { _ = try await held.rotation.value } throws: { error in
                (error as? RotorError)?.code == .storeUnavailable && "\(error)".contains("could not be renewed")
            }
            #expect(held.renewals.renewals == 2, "no renewal after giving up")
            #expect(held.world.calls.all == ["A:create", "A:set"], "nothing after the interrupted step")
            #expect(try await held.engine.state.openRotation(for: held.world.id) != nil, "the rotation stays open for the next run")
        }
    }
}

/// Lock renewals during a step (not the first take of the lock), of which the first `failures` fail as a busy database would.
final class FailingRenewals: ForwardingStateStore, Sendable {
    let base: any RotationStateStore
    let failures: Int
    private let counts = Mutex((renewals: 0, failed: 0))
    var renewals: Int { counts.withLock { $0.renewals } }
    var failed: Int { counts.withLock { $0.failed } }
    init(base: any RotationStateStore, failures: Int = 1) { (self.base, self.failures) = (base, failures) }

    func acquireSecretLock(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> SecretLock? {
        let fails = counts.withLock { counts in
            counts.renewals += 1
            guard counts.failed < failures else { return false }
            counts.failed += 1
            return true
        }
        if fails { throw RotorError(.storeUnavailable, "database is locked (simulated)", isTransient: true) }
        return try await base.acquireSecretLock(id, owner: owner, ttl: ttl, now: now)
    }
}

/// A rotator whose first createSecret waits (until cancelled) far past any step limit.
final class SlowOnceRotator: Rotator, Sendable {
    let kind: RotatorKind = "slow-once"
    let hasTarget = true
    private let calls = Mutex<[String]>([])
    var log: [String] { calls.withLock { $0 } }

    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        if calls.withLock({ $0.isEmpty }) {
            do { try await Task.sleep(for: .seconds(60)) } catch { calls.withLock { $0.append("create: cancelled") }; throw error }
        }
        calls.withLock { $0.append("create: done") }
        return CreateSecretResponse(newValue: SecretValue(string: "value-\(context.token)"))
    }
    func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse { SetSecretResponse() }
    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse { TestSecretResponse() }
    func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse { FinishSecretResponse() }
    func rollback(_ request: RollbackRequest, context: RotationContext) async throws {}
}
