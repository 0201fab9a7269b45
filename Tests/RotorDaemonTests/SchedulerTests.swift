import Foundation
import GRDB
import Synchronization
import Testing
import RotorCore
@testable import RotorDaemon
import RotorPolicies
import RotorRotators
@testable import RotorStorage

@Suite struct SchedulerTests {
    static let start = try! Date("2027-01-01T12:00:00Z", strategy: .iso8601)

    static let examples: [(String, RotatorKind, String?)] = [
        ("/prod/github-integration/api-token/personal-access-token", "github-pat", #"{"token":"ghp_initial","login":"github-user"}"#),
        ("/staging/github-integration/api-token/personal-access-token", "github-pat", #"{"token":"ghp_initial"}"#),
        ("/prod/template-management/encryption-key/template-key", "encryption-key", nil),
        ("/staging/template-management/encryption-key/template-key", "encryption-key", nil),
        ("/prod/orders-service/db-credentials/app-user", "postgres-alternating-users", #"{"username":"app","password":"initial"}"#),
        ("/prod/cognito/app-client/secret", "cognito-app-client", #"{"userPoolId":"eu-west-1_AbC123","clientId":"c1","clientSecret":"initial"}"#),
        ("/prod/claude-sdk/api-key/anthropic-key", "manual", #"{"apiKey":"sk-ant-initial-key-0000000000"}"#),
    ]

    func createExamples(_ harness: SchedulerHarness) async throws {
        for (raw, kind, value) in Self.examples {
            let id = try SecretID(raw)
            let policy = try #require(harness.policies.policy(for: id))
            var initial = value.map { SecretValue(string: $0) }
            if initial == nil { initial = try await harness.engine.rotators.descriptor(kind).initialValue(policy.options, store: harness.store) }
            let first = try #require(initial)
            try await harness.engine.createManagedSecret(id, rotator: kind, options: policy.options, initialValue: first)
        }
    }

    /// Two simulated years of the shipped schedules: every rotation happens once, inside its window,
    /// at its period; the manual key is never rotated but reminded about.
    @Test func twoYearsOfTheExampleSchedules() async throws {
        let harness = try SchedulerHarness(start: Self.start)
        try await createExamples(harness)
        let end = Self.start.addingTimeInterval(2 * 365 * 86_400)
        try await harness.simulate(until: end)

        for (raw, _, _) in Self.examples {
            let id = try SecretID(raw)
            let policy = try #require(harness.policies.policy(for: id))
            let rotations = try await harness.state.rotations(of: id, limit: 1000).reversed()
            guard case .every(let period)? = policy.schedule else {
                #expect(rotations.isEmpty, "\(id) is manual")
                continue
            }
            #expect(rotations.allSatisfy { $0.outcome == .succeeded }, "\(id)")
            #expect(Set(rotations.map(\.token)).count == rotations.count)
            let expected = Int(2 * 365 * 86_400 / period.timeInterval)
            #expect((expected - 1...expected).contains(rotations.count), "\(id): \(rotations.count) rotations, expected about \(expected)")
            var previous = Self.start
            for rotation in rotations {
                #expect(policy.window?.contains(rotation.startedAt) ?? true, "\(id) rotated outside its window at \(rotation.startedAt)")
                let gap = rotation.startedAt.timeIntervalSince(previous)
                // At its period: not before it, and no later than the next window plus the jitter.
                #expect(gap >= period.timeInterval && gap <= period.timeInterval + 86_400 + policy.jitter.timeInterval,
                        "\(id): \(gap / 86_400) days between rotations")
                previous = rotation.startedAt
            }
        }
        let reminders = try await harness.state.dueAlerts(at: end, limit: 1000).filter { $0.kind == AlertCenter.Kind.manualRotationDue.rawValue }
        let manual: Set<String> = ["/prod/claude-sdk/api-key/anthropic-key", "/prod/github-integration/api-token/personal-access-token",
                                   "/staging/github-integration/api-token/personal-access-token"]
        #expect(Set(reminders.compactMap(\.secret?.rawValue)) == manual)
    }

    /// `run()` itself, on a clock that holds its sleepers: it starts (recover, reconcile), sleeps until
    /// the earliest deadline, rotates what is due when time gets there, sleeps again, and stops when cancelled.
    @Test func theRunLoopSleepsUntilTheEarliestDeadlineAndRotatesWhatIsDue() async throws {
        let harness = try SchedulerHarness(start: Self.start, sleeping: .waitsForAdvance)
        try await createExamples(harness)
        let loop = Task { try await harness.scheduler.run() }
        try await harness.clock.waitForSleepers()
        #expect(harness.scheduler.isLeader)
        let entries = try await harness.state.scheduleEntries(in: .all)
        #expect(!entries.isEmpty)
        for (raw, _, _) in Self.examples { #expect(try await harness.state.rotations(of: SecretID(raw), limit: 10).isEmpty, "nothing is due yet") }

        let deadline = try #require(entries.compactMap(\.nextDueAt).min())
        let due = Set(entries.filter { $0.nextDueAt == deadline }.map(\.secret))
        harness.clock.set(deadline)
        try await harness.clock.waitForSleepers()
        for (raw, _, _) in Self.examples {
            let id = try SecretID(raw)
            let rotations = try await harness.state.rotations(of: id, limit: 10)
            #expect(rotations.map(\.outcome) == (due.contains(id) ? [.succeeded] : []), "\(id)")
        }
        #expect(try await harness.state.earliestDeadline(in: .all).map { $0 > deadline } ?? true, "the next sleep aims past what was rotated")

        loop.cancel()
        try await loop.value
        #expect(try await harness.state.leaseHolder(RotationScheduler.leaseName, now: harness.clock.now()) == nil, "the lease is released on the way out")
    }

    /// Between full passes, reconcile visits only what was registered or reconfigured since the last
    /// pass; a secret that exists only in the store waits for the next full pass.
    @Test func reconcileBetweenFullPassesVisitsOnlyWhatChanged() async throws {
        let harness = try SchedulerHarness(start: Self.start)
        try await createExamples(harness)
        try await harness.scheduler.start()
        let before = try await harness.state.scheduleEntries(in: .all)
        let sequence = try #require(harness.scheduler.state.reconciledSequence)

        let registered = try SecretID("/prod/orders-service/db-credentials/reporting-user")
        let storeOnly = try SecretID("/prod/orders-service/db-credentials/batch-user")
        let value = SecretValue(string: #"{"username":"u","password":"p"}"#)
        try await harness.engine.createManagedSecret(registered, rotator: "random-password", options: RotatorOptions([:]), initialValue: value)
        _ = try await harness.store.createSecret(CreateSecretInput(id: storeOnly, initialValue: value))
        #expect(try await harness.state.managedSecrets(in: .all, changedAfter: sequence).map(\.id) == [registered])

        harness.clock.advance(by: harness.scheduler.configuration.reconcileInterval + 1)
        try await harness.scheduler.reconcileIfStale()
        let after = try await harness.state.scheduleEntries(in: .all)
        #expect(Set(after.map(\.secret)) == Set(before.map(\.secret)).union([registered]), "only the registered secret was added")
        #expect(after.filter { $0.secret != registered } == before, "nothing else was touched")

        harness.clock.advance(by: harness.scheduler.configuration.fullReconcileInterval + 1)
        try await harness.scheduler.reconcileIfStale()
        #expect(try await harness.state.scheduleEntry(storeOnly) != nil, "the full pass found the store-only secret")
    }

    @Test func aRestartDoesNotMoveDeadlinesOrBurst() async throws {
        let harness = try SchedulerHarness(start: Self.start)
        try await createExamples(harness)
        try await harness.scheduler.start()
        let before = try await harness.state.scheduleEntries(in: .all)
        // A new scheduler on the same database, a day later: reconcile keeps every deadline.
        harness.clock.set(Self.start.addingTimeInterval(86_400))
        let restarted = try SchedulerHarness.restart(harness)
        try await restarted.start()
        #expect(try await harness.state.scheduleEntries(in: .all) == before)
        #expect(try await restarted.tick().rotated.isEmpty)
    }

    @Test func aChangedPeriodCountsFromTheLastRotation() async throws {
        let harness = try SchedulerHarness(start: Self.start)
        try await createExamples(harness)
        try await harness.simulate(until: Self.start.addingTimeInterval(40 * 86_400))
        let id = try SecretID("/prod/orders-service/db-credentials/app-user")
        let last = try #require(try await harness.state.managedSecret(id)?.lastRotatedAt)
        var changed = harness.policies.policies
        let index = try #require(changed.firstIndex { $0.name == "database-credentials" })
        changed[index].schedule = .every(PolicyDuration("7d")!)
        changed[index].window = nil
        changed[index].jitter = PolicyDuration(seconds: 0)
        let set = PolicySet(policies: changed, files: [])
        try await PolicyReconciler(engine: harness.engine, schedule: harness.state, clock: harness.clock, logger: .init(label: "t")).reconcile(set)
        let entry = try #require(try await harness.state.scheduleEntry(id))
        #expect(entry.nextDueAt == last.addingTimeInterval(7 * 86_400))
    }

    /// A rotation outside the scheduler (`rotor rotate`, another daemon) moves the deadline on: the
    /// CLI re-plans it, and a scheduler that reads a stale deadline re-checks under the lock and skips.
    @Test func aSecretRotatedElsewhereIsNotRotatedAgainAtItsOldDeadline() async throws {
        let harness = try SchedulerHarness(start: Self.start)
        try await createExamples(harness)
        try await harness.scheduler.start()
        let id = try SecretID("/prod/orders-service/db-credentials/app-user")
        let before = try #require(try await harness.state.scheduleEntry(id)?.nextDueAt)
        harness.clock.set(before.addingTimeInterval(-3600))
        #expect(try await harness.engine.rotate(id).succeeded)
        try await PolicyReconciler(engine: harness.engine, schedule: harness.state, clock: harness.clock, logger: .init(label: "t"))
            .replanAfterRotation(id, policies: harness.policies)
        let after = try #require(try await harness.state.scheduleEntry(id)?.nextDueAt)
        #expect(after > before.addingTimeInterval(20 * 86_400), "the next deadline counts from the new rotation")

        // Another process rotates without re-planning; at the stale deadline the scheduler skips it.
        let other = try SecretID("/prod/cognito/app-client/secret")
        let due = try #require(try await harness.state.scheduleEntry(other)?.nextDueAt)
        harness.clock.set(due.addingTimeInterval(-60))
        #expect(try await harness.engine.rotate(other).succeeded)
        harness.clock.set(due.addingTimeInterval(1))
        let summary = try await harness.scheduler.tick()
        #expect(!summary.failed.contains(other))
        #expect(try await harness.state.rotations(of: other, limit: 10).count == 1)
        #expect(try #require(try await harness.state.scheduleEntry(other)?.nextDueAt) > due.addingTimeInterval(20 * 86_400))
    }

    @Test func concurrencyIsCappedGloballyAndPerRotator() async throws {
        let probe = ConcurrencyProbe()
        var rotators = RotatorRegistry.builtIn
        for kind in ["slow-a", "slow-b"] {
            rotators.register(RotatorDescriptor(kind: RotatorKind(kind), summary: "slow", options: [:],
                                                build: { _ throws(RotorError) in SlowRotator(kind: RotatorKind(kind), probe: probe) },
                                                initialValue: { _, _ in SecretValue(string: "v") }))
        }
        let policies = PolicySet(policies: ["slow-a", "slow-b"].map { kind in
            RotationPolicy(name: kind, matchers: [try! SecretMatcher("/prod/\(kind)/api-key/*")], rotator: RotatorKind(kind),
                           schedule: .every(PolicyDuration("1d")!))
        }, files: [])
        let harness = try SchedulerHarness(start: Self.start, policies: policies, rotators: rotators,
                                           configuration: SchedulerConfiguration(maxConcurrent: 3, maxConcurrentPerRotator: 2))
        for index in 0..<12 {
            let kind = index % 2 == 0 ? "slow-a" : "slow-b"
            try await harness.engine.createManagedSecret(try SecretID("/prod/\(kind)/api-key/k\(index)"), rotator: RotatorKind(kind),
                                                         options: RotatorOptions(), initialValue: SecretValue(string: "v"))
        }
        try await harness.scheduler.start()
        harness.clock.set(Self.start.addingTimeInterval(2 * 86_400))
        let summary = try await harness.scheduler.tick()
        #expect(summary.rotated.count == 12)
        #expect(probe.maximum.total == 3)
        #expect(probe.maximum.perKind.values.allSatisfy { $0 <= 2 })
    }

    @Test func theDueQueryIsAnIndexRangeScan() async throws {
        let harness = try SchedulerHarness(start: Self.start)
        let plan = try await harness.state.pool.read { db in
            try Row.fetchAll(
                db, sql: "EXPLAIN QUERY PLAN SELECT * FROM schedule \(SQLiteStateStore.deadlineIndex("next_due_at")) WHERE next_due_at IS NOT NULL AND next_due_at <= ? AND secret_id >= ? AND secret_id < ? ORDER BY next_due_at LIMIT 10",
                arguments: [0, "/", "0"]
            ).map { $0["detail"] as String }
        }
        #expect(plan.joined().contains("USING INDEX schedule_by_due"), "\(plan)")
        #expect(!plan.joined().contains("TEMP B-TREE"), "in deadline order, no sort: \(plan)")
    }

    @Test func oneLeaseHolderAtATime() async throws {
        let harness = try SchedulerHarness(start: Self.start)
        let now = Self.start
        #expect(try await harness.state.acquireLease("scheduler", owner: "a", ttl: 15, now: now))
        #expect(try await !harness.state.acquireLease("scheduler", owner: "b", ttl: 15, now: now.addingTimeInterval(10)))
        #expect(try await harness.state.acquireLease("scheduler", owner: "a", ttl: 15, now: now.addingTimeInterval(10)))
        #expect(try await harness.state.acquireLease("scheduler", owner: "b", ttl: 15, now: now.addingTimeInterval(26)))
        #expect(try await harness.state.leaseHolder("scheduler", now: now.addingTimeInterval(26))?.owner == "b")
        #expect(try await !harness.state.acquireLease("scheduler", owner: "a", ttl: 15, now: now.addingTimeInterval(27)))
    }

    @Test func aFailingSecretBacksOffAndIsQuarantinedWithAlerts() async throws {
        var rotators = RotatorRegistry.builtIn
        rotators.register(RotatorDescriptor(kind: "broken", summary: "fails", options: [:],
                                            build: { _ throws(RotorError) in BrokenRotator() }, initialValue: { _, _ in SecretValue(string: "v") }))
        let policy = RotationPolicy(name: "broken", matchers: [try SecretMatcher("/prod/broken/api-key/*")], rotator: "broken",
                                    schedule: .every(PolicyDuration("1d")!), retry: RetryPolicy(attemptsPerRun: 1, failedRunsBeforeQuarantine: 3),
                                    failureBackoff: (PolicyDuration("1h")!, PolicyDuration("4h")!))
        let harness = try SchedulerHarness(start: Self.start, policies: PolicySet(policies: [policy], files: []), rotators: rotators)
        let id = try SecretID("/prod/broken/api-key/x")
        try await harness.engine.createManagedSecret(id, rotator: "broken", options: RotatorOptions(), initialValue: SecretValue(string: "v"))
        try await harness.simulate(until: Self.start.addingTimeInterval(3 * 86_400))
        let rotations = try await harness.state.rotations(of: id, limit: 10).reversed().map(\.startedAt)
        #expect(rotations.count == 3)
        #expect(rotations[1].timeIntervalSince(rotations[0]) == 3600 && rotations[2].timeIntervalSince(rotations[1]) == 7200)
        #expect(try await harness.state.managedSecret(id)?.status == .quarantined)
        #expect(try await harness.state.scheduleEntry(id)?.nextDueAt == nil)
        let kinds = try await harness.state.dueAlerts(at: .distantFuture, limit: 100).map(\.kind)
        #expect(kinds.filter { $0 == "rotation.failed" }.count == 2 && kinds.contains("secret.quarantined"))
    }
}

extension SchedulerHarness {
    /// A second scheduler over the same database (a restarted daemon).
    static func restart(_ harness: SchedulerHarness) throws -> RotationScheduler {
        let set = harness.policies
        return RotationScheduler(
            engine: harness.engine, schedule: harness.state, policies: { set }, clock: harness.clock,
            alerts: AlertCenter(outbox: harness.state, clock: harness.clock, logger: .init(label: "t")), metrics: RotorMetrics(),
            configuration: SchedulerConfiguration(), logger: .init(label: "t"))
    }
}

/// Records how many rotations run at once, in total and per rotator kind.
final class ConcurrencyProbe: Sendable {
    private let state = Mutex<(current: [RotatorKind: Int], maximum: (total: Int, perKind: [RotatorKind: Int]))>(([:], (0, [:])))
    func enter(_ kind: RotatorKind) {
        state.withLock { state in
            state.current[kind, default: 0] += 1
            let total = state.current.values.reduce(0, +)
            state.maximum.total = max(state.maximum.total, total)
            state.maximum.perKind[kind] = max(state.maximum.perKind[kind] ?? 0, state.current[kind]!)
        }
    }
    func leave(_ kind: RotatorKind) { state.withLock { $0.current[kind, default: 1] -= 1 } }
    var maximum: (total: Int, perKind: [RotatorKind: Int]) { state.withLock { $0.maximum } }
}

struct SlowRotator: Rotator {
    let kind: RotatorKind
    let probe: ConcurrencyProbe
    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        probe.enter(kind)
        // Stay inside until the scheduler has had its full allowance in flight once (bounded), so the
        // peak measured is the cap and not how fast a loaded machine dispatches.
        for _ in 0..<400 where probe.maximum.total < 3 { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(30))
        probe.leave(kind)
        return CreateSecretResponse(newValue: SecretValue(string: UUID().uuidString))
    }
    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse { TestSecretResponse() }
}

struct BrokenRotator: Rotator {
    let kind: RotatorKind = "broken"
    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        CreateSecretResponse(newValue: SecretValue(string: UUID().uuidString))
    }
    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        throw RotorError(.stepFailed, "the target rejects the new value")
    }
}
