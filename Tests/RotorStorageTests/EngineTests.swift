import Foundation
import Testing
import RotorCore
@testable import RotorStorage

/// The engine's behaviour, on every backend: success, failure at each step, retries, rollback,
/// quarantine and idempotency.
@Suite struct EngineTests {
    @Test(arguments: Backend.available)
    func successfulRotationMovesLabelsAndClearsPending(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let before = try await harness.current()
        let report = try await harness.engine.rotate(harness.secret)
        #expect(report.outcome == .succeeded)
        #expect(report.steps.map(\.step) == [.createSecret, .setSecret, .testSecret, .finishSecret])
        let labels = try await harness.labels()
        #expect(labels[report.token] == [.current])
        #expect(labels[before.versionID] == [.previous])
        #expect(!labels.values.contains { $0.contains(.pending) })
        let current = try await harness.current()
        #expect(current.versionID == report.token)
        #expect(harness.rotator.target.value == current.value)
        let managed = try await harness.managed()
        #expect(managed.status == .active && managed.failedRuns == 0 && managed.lastRotatedAt != nil)
    }

    @Test(arguments: Backend.available)
    func previousVersionStaysReadableAndOlderOnesLoseTheirLabel(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let first = try await harness.current().versionID
        let second = try await harness.engine.rotate(harness.secret).token
        let third = try await harness.engine.rotate(harness.secret).token
        let labels = try await harness.labels()
        #expect(labels[third] == [.current])
        #expect(labels[second] == [.previous])
        #expect(labels[first] == nil) // no label left: deprecated
        let previous = try await harness.store.getSecretValue(harness.secret, .previous)
        #expect(previous.versionID == second)
    }

    static let failingPhases: [(ScriptedRotator.Phase, RotationStep)] = [(.create, .createSecret), (.set, .setSecret), (.test, .testSecret)]

    @Test(arguments: Backend.available, [0, 1, 2])
    func permanentFailureBeforeFinishRollsBack(backend: Backend, index: Int) async throws {
        let (phase, step) = Self.failingPhases[index]
        let harness = try await Harness(backend)
        let before = try await harness.current()
        harness.rotator.on(phase, .fail(transient: false))
        let report = try await harness.engine.rotate(harness.secret)
        #expect(report.outcome == .rolledBack)
        #expect(report.error?.code == .rolledBack)
        #expect(report.error?.summary.contains(step.rawValue) == true)
        #expect(report.steps.last?.step == .rollback)
        let after = try await harness.current()
        #expect(after.versionID == before.versionID)
        #expect(harness.rotator.target.value == before.value)
        #expect(try await harness.labels().values.allSatisfy { !$0.contains(.pending) })
        let managed = try await harness.managed()
        #expect(managed.status == .failed && managed.failedRuns == 1)
        let history = try await harness.state.rotations(of: harness.secret, limit: 5)
        #expect(history.first?.outcome == .rolledBack)
        #expect(history.first?.steps.contains { $0.step == JournalStep(step) && $0.outcome == .failed } == true)
    }

    @Test(arguments: Backend.available)
    func transientFailuresAreRetriedWithCappedBackoff(backend: Backend) async throws {
        let retry = RetryPolicy(attemptsPerRun: 4, initialBackoff: .seconds(1), maximumBackoff: .seconds(2))
        let harness = try await Harness(backend, retry: retry)
        harness.rotator.on(.set, .fail(transient: true), .fail(transient: true), .fail(transient: true))
        let report = try await harness.engine.rotate(harness.secret)
        #expect(report.outcome == .succeeded)
        #expect(report.steps.first { $0.step == .setSecret }?.attempts == 4)
        // jitter 0.5 → 3/4 of the ceiling: 1 s, 2 s, then capped at 2 s.
        #expect(harness.clock.sleeps == [.milliseconds(750), .milliseconds(1500), .milliseconds(1500)])
        let attempts = try await harness.state.rotations(of: harness.secret, limit: 1)[0].steps.filter { $0.step == .setSecret }
        #expect(attempts.map(\.outcome) == [.failed, .failed, .failed, .succeeded])
    }

    @Test(arguments: Backend.available)
    func finishFailureRollsForwardAndTheNextRunFinishesWithTheSameToken(backend: Backend) async throws {
        let harness = try await Harness(backend)
        harness.rotator.on(.finish, .fail(transient: false))
        let failed = try await harness.engine.rotate(harness.secret)
        #expect(failed.outcome == .inProgress)
        #expect(failed.error?.code == .pendingRetry)
        // The hook runs after AWSCURRENT moved: consumers already have the new value; the hook is retried.
        #expect(try await harness.labels()[failed.token] == [.current])
        let resumed = try await harness.engine.rotate(harness.secret)
        #expect(resumed.resumed && resumed.token == failed.token && resumed.outcome == .succeeded)
        #expect(resumed.steps.map(\.step) == [.finishSecret])
        #expect(try await harness.current().versionID == failed.token)
    }

    @Test(arguments: Backend.available)
    func rotatorThatRollsForwardKeepsPendingAfterTestFailure(backend: Backend) async throws {
        let harness = try await Harness(backend, rotator: ScriptedRotator(afterSetFailure: .rollForward))
        harness.rotator.on(.test, .fail(transient: false))
        let failed = try await harness.engine.rotate(harness.secret)
        #expect(failed.outcome == .inProgress)
        #expect(!harness.rotator.calls.contains(.rollback))
        let resumed = try await harness.engine.rotate(harness.secret)
        #expect(resumed.outcome == .succeeded && resumed.token == failed.token)
    }

    @Test(arguments: Backend.available)
    func repeatedFailedRunsQuarantineUntilCleared(backend: Backend) async throws {
        let harness = try await Harness(backend, retry: RetryPolicy(attemptsPerRun: 1, failedRunsBeforeQuarantine: 2))
        harness.rotator.on(.test, .fail(transient: false), .fail(transient: false))
        _ = try await harness.engine.rotate(harness.secret)
        _ = try await harness.engine.rotate(harness.secret)
        #expect(try await harness.managed().status == .quarantined)
        await #expect(throws: RotorError.self) { try await harness.engine.rotate(harness.secret) }
        do {
            _ = try await harness.engine.rotate(harness.secret)
        } catch let error as RotorError {
            #expect(error.code == .quarantined)
            #expect(error.remedy?.contains("unquarantine") == true)
        }
        try await harness.engine.unquarantine(harness.secret)
        #expect(try await harness.engine.rotate(harness.secret).outcome == .succeeded)
        let events = try await harness.state.auditEvents(of: harness.secret, limit: 100).map(\.operation)
        #expect(events.contains("secret.quarantine") && events.contains("secret.unquarantine"))
    }

    @Test(arguments: Backend.available)
    func failedRollbackStaysOpenAndIsRetriedByTheNextRun(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let before = try await harness.current()
        harness.rotator.on(.test, .fail(transient: false))
        harness.rotator.on(.rollback, .fail(transient: false))
        let failed = try await harness.engine.rotate(harness.secret)
        #expect(failed.outcome == .rollingBack && failed.error?.code == .rollbackFailed)
        let retried = try await harness.engine.rotate(harness.secret)
        #expect(retried.outcome == .rolledBack && retried.token == failed.token)
        #expect(harness.rotator.target.value == before.value)
        #expect(try await harness.current().versionID == before.versionID)
    }

    @Test(arguments: Backend.available)
    func rollbackCommandRestoresPreviousOnStoreAndTarget(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let original = try await harness.current()
        let rotated = try await harness.engine.rotate(harness.secret)
        let (restored, replaced) = try await harness.engine.rollbackToPrevious(harness.secret)
        #expect(restored == original.versionID && replaced == rotated.token)
        let labels = try await harness.labels()
        #expect(labels[original.versionID] == [.current] && labels[rotated.token] == [.previous])
        #expect(harness.rotator.target.value == original.value)
    }

    @Test(arguments: Backend.available)
    func rollbackWithoutPreviousIsRefused(backend: Backend) async throws {
        let harness = try await Harness(backend)
        await #expect { try await harness.engine.rollbackToPrevious(harness.secret) } throws: { error in
            (error as? RotorError)?.code == .nothingToRollBack
        }
    }

    @Test(arguments: Backend.available)
    func stuckPendingIsRefusedOrResumedByPolicy(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let stuck = VersionID("0b5a3e2c-0000-4000-8000-000000000001")
        try await harness.store.putSecretValue(PutSecretValueInput(id: harness.secret, token: stuck, value: SecretValue(string: "half-done"), stages: [.pending]))
        await #expect { try await harness.engine.rotate(harness.secret) } throws: { error in
            (error as? RotorError)?.code == .previousRotationIncomplete
        }
        let resuming = RotationEngine(
            store: harness.store, state: harness.state, rotators: harness.engine.rotators, clock: harness.clock,
            configuration: EngineConfiguration(stuckPending: .resume, actor: "test"))
        let report = try await resuming.rotate(harness.secret)
        #expect(report.resumed && report.token == stuck && report.outcome == .succeeded)
        #expect(report.steps.first?.outcome == .skipped)
        #expect(try await harness.current().versionID == stuck)
    }

    @Test(arguments: Backend.available)
    func pendingLeftOnCurrentIsCleanedBeforeTheNextRotation(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let current = try await harness.current().versionID
        try await harness.store.updateSecretVersionStage(UpdateVersionStageInput(id: harness.secret, stage: .pending, moveTo: current))
        #expect(try await harness.engine.rotate(harness.secret).outcome == .succeeded)
        #expect(try await harness.labels().values.allSatisfy { !$0.contains(.pending) })
    }

    @Test(arguments: Backend.available)
    func unmanagedSecretIsAClearError(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let other = harness.instance.id("other/api-key/x")
        await #expect { try await harness.engine.rotate(other) } throws: { error in
            let error = error as? RotorError
            return error?.code == .notManaged && error?.secret == other
        }
    }

    @Test(arguments: Backend.available)
    func manualRotatorWithoutSuppliedValueFailsCleanly(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let id = harness.instance.id("claude-sdk/api-key/anthropic-key")
        try await harness.engine.createManagedSecret(id, rotator: "manual", options: RotatorOptions(["pattern": "sk-ant-[a-z0-9]+"]), initialValue: SecretValue(string: "sk-ant-old"))
        let report = try await harness.engine.rotate(id)
        #expect(report.outcome == .rolledBack)
        #expect(report.error?.summary.contains("needs the new value") == true)
        let good = try await harness.engine.rotate(id, suppliedValue: SecretValue(string: "sk-ant-new1"))
        #expect(good.outcome == .succeeded)
        #expect(try await harness.store.getSecretValue(id, .current).value == SecretValue(string: "sk-ant-new1"))
    }

    /// Every built-in rotator, end to end, on every store (moto included).
    @Test(arguments: Backend.available)
    func builtInRotatorsCreateDescribeListAndRotate(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let password = harness.instance.id("github-integration/api-token/personal-access-token")
        let key = harness.instance.id("template-management/encryption-key/template-key")
        let manual = harness.instance.id("claude-sdk/api-key/anthropic-key")
        let passwordOptions = RotatorOptions(["field": "token", "length": "40", "exclude-characters": ":/@\"'\\"])
        let engine = harness.engine
        try await engine.createManagedSecret(password, rotator: "random-password", options: passwordOptions,
                                             initialValue: SecretValue(string: #"{"token":"tok_initial","username":"service-user"}"#))
        let firstKey = try await engine.rotators.descriptor("encryption-key").initialValue(RotatorOptions(), store: harness.store)!
        try await engine.createManagedSecret(key, rotator: "encryption-key", options: RotatorOptions(), initialValue: firstKey)
        try await engine.createManagedSecret(manual, rotator: "manual", options: RotatorOptions(["pattern": "sk-ant-[a-z0-9]{8,}"]),
                                             initialValue: SecretValue(string: "sk-ant-initial00"))
        for _ in 0..<2 {
            #expect(try await engine.rotate(password).succeeded)
            #expect(try await engine.rotate(key).succeeded)
        }
        #expect(try await engine.rotate(manual, suppliedValue: SecretValue(string: "sk-ant-rotated01")).succeeded)

        let token = try #require(try await harness.store.getSecretValue(password, .current).value.exposedString)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(token.utf8)) as? [String: String])
        #expect(object["username"] == "service-user" && object["token"]?.count == 40)
        let currentKey = try await harness.store.getSecretValue(key, .current).value
        let previousKey = try await harness.store.getSecretValue(key, .previous).value
        #expect(currentKey.kind == .binary && currentKey.byteCount == 32 && previousKey.byteCount == 32 && currentKey != previousKey)
        #expect(try await harness.store.getSecretValue(manual, .current).value == SecretValue(string: "sk-ant-rotated01"))
        let listed = try await harness.store.listSecrets(in: .only(password.environment)).map(\.id)
        #expect(Set(listed).isSuperset(of: [password, key, manual]))
        #expect(try await harness.store.describeSecret(key).versionIDsToStages.values.filter { !$0.isEmpty }.count == 2)
    }
}
