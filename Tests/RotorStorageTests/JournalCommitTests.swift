import Foundation
import Synchronization
import Testing
import RotorCore
@testable import RotorStorage

/// How many durable writes a rotation costs, and that the writes rotor saves lose nothing: the
/// journal still holds every step and attempt, the lock still ends, and a crash at any point still resumes.
@Suite struct JournalCommitTests {
    @Test(arguments: Backend.available)
    func aRotationWithoutATargetCostsSixWrites(backend: Backend) async throws {
        let harness = try await Harness(backend, rotator: ScriptedRotator(hasTarget: false))
        let (state, store) = (CountingStateStore(base: harness.state), CountingSecretStore(base: harness.store))
        let report = try await harness.counting(store: store, state: state).rotate(harness.secret)
        #expect(report.outcome == .succeeded)
        // Lock; rotation + createSecret's intent; PutSecretValue; createSecret's end + setSecret and
        // testSecret whole + finishSecret's intent; both label moves; the run's end + the lock's release.
        #expect(state.writes == ["lockAndRead", "beginStep", "beginStep", "finishRun"])
        #expect(store.writes == ["putSecretValue", "updateSecretVersionStages"])
        #expect(try await harness.state.secretLockHolder(harness.secret, now: harness.clock.now()) == nil)

        let rotation = try #require(try await harness.state.rotations(of: harness.secret, limit: 1).first)
        #expect(rotation.outcome == .succeeded && rotation.lastCompletedStep == .finishSecret)
        #expect(rotation.steps.map(\.step) == [.createSecret, .setSecret, .testSecret, .finishSecret])
        #expect(rotation.steps.map(\.outcome) == [.succeeded, .skipped, .succeeded, .succeeded])
        #expect(rotation.steps.allSatisfy { $0.endedAt != nil && $0.owner != nil })
        let operations = try await harness.state.auditEvents(of: harness.secret, limit: 10).map(\.operation)
        #expect(operations.suffix(2) == ["rotation.start", "rotation.finish"])
    }

    @Test(arguments: Backend.available)
    func aTargetsStepsKeepTheirOwnIntents(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let state = CountingStateStore(base: harness.state)
        let report = try await harness.counting(store: harness.store, state: state).rotate(harness.secret)
        #expect(report.outcome == .succeeded)
        #expect(state.writes == ["lockAndRead", "beginStep", "beginStep", "beginStep", "beginStep", "finishRun"])
    }

    @Test(arguments: Backend.available)
    func attemptsOfAStepWithoutIntentAreJournaledWhole(backend: Backend) async throws {
        let harness = try await Harness(backend, rotator: ScriptedRotator(hasTarget: false), retry: RetryPolicy(attemptsPerRun: 3))
        harness.rotator.on(.test, .fail(transient: true))
        let report = try await harness.engine.rotate(harness.secret)
        #expect(report.outcome == .succeeded)
        let steps = try #require(try await harness.state.rotations(of: harness.secret, limit: 1).first).steps
        #expect(steps.map(\.step) == [.createSecret, .setSecret, .testSecret, .testSecret, .finishSecret])
        #expect(steps.map(\.attempt) == [1, 1, 1, 2, 1])
        #expect(steps.map(\.outcome) == [.succeeded, .skipped, .failed, .succeeded, .succeeded])
        #expect(steps[2].error?.contains("scripted failure in test") == true)
    }

    /// A step without an intent extends no lock: after a long backoff the run renews it before the
    /// next attempt, so the lock never lapses under work in flight.
    @Test(arguments: Backend.available)
    func aStepWithoutIntentRenewsALockItsBackoffOutlasted(backend: Backend) async throws {
        let retry = RetryPolicy(attemptsPerRun: 3, initialBackoff: .seconds(40), maximumBackoff: .seconds(40))
        let harness = try await Harness(backend, rotator: ScriptedRotator(hasTarget: false), retry: retry)
        harness.rotator.on(.test, .fail(transient: true))
        let state = CountingStateStore(base: harness.state)
        let report = try await harness.counting(store: harness.store, state: state).rotate(harness.secret)
        #expect(report.outcome == .succeeded)
        #expect(harness.clock.sleeps == [.seconds(30)], "one backoff of 3/4 of 40 s")
        // The lock (60 s) was extended at createSecret's intent; 30 s later less than two heartbeat
        // intervals (2 × 20 s) were left, so the second attempt renewed it first; the first did not.
        #expect(state.writes == ["lockAndRead", "beginStep", "journal", "acquireSecretLock", "beginStep", "finishRun"], "\(state.writes)")
    }

    /// Every intent, the rollback's included, extends the lock for a full lifetime.
    @Test func theRollbacksIntentExtendsTheLock() async throws {
        let harness = try await Harness(.inMemory, rotator: ScriptedRotator(hasTarget: false))
        harness.rotator.on(.test, .fail(transient: false))
        let state = IntentLockRecorder(base: harness.state)
        #expect(try await harness.counting(store: harness.store, state: state).rotate(harness.secret).outcome == .rolledBack)
        #expect(state.intents == [.createSecret, .rollback] && state.extendedEveryLock)
    }

    @Test(arguments: Backend.available)
    func aFailedTestWithoutIntentIsJournaledBeforeTheRollback(backend: Backend) async throws {
        let harness = try await Harness(backend, rotator: ScriptedRotator(hasTarget: false))
        let before = try await harness.current()
        harness.rotator.on(.test, .fail(transient: false))
        let report = try await harness.engine.rotate(harness.secret)
        #expect(report.outcome == .rolledBack)
        let rotation = try #require(try await harness.state.rotations(of: harness.secret, limit: 1).first)
        #expect(rotation.steps.map(\.step) == [.createSecret, .setSecret, .testSecret, .rollback])
        #expect(rotation.steps.map(\.outcome) == [.succeeded, .skipped, .failed, .succeeded])
        #expect(rotation.lastCompletedStep == .setSecret)
        #expect(try await harness.current().versionID == before.versionID)
        #expect(try await harness.labels().values.allSatisfy { !$0.contains(.pending) })
        #expect(try await harness.state.secretLockHolder(harness.secret, now: harness.clock.now()) == nil)
    }

    @Test(arguments: Backend.available, [RotationStep.setSecret, .testSecret])
    func aCrashBeforeStepsWithoutIntentAreJournaledResumesWithTheSameToken(backend: Backend, step: RotationStep) async throws {
        let harness = try await Harness(backend, rotator: ScriptedRotator(hasTarget: false))
        let original = try await harness.current()
        // The steps ran but nothing recorded them: the crash comes as finishSecret's intent is about to carry them.
        let crash = CrashSwitch(.beforeCompletion(step))
        let crashing = harness.engine(store: harness.store, state: CrashingStateStore(base: harness.state, crash: crash))
        await #expect(throws: CancellationError.self) { try await crashing.rotate(harness.secret) }
        #expect(crash.fired)
        // createSecret's end rode on the same write: the journal knows only its intent, and the resumed
        // run finds the pending value already there.
        let open = try #require(try await harness.state.openRotation(for: harness.secret))
        #expect(open.lastCompletedStep == nil && open.steps.map(\.step) == [.createSecret])

        let resumed = try await harness.reopened().rotate(harness.secret)
        #expect(resumed.resumed && resumed.token == open.token && resumed.outcome == .succeeded)
        #expect(resumed.steps.map(\.step) == [.createSecret, .setSecret, .testSecret, .finishSecret])
        #expect(resumed.steps.first?.outcome == .skipped)
        try await harness.expectCleanlyRotated(from: original, to: open.token)
    }

    @Test(arguments: Backend.available)
    func aCrashBeforeTheFirstIntentLeavesNoRotation(backend: Backend) async throws {
        let harness = try await Harness(backend)
        let crashing = harness.engine(store: harness.store, state: FailingFirstIntent(base: harness.state))
        await #expect(throws: RotorError.self) { try await crashing.rotate(harness.secret) }
        #expect(try await harness.state.openRotation(for: harness.secret) == nil)
        #expect(try await harness.state.rotations(of: harness.secret, limit: 1).isEmpty)
        #expect(try await harness.managed().status == .active)
        #expect(harness.rotator.calls.isEmpty)
    }
}

/// Records the name of every state write.
final class CountingStateStore: ForwardingStateStore, Sendable {
    let base: any RotationStateStore
    private let log = Mutex<[String]>([])
    init(base: any RotationStateStore) { self.base = base }
    var writes: [String] { log.withLock { $0 } }
    private func note(_ name: String) { log.withLock { $0.append(name) } }

    func acquireSecretLock(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> SecretLock? {
        note("acquireSecretLock")
        return try await base.acquireSecretLock(id, owner: owner, ttl: ttl, now: now)
    }
    /// The lock taken with the managed secret and its open rotation read under it: one write.
    func lockAndRead(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> LockedSecret {
        note("lockAndRead")
        return try await base.lockAndRead(id, owner: owner, ttl: ttl, now: now)
    }
    func releaseSecretLock(_ id: SecretID, owner: String) async throws {
        note("releaseSecretLock")
        try await base.releaseSecretLock(id, owner: owner)
    }
    func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64 {
        note("beginStep")
        return try await base.beginStep(token: token, step: step, attempt: attempt, at: at, after: backlog, lockUntil: lockUntil)
    }
    func journal(_ backlog: JournalBacklog, token: VersionID) async throws {
        note("journal")
        try await base.journal(backlog, token: token)
    }
    func markRollingBack(token: VersionID, error: String, at: Date) async throws {
        note("markRollingBack")
        try await base.markRollingBack(token: token, error: error, at: at)
    }
    func finishRun(
        token: VersionID, outcome: RotationOutcome, error: String?, at: Date, health: SecretHealthChange, audit: [AuditEvent],
        after backlog: JournalBacklog, releasingLock: Bool
    ) async throws {
        note("finishRun")
        try await base.finishRun(token: token, outcome: outcome, error: error, at: at, health: health, audit: audit, after: backlog, releasingLock: releasingLock)
    }
}

/// Records the name of every secret store write.
final class CountingSecretStore: ForwardingSecretStore, Sendable {
    let base: any SecretStore
    private let log = Mutex<[String]>([])
    init(base: any SecretStore) { self.base = base }
    var writes: [String] { log.withLock { $0 } }

    func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome {
        log.withLock { $0.append("putSecretValue") }
        return try await base.putSecretValue(input)
    }
    func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws {
        log.withLock { $0.append("updateSecretVersionStage") }
        try await base.updateSecretVersionStage(input)
    }
    func updateSecretVersionStages(_ inputs: [UpdateVersionStageInput]) async throws {
        log.withLock { $0.append("updateSecretVersionStages") }
        try await base.updateSecretVersionStages(inputs)
    }
}

/// A journal whose first step intent (the one that opens the rotation) fails, as a full disk would.
struct FailingFirstIntent: ForwardingStateStore {
    let base: any RotationStateStore
    func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64 {
        if backlog.opening != nil { throw RotorError(.storeUnavailable, "disk I/O error (simulated)") }
        return try await base.beginStep(token: token, step: step, attempt: attempt, at: at, after: backlog, lockUntil: lockUntil)
    }
}

/// Records each intent's step and whether it extended the lock.
final class IntentLockRecorder: ForwardingStateStore, Sendable {
    let base: any RotationStateStore
    private let log = Mutex<[(JournalStep, Bool)]>([])
    init(base: any RotationStateStore) { self.base = base }
    var intents: [JournalStep] { log.withLock { $0.map(\.0) } }
    var extendedEveryLock: Bool { log.withLock { $0.allSatisfy(\.1) } }

    func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64 {
        log.withLock { $0.append((step, lockUntil != nil)) }
        return try await base.beginStep(token: token, step: step, attempt: attempt, at: at, after: backlog, lockUntil: lockUntil)
    }
}

extension Harness {
    /// An engine over counting stores whose steps send no real-time heartbeat: under a loaded
    /// machine a slow step would otherwise add a lock renewal to the writes counted.
    func counting(store: any SecretStore, state: any RotationStateStore) -> RotationEngine {
        var configuration = engine.configuration
        configuration.stepHeartbeat = .seconds(3600)
        return RotationEngine(store: store, state: state, rotators: engine.rotators, clock: clock, configuration: configuration, logger: logs.logger, jitter: { 0.5 })
    }
}
