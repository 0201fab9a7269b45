import Foundation
import RotorTestSupport
import Synchronization
import Testing
import Logging
import RotorCore
import RotorStorage
import RotorStatePostgres

/// The per-secret lock as a fence: a step that outlives its lock cannot write its next step, the
/// lock of a dead local process is broken at once, rollbacks take the lock, and a journal write that
/// fails after a step's side effect never rolls that side effect back.
@Suite struct FencingTests {
    /// Where the two processes keep their shared state: one SQLite file on one host, or one PostgreSQL
    /// schema (each engine with connections of its own, as two hosts would have).
    enum SharedState: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sqlite, postgres
        var testDescription: String { rawValue }
        static var available: [SharedState] { PostgresTestServer.enabled ? allCases : [.sqlite] }
    }

    /// Two engines (two processes) on one state database and store, with a 3 s lock (renewed every second).
    struct TwoProcesses {
        let directory: URL
        let shared: SharedState
        let schema = PostgresTestServer.uniqueSchema()
        let target = FakeTarget()
        let calls = CallLog()
        let id = try! SecretID("/prod/payments/api-key/fenced")

        init(_ shared: SharedState = .sqlite) throws {
            directory = try TemporaryDirectory.make()
            self.shared = shared
        }

        func engine(
            _ owner: String, gate: Gate?, attempts: Int = 1, wrap: (any RotationStateStore) -> any RotationStateStore = { $0 }
        ) async throws -> RotationEngine {
            let rotator = SharedTargetRotator(owner: owner, target: target, calls: calls, gate: gate)
            var registry = RotatorRegistry.builtIn
            registry.register(RotatorDescriptor(kind: "shared", summary: "test", options: [:], build: { _ throws(RotorError) in rotator }, initialValue: { _, _ in nil }))
            let store = try EmbeddedSecretStore(url: directory.appendingPathComponent("store.sqlite"),
                                                keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")), synchronous: .normal)
            let state: any RotationStateStore = switch shared {
            case .sqlite: try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .normal)
            case .postgres: try await PostgresState.open(schema: schema, authenticator: store.rotatorConfigAuthenticator)
            }
            return RotationEngine(
                store: store, state: wrap(state), rotators: registry,
                configuration: EngineConfiguration(retry: RetryPolicy(attemptsPerRun: attempts), actor: owner, lockTTL: 3, lockOwner: owner),
                logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        }
    }

    /// A's setSecret blocks past the lock's lifetime, ignoring cancellation: the heartbeat keeps the
    /// lock while the work really runs, so B never acts; A completes. The timed tests run on threads
    /// of their own: a heartbeat queued behind a hundred suites on two cooperative threads is late.
    @Test(arguments: SharedState.available)
    func aLockHeldByARunningStepIsNeverTakenOver(_ shared: SharedState) async throws {
        try await withTaskExecutorPreference(DedicatedExecutor.shared) { try await lockHeldByARunningStep(shared) }
    }

    func lockHeldByARunningStep(_ shared: SharedState) async throws {
        let world = try TwoProcesses(shared)
        let gate = Gate()
        let a = try await world.engine("A", gate: gate), b = try await world.engine("B", gate: nil)
        try await a.createManagedSecret(world.id, rotator: "shared", options: RotatorOptions(), initialValue: SecretValue(string: "initial"))
        let first = Task(executorPreference: DedicatedExecutor.shared) { try await a.rotate(world.id) }
        try await waitForSet(world, first)
        for _ in 0..<16 { // 4 s: past the lock's lifetime and the step's timeout (2.4 s)
            await #expect { _ = try await b.rotate(world.id) } throws: { ($0 as? RotorError)?.code == .locked }
            try await Task.sleep(for: .milliseconds(250))
        }
        gate.open()
        #expect(try await first.value.succeeded)
        #expect(!world.calls.all.contains { $0.hasPrefix("B:") }, "\(world.calls.all)")
    }

    /// A is paused (its heartbeat cannot renew, its step is stuck) past the lock's lifetime; B takes the
    /// lapsed lock, resumes the same token and completes. When A wakes, its next journal write is
    /// refused and it stops without another side effect; the journal shows who ran what.
    @Test(arguments: SharedState.available)
    func aPausedHolderCannotWriteAfterItsLockWasTaken(_ shared: SharedState) async throws {
        try await withTaskExecutorPreference(DedicatedExecutor.shared) { try await pausedHolder(shared) }
    }

    func pausedHolder(_ shared: SharedState) async throws {
        let world = try TwoProcesses(shared)
        let gate = Gate()
        let paused = PausableLocks(gate: gate)
        let a = try await world.engine("A", gate: gate) { paused.wrapping($0) }
        // B may meet its 2.4 s step limit when the machine is saturated (the start of make test): it retries.
        let b = try await world.engine("B", gate: nil, attempts: 3)
        try await a.createManagedSecret(world.id, rotator: "shared", options: RotatorOptions(), initialValue: SecretValue(string: "initial"))
        let first = Task(executorPreference: DedicatedExecutor.shared) { try await a.rotate(world.id) }
        try await waitForSet(world, first)
        paused.pause()
        var report: RotationReport?
        for _ in 0..<100 where report == nil {
            try await Task.sleep(for: .milliseconds(200))
            do { report = try await b.rotate(world.id) } catch let error as RotorError where error.code == .locked { continue }
        }
        let done = try #require(report, "B never took the lapsed lock")
        #expect(done.succeeded, "\(done.error.map(String.init(describing:)) ?? "")")
        let callsWhenBFinished = world.calls.all
        gate.open()
        await #expect { _ = try await first.value } throws: { error in
            (error as? RotorError)?.code == .locked && "\(error)".contains("lost the secret's lock")
        }
        #expect(world.calls.all == callsWhenBFinished, "A acted after losing the lock: \(world.calls.all)")
        #expect(world.calls.all.filter { $0.hasPrefix("A:") } == ["A:create", "A:set"])
        let records = try await b.state.rotations(of: world.id, limit: 5)
        #expect(records.count == 1, "one rotation, one token")
        let rotation = try #require(records.first)
        #expect(rotation.token == done.token && rotation.outcome == .succeeded)
        #expect(Set(rotation.steps.compactMap(\.owner)) == ["A", "B"])
        #expect(rotation.steps.filter { $0.step == .finishSecret }.allSatisfy { $0.owner == "B" })
        #expect(try await b.store.getSecretValue(world.id, .current).value == world.target.value)
    }

    @Test(arguments: [Backend.inMemory, .embedded, .postgres].filter(Backend.available.contains))
    func theLockOfALocalProcessThatNoLongerExistsIsBrokenAtOnce(_ backend: Backend) async throws {
        let harness = try await Harness(backend)
        let dead = Self.owner(pid: try await deadPID(), start: "1")
        #expect(try await harness.state.acquireSecretLock(harness.secret, owner: dead, ttl: 600, now: harness.clock.now()) != nil)
        var engine = harness.engine
        engine = RotationEngine(store: harness.store, state: harness.state, rotators: engine.rotators, clock: harness.clock,
                                configuration: EngineConfiguration(actor: "test", lockOwner: LocalLockOwner.make(actor: "test"), holderIsDead: LocalLockOwner.isDead))
        #expect(try await engine.rotate(harness.secret).succeeded)

        let alive = LocalLockOwner.make(actor: "cli:running")
        #expect(try await harness.state.acquireSecretLock(harness.secret, owner: alive, ttl: 600, now: harness.clock.now()) != nil)
        await #expect { _ = try await engine.rotate(harness.secret) } throws: { ($0 as? RotorError)?.code == .locked }
    }

    /// An owner name for `pid` with start time `start`, on this host, boot and PID namespace.
    static func owner(pid: Int32, start: String) -> String {
        let mine = LocalLockOwner.make(actor: "cli:other")
        let at = mine.lastIndex(of: "@")!
        var fields = mine[mine.index(after: at)...].split(separator: ":").map(String.init)
        fields[1] = "\(pid)"
        fields[2] = start
        return mine[...at] + fields.joined(separator: ":")
    }

    @Test func aReusedPIDIsTakenForDeadAndALiveProcessIsNot() throws {
        let sleeper = ChildProcess()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        defer { kill(sleeper.processIdentifier, SIGKILL) }
        let stat = try String(contentsOfFile: "/proc/\(sleeper.processIdentifier)/stat", encoding: .utf8)
        let start = String(stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")[19])
        #expect(!LocalLockOwner.isDead(Self.owner(pid: sleeper.processIdentifier, start: start)))
        #expect(LocalLockOwner.isDead(Self.owner(pid: sleeper.processIdentifier, start: start + "0")), "same PID, later process: reused")
        #expect(!LocalLockOwner.isDead("cli:x#abcd@another-host:\(sleeper.processIdentifier):1:b:1"), "another host is never called dead")
        #expect(!LocalLockOwner.isDead("daemon-legacy-owner"))
    }

    @Test(arguments: [Backend.inMemory, .embedded, .postgres].filter(Backend.available.contains))
    func rollbackTakesTheLock(_ backend: Backend) async throws {
        let harness = try await Harness(backend)
        #expect(try await harness.engine.rotate(harness.secret).succeeded)
        #expect(try await harness.state.acquireSecretLock(harness.secret, owner: "someone-else", ttl: 600, now: harness.clock.now()) != nil)
        await #expect { _ = try await harness.engine.rollbackToPrevious(harness.secret) } throws: { ($0 as? RotorError)?.code == .locked }
        try await harness.state.releaseSecretLock(harness.secret, owner: "someone-else")
        _ = try await harness.engine.rollbackToPrevious(harness.secret)
    }

    @Test(arguments: SharedState.available)
    func aReleasedLockTakenAgainHasAHigherFence(_ shared: SharedState) async throws {
        let state: any RotationStateStore = switch shared {
        case .sqlite: try SQLiteStateStore(url: try TemporaryDirectory.make().appendingPathComponent("state.sqlite"))
        case .postgres: try await PostgresState.open()
        }
        let id = try SecretID("/prod/payments/api-key/x")
        let now = Date()
        let first = try #require(try await state.acquireSecretLock(id, owner: "A", ttl: 60, now: now))
        #expect(try await state.acquireSecretLock(id, owner: "A", ttl: 60, now: now)?.fence == first.fence, "renewal keeps the fence")
        #expect(try await state.acquireSecretLock(id, owner: "B", ttl: 60, now: now) == nil)
        try await state.releaseSecretLock(id, owner: "A")
        let second = try #require(try await state.acquireSecretLock(id, owner: "B", ttl: 60, now: now))
        #expect(second.fence > first.fence)
        let third = try #require(try await state.acquireSecretLock(id, owner: "A", ttl: 60, now: now.addingTimeInterval(61)))
        #expect(third.fence > second.fence, "taking over an expired lock moves the fence")
    }

    /// The journal write after a successful setSecret fails: retried, the rotation still succeeds
    /// and nothing is rolled back; if it keeps failing, the run stops with the rotation open, and the
    /// next run resumes it. The target's change is never undone.
    @Test(arguments: [2, 50])
    func aJournalWriteFailingAfterASideEffectNeverRollsItBack(failures: Int) async throws {
        let base = try await Harness(.embedded)
        let flaky = FlakyJournal(base: base.state, failures: failures)
        let engine = RotationEngine(store: base.store, state: flaky, rotators: base.engine.rotators, clock: base.clock,
                                    configuration: EngineConfiguration(actor: "test"), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        if failures < 5 {
            #expect(try await engine.rotate(base.secret).succeeded)
        } else {
            await #expect { _ = try await engine.rotate(base.secret) } throws: { error in
                "\(error)".contains("setSecret succeeded but the journal could not record it")
            }
            let open = try #require(try await base.state.openRotation(for: base.secret))
            #expect(open.outcome == .inProgress && open.lastCompletedStep == .createSecret)
            flaky.heal()
            #expect(try await engine.rotate(base.secret).succeeded)
        }
        #expect(!base.rotator.calls.contains(.rollback))
        #expect(try await base.current().value == base.rotator.target.value)
    }

    func deadPID() async throws -> Int32 {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        await process.exited()
        return process.processIdentifier
    }

    /// Waits for A's setSecret; a rotation that ends before it fails the test with what it said.
    /// A hang detector too: at the start of `make test` a hundred suites share two cores.
    func waitForSet(_ world: TwoProcesses, _ first: Task<RotationReport, any Error>) async throws {
        let ended = Mutex<String?>(nil)
        let watcher = Task {
            let result = await first.result
            ended.withLock { $0 = (try? result.get()).map { "\($0.outcome): \($0.error.map(String.init(describing:)) ?? "")" } ?? "\(result)" }
        }
        defer { watcher.cancel() }
        try await waitUntil(seconds: 120) { world.calls.all.contains("A:set") || ended.withLock { $0 } != nil }
        try #require(world.calls.all.contains("A:set"), "A's rotation ended before setSecret: \(ended.withLock { $0 } ?? "still running"); calls \(world.calls.all)")
    }

    func waitUntil(seconds: Int = 2, _ condition: () -> Bool) async throws {
        for _ in 0..<(seconds * 100) where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        try #require(condition())
    }
}

final class CallLog: Sendable {
    private let calls = Mutex<[String]>([])
    func append(_ call: String) { calls.withLock { $0.append(call) } }
    var all: [String] { calls.withLock { $0 } }
}

/// Two processes' rotators for one outside system; A's setSecret can block without giving way to cancellation.
struct SharedTargetRotator: Rotator {
    let kind: RotatorKind = "shared"
    let hasTarget = true
    let owner: String
    let target: FakeTarget
    let calls: CallLog
    let gate: Gate?

    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        calls.append("\(owner):create")
        return CreateSecretResponse(newValue: SecretValue(string: "value-\(context.token)"))
    }
    func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse {
        calls.append("\(owner):set")
        target.accept(request.pending)
        await gate?.wait()
        return SetSecretResponse()
    }
    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        calls.append("\(owner):test")
        guard target.value == request.pending else { throw RotorError(.stepFailed, "target does not accept the pending value") }
        return TestSecretResponse()
    }
    func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse {
        calls.append("\(owner):finish")
        return FinishSecretResponse()
    }
    func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        calls.append("\(owner):rollback")
        target.accept(request.restore)
    }
}

/// Lock renewals that hang while paused (a SIGSTOPped process) until the gate opens.
final class PausableLocks: Sendable {
    let gate: Gate
    private let paused = Mutex(false)
    init(gate: Gate) { self.gate = gate }
    func pause() { paused.withLock { $0 = true } }
    var isPaused: Bool { paused.withLock { $0 } }
    func wrapping(_ base: any RotationStateStore) -> any RotationStateStore { PausedLockStore(base: base, locks: self) }
}

struct PausedLockStore: ForwardingStateStore {
    let base: any RotationStateStore
    let locks: PausableLocks
    func acquireSecretLock(_ id: SecretID, owner: String, ttl: TimeInterval, now: Date) async throws -> SecretLock? {
        if locks.isPaused { await locks.gate.wait() }
        return try await base.acquireSecretLock(id, owner: owner, ttl: ttl, now: Date())
    }
}

/// A state store whose journal write completing setSecret fails `failures` times (a full disk, a locked file).
final class FlakyJournal: ForwardingStateStore, Sendable {
    let base: any RotationStateStore
    private let remaining: Mutex<Int>
    init(base: any RotationStateStore, failures: Int) {
        self.base = base
        remaining = Mutex(failures)
    }
    func heal() { remaining.withLock { $0 = 0 } }

    private func failIfCompletingSetSecret(_ backlog: JournalBacklog) throws {
        if backlog.completedSteps.contains(.setSecret), remaining.withLock({ left in defer { left -= 1 }; return left > 0 }) {
            throw RotorError(.storeUnavailable, "disk I/O error (simulated)")
        }
    }

    func journal(_ backlog: JournalBacklog, token: VersionID) async throws {
        try failIfCompletingSetSecret(backlog)
        try await base.journal(backlog, token: token)
    }

    func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64 {
        try failIfCompletingSetSecret(backlog)
        return try await base.beginStep(token: token, step: step, attempt: attempt, at: at, after: backlog, lockUntil: lockUntil)
    }
}
