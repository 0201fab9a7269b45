import Foundation
import Testing
import RotorCore
import RotorStorage
import RotorStatePostgres
import RotorAWS

/// Interruptions between every pair of steps and inside each step, then a resume with the same token.
@Suite struct ResumeTests {
    static let crashPoints: [CrashPoint] =
        RotationStep.allCases.map(CrashPoint.afterIntent) + RotationStep.allCases.map(CrashPoint.beforeCompletion)
        + [.afterPut, .afterLabelMove(.current), .afterLabelMove(.pending)]

    @Test(arguments: Backend.available, crashPoints)
    func crashThenResumeFinishesWithTheSameToken(backend: Backend, point: CrashPoint) async throws {
        let harness = try await Harness(backend)
        let original = try await harness.current()
        let crash = CrashSwitch(point)
        let crashing = harness.engine(store: CrashingSecretStore(base: harness.store, crash: crash), state: CrashingStateStore(base: harness.state, crash: crash))
        await #expect(throws: CancellationError.self) { try await crashing.rotate(harness.secret) }
        #expect(crash.fired)
        let open = try #require(try await harness.state.openRotation(for: harness.secret))

        let resumed = try await harness.reopened().rotate(harness.secret)
        #expect(resumed.resumed && resumed.token == open.token && resumed.outcome == .succeeded)
        try await harness.expectCleanlyRotated(from: original, to: open.token)
    }

    static let interruptedPhases: [(ScriptedRotator.Phase, ScriptedRotator.Action)] = [
        (.create, .interruptBefore), (.create, .interruptAfter), (.set, .interruptBefore), (.set, .interruptAfter),
        (.test, .interruptBefore), (.test, .interruptAfter), (.finish, .interruptBefore), (.finish, .interruptAfter),
    ]

    @Test(arguments: Backend.available, 0..<8)
    func interruptionInsideARotatorStepResumes(backend: Backend, index: Int) async throws {
        let (phase, action) = Self.interruptedPhases[index]
        let harness = try await Harness(backend)
        let original = try await harness.current()
        harness.rotator.on(phase, action)
        await #expect(throws: CancellationError.self) { try await harness.engine.rotate(harness.secret) }
        let open = try #require(try await harness.state.openRotation(for: harness.secret))
        let resumed = try await harness.reopened().rotate(harness.secret)
        #expect(resumed.token == open.token && resumed.outcome == .succeeded)
        try await harness.expectCleanlyRotated(from: original, to: open.token)
    }

    @Test(arguments: Backend.available)
    func crashDuringRollbackIsFinishedByTheNextRun(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let original = try await harness.current()
        harness.rotator.on(.test, .fail(transient: false))
        harness.rotator.on(.rollback, .interruptAfter)
        await #expect(throws: CancellationError.self) { try await harness.engine.rotate(harness.secret) }
        #expect(try await harness.state.openRotation(for: harness.secret)?.outcome == .rollingBack)
        let resumed = try await harness.reopened().rotate(harness.secret)
        #expect(resumed.outcome == .rolledBack)
        #expect(try await harness.current().versionID == original.versionID)
        #expect(harness.rotator.target.value == original.value)
        #expect(try await harness.labels().values.allSatisfy { !$0.contains(.pending) })
    }

    @Test(arguments: Backend.available)
    func everyStepRunTwiceIsIdempotent(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let original = try await harness.current()
        let first = try await harness.engine.rotate(harness.secret)
        // Replay all four steps of the finished rotation with the same token: each must be a no-op.
        let replay = try await harness.replay(token: first.token)
        #expect(replay.allSatisfy { $0.outcome == .skipped })
        try await harness.expectCleanlyRotated(from: original, to: first.token)
    }
}

extension Harness {
    /// An engine like this harness's, over other store objects.
    func engine(store: any SecretStore, state: any RotationStateStore) -> RotationEngine {
        RotationEngine(store: store, state: state, rotators: engine.rotators, clock: clock, configuration: engine.configuration, logger: logs.logger, jitter: { 0.5 })
    }

    /// A fresh engine, as after a restart: for the embedded backend, over freshly opened files; for
    /// PostgreSQL, over new connections to the same schema.
    func reopened() async throws -> RotationEngine {
        guard let directory else { return engine(store: store, state: state) }
        let state: any RotationStateStore = if let postgres = self.state as? PostgresStateStore {
            try await PostgresState.open(schema: postgres.settings.schema)
        } else {
            try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"))
        }
        if store is AWSSecretStore { return engine(store: try MotoEnvironment.store(), state: state) }
        let store = try EmbeddedSecretStore(
            url: directory.appendingPathComponent("store.sqlite"),
            keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")), clock: clock)
        return engine(store: store, state: state)
    }

    /// Runs each step of an existing rotation again through a rotation record reopened by hand.
    func replay(token: VersionID) async throws -> [StepReport] {
        let replayState = InMemoryStateStore()
        try await replayState.register(try await managed(), audit: AuditEvent(at: clock.now(), actor: "test", secret: secret, operation: "replay", outcome: "ok"))
        try await replayState.beginRotation(RotationRecord(token: token, secret: secret, trigger: "replay", startedAt: clock.now()),
                                            audit: AuditEvent(at: clock.now(), actor: "test", secret: secret, operation: "replay", outcome: "ok"))
        return try await engine(store: store, state: replayState).rotate(secret).steps
    }

    func expectCleanlyRotated(from original: SecretVersionValue, to token: VersionID) async throws {
        let labels = try await labels()
        #expect(labels[token] == [.current])
        #expect(labels[original.versionID] == [.previous])
        #expect(labels.values.allSatisfy { !$0.contains(.pending) })
        let current = try await current()
        if rotator.hasTarget { #expect(rotator.target.value == current.value) }
        #expect(try await state.openRotation(for: secret) == nil)
        #expect(try await managed().status == .active)
    }
}
