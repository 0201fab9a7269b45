import Foundation
import Synchronization
import Testing
import RotorCore
import RotorRotators

/// Batches: selection, dependency order and cycles, caps (this run's and the process's shared
/// slots), skips after a failed dependency, stop on error, stop on request.
@Suite struct BatchTests {
    static func id(_ raw: String) -> SecretID { try! SecretID(raw) }
    static func edge(_ dependent: String, _ dependency: String) -> DependencyEdge {
        DependencyEdge(dependent: id(dependent), dependency: id(dependency), why: "test")
    }

    // MARK: - the graph

    static let orderCases: [(nodes: [String], edges: [(String, String)], expected: [String])] = [
        (["/p/a/k/1", "/p/a/k/2"], [], ["/p/a/k/1", "/p/a/k/2"]),
        (["/p/a/k/app", "/p/a/k/master"], [("/p/a/k/app", "/p/a/k/master")], ["/p/a/k/master", "/p/a/k/app"]),
        (["/p/a/k/a", "/p/a/k/b", "/p/a/k/c"], [("/p/a/k/a", "/p/a/k/b"), ("/p/a/k/b", "/p/a/k/c")], ["/p/a/k/c", "/p/a/k/b", "/p/a/k/a"]),
        // Edges to secrets outside the batch, and a secret on itself, are dropped.
        (["/p/a/k/a"], [("/p/a/k/a", "/p/a/k/outside"), ("/p/a/k/a", "/p/a/k/a")], ["/p/a/k/a"]),
    ]

    @Test(arguments: orderCases.indices)
    func dependenciesComeFirst(_ index: Int) throws {
        let (nodes, edges, expected) = Self.orderCases[index]
        let graph = DependencyGraph(nodes: nodes.map(Self.id), edges: edges.map { Self.edge($0.0, $0.1) })
        #expect(try graph.order().map(\.rawValue) == expected)
    }

    @Test func cyclesAreFoundWithTheirMembersAndRefused() {
        let edges = [("/p/a/k/a", "/p/a/k/b"), ("/p/a/k/b", "/p/a/k/c"), ("/p/a/k/c", "/p/a/k/a"), ("/p/a/k/d", "/p/a/k/a"), ("/p/a/k/e", "/p/a/k/f"), ("/p/a/k/f", "/p/a/k/e")]
        let graph = DependencyGraph(nodes: ["a", "b", "c", "d", "e", "f"].map { Self.id("/p/a/k/\($0)") }, edges: edges.map { Self.edge($0.0, $0.1) })
        #expect(graph.cycles().map { $0.map(\.secretName) } == [["a", "b", "c"], ["e", "f"]])
        let error = #expect(throws: RotorError.self) { try graph.order() }
        #expect(error?.summary.contains("/p/a/k/a uses /p/a/k/b") == true && error?.summary.contains("/p/a/k/d") == false)
    }

    @Test func selectionCriteriaAllHold() throws {
        let selection = BatchSelection(matchers: [try SecretMatcher("/prod/**")], policy: "db", service: "orders")
        #expect(selection.includes(Self.id("/prod/orders/db-credentials/app"), policyName: "db"))
        #expect(!selection.includes(Self.id("/prod/orders/db-credentials/app"), policyName: "keys"))
        #expect(!selection.includes(Self.id("/prod/billing/db-credentials/app"), policyName: "db"))
        #expect(!selection.includes(Self.id("/staging/orders/db-credentials/app"), policyName: "db"))
        #expect(BatchSelection().isEmpty)
    }

    // MARK: - planning over an engine

    func engine() async throws -> RotationEngine {
        let engine = RotationEngine(store: InMemorySecretStore(), state: InMemoryStateStore(), rotators: .builtIn)
        let generated = { (kind: RotatorKind) in try await engine.rotators.descriptor(kind).initialValue(RotatorOptions([:]), store: engine.store)! }
        for name in ["/prod/orders/api-key/a", "/prod/orders/api-key/b", "/prod/billing/api-key/c", "/staging/orders/api-key/a"] {
            _ = try await engine.createManagedSecret(Self.id(name), rotator: "random-password", options: RotatorOptions([:]), initialValue: try await generated("random-password"))
        }
        _ = try await engine.createManagedSecret(Self.id("/prod/orders/encryption-key/data"), rotator: "encryption-key", options: RotatorOptions([:]),
                                                 initialValue: try await generated("encryption-key"))
        _ = try await engine.createManagedSecret(Self.id("/prod/orders/api-key/vendor"), rotator: "manual", options: RotatorOptions([:]),
                                                 initialValue: SecretValue(string: "vendor-key-0"))
        return engine
    }

    @Test func aPlanOrdersByDeclaredDependenciesAndMarksWhatAPersonRotates() async throws {
        let engine = try await engine()
        let keys = RotationPolicy(name: "keys", matchers: [try SecretMatcher("/prod/*/api-key/*")], rotator: "random-password",
                                  schedule: .every(PolicyDuration(seconds: 86_400)), dependsOn: [try SecretMatcher("/prod/orders/encryption-key/*")])
        let plan = try await engine.planBatch(BatchSelection(service: "orders"), scope: .only(try Environment("prod"))) { id in
            id.secretType == "api-key" ? keys : nil
        }
        #expect(plan.items.first?.id == Self.id("/prod/orders/encryption-key/data"))
        #expect(plan.items.count == 4 && plan.items.dropFirst().allSatisfy { $0.dependsOn.map(\.dependency) == [Self.id("/prod/orders/encryption-key/data")] })
        #expect(plan.items.first { $0.id.secretName == "vendor" }?.needsPerson?.contains("--value-stdin") == true)
    }

    @Test func anEmptyOrUnmatchedSelectionIsRefused() async throws {
        let engine = try await engine()
        await #expect(throws: RotorError.self) { try await engine.planBatch(BatchSelection(), scope: .all) { _ in nil } }
        let nothing = await #expect(throws: RotorError.self) {
            try await engine.planBatch(BatchSelection(service: "nobody"), scope: .all) { _ in nil }
        }
        #expect(nothing?.code == .notManaged)
    }

    // MARK: - running

    /// Records how many rotations run at once, in total and per kind, and fails chosen secrets.
    final class Recorder: Sendable {
        struct State { var running = 0, peak = 0, byKind: [RotatorKind: Int] = [:], peakByKind: [RotatorKind: Int] = [:], started: [SecretID] = [] }
        let state = Mutex(State())
        let failing: Set<SecretID>
        init(failing: Set<SecretID> = []) { self.failing = failing }

        func rotate(_ item: BatchItem) async -> BatchResult {
            state.withLock { state in
                state.running += 1
                state.peak = max(state.peak, state.running)
                state.byKind[item.rotator, default: 0] += 1
                state.peakByKind[item.rotator] = max(state.peakByKind[item.rotator] ?? 0, state.byKind[item.rotator]!)
                state.started.append(item.id)
            }
            try? await Task.sleep(for: .milliseconds(2))
            state.withLock { state in
                state.running -= 1
                state.byKind[item.rotator]! -= 1
            }
            return BatchResult(id: item.id, rotator: item.rotator, outcome: failing.contains(item.id) ? .failed : .rotated)
        }
    }

    static func plan(masters: Int, dependentsEach: Int, others: Int) -> BatchPlan {
        var items: [BatchItem] = []
        for master in 0..<masters {
            let masterID = id("/prod/db\(master)/db-credentials/master")
            items.append(BatchItem(id: masterID, rotator: "postgres-single-user", policy: nil))
            for app in 0..<dependentsEach {
                let appID = id("/prod/db\(master)/db-credentials/app\(app)")
                items.append(BatchItem(id: appID, rotator: "postgres-alternating-users", policy: nil,
                                       dependsOn: [DependencyEdge(dependent: appID, dependency: masterID, why: "masterarn")]))
            }
        }
        for other in 0..<others { items.append(BatchItem(id: id("/prod/web/api-key/k\(other)"), rotator: "random-password", policy: nil)) }
        return BatchPlan(selection: BatchSelection(environment: try! Environment("prod")), items: items)
    }

    @Test func capsHoldAndMastersRotateBeforeTheirDependents() async {
        let recorder = Recorder()
        let plan = Self.plan(masters: 3, dependentsEach: 5, others: 40)
        let progress = BatchProgress(total: plan.items.count, startedAt: Date())
        let results = await BatchRunner(plan: plan, limits: BatchLimits(maxConcurrent: 5, maxConcurrentPerRotator: 3), clock: SystemClock(), rotate: recorder.rotate).run(progress)
        let state = recorder.state.withLock { $0 }
        #expect(results.count == plan.items.count && results.allSatisfy { $0.outcome == .rotated })
        #expect(state.peak <= 5 && state.peakByKind.values.allSatisfy { $0 <= 3 })
        for (index, id) in state.started.enumerated() where id.secretName.hasPrefix("app") {
            let master = Self.id("/prod/\(id.service)/db-credentials/master")
            let masterEnd = results.firstIndex { $0.id == master }!
            #expect(state.started.firstIndex(of: master)! < index && masterEnd < results.firstIndex { $0.id == id }!)
        }
    }

    @Test func aFailedMasterSkipsItsDependentsAndTheRestGoesOn() async {
        let master = Self.id("/prod/db1/db-credentials/master")
        let recorder = Recorder(failing: [master])
        let plan = Self.plan(masters: 2, dependentsEach: 3, others: 4)
        let progress = BatchProgress(total: plan.items.count, startedAt: Date())
        let results = await BatchRunner(plan: plan, limits: BatchLimits(), clock: SystemClock(), rotate: recorder.rotate).run(progress)
        #expect(results.first { $0.id == master }?.outcome == .failed)
        let skipped = results.filter { $0.outcome == .skipped }
        #expect(skipped.map(\.id.service) == ["db1", "db1", "db1"] && skipped.allSatisfy { $0.error?.contains(master.rawValue) == true })
        #expect(results.count { $0.outcome == .rotated } == 1 + 3 + 4)
        #expect(!recorder.state.withLock { $0.started }.contains { $0.service == "db1" && $0 != master })
        #expect(progress.snapshot.worst == .failed)
    }

    /// A secret a person must rotate keeps its value in the batch: what uses it goes on without it.
    @Test func aSecretAPersonRotatesBlocksNothing() async {
        let key = Self.id("/prod/gh/app-key/private-key")
        let token = Self.id("/prod/gh/app-token/deploy")
        let plan = BatchPlan(selection: BatchSelection(service: "gh"), items: [
            BatchItem(id: key, rotator: "manual", policy: nil, needsPerson: "a person supplies it"),
            BatchItem(id: token, rotator: "github-app-token", policy: nil, dependsOn: [DependencyEdge(dependent: token, dependency: key, why: "signs")]),
        ])
        let results = await BatchRunner(plan: plan, limits: BatchLimits(), clock: SystemClock(), rotate: Recorder().rotate).run(BatchProgress(total: 2, startedAt: Date()))
        #expect(results.map(\.outcome) == [.needsPerson, .rotated])
    }

    /// A stop while rotations wait for the process's shared slots: the waiting ones never start.
    @Test func aStopReachesRotationsWaitingForASharedSlot() async {
        let slots = RotationSlots(maxConcurrent: 1, maxConcurrentPerRotator: 1)
        let plan = Self.plan(masters: 0, dependentsEach: 0, others: 4)
        let progress = BatchProgress(total: 4, startedAt: Date())
        let started = Mutex(0)
        let results = await BatchRunner(plan: plan, limits: BatchLimits(maxConcurrent: 4, maxConcurrentPerRotator: 4), clock: SystemClock(), slots: slots) { item in
            started.withLock { $0 += 1 }
            progress.stop("stopped through the API")
            try? await Task.sleep(for: .milliseconds(5))
            return BatchResult(id: item.id, rotator: item.rotator, outcome: .rotated)
        }.run(progress)
        #expect(started.withLock { $0 } == 1 && results.count { $0.outcome == .notStarted } == 3 && slots.running == 0)
    }

    @Test func stopOnErrorStartsNothingAfterTheFirstFailure() async {
        let plan = Self.plan(masters: 0, dependentsEach: 0, others: 10)
        let recorder = Recorder(failing: [Self.id("/prod/web/api-key/k0")])
        let progress = BatchProgress(total: plan.items.count, startedAt: Date())
        let results = await BatchRunner(plan: plan, limits: BatchLimits(maxConcurrent: 1, stopOnError: true), clock: SystemClock(), rotate: recorder.rotate).run(progress)
        #expect(results.map(\.outcome) == [.failed] + Array(repeating: .notStarted, count: 9))
        #expect(progress.snapshot.stopReason?.contains("--stop-on-error") == true)
    }

    @Test func aStopLetsRunningRotationsFinishAndStartsNothingMore() async {
        let plan = Self.plan(masters: 0, dependentsEach: 0, others: 20)
        let progress = BatchProgress(total: plan.items.count, startedAt: Date())
        let started = Mutex(0)
        let results = await BatchRunner(plan: plan, limits: BatchLimits(maxConcurrent: 2), clock: SystemClock()) { item in
            if started.withLock({ $0 += 1; return $0 }) == 3 { progress.stop("interrupted (SIGINT)") }
            try? await Task.sleep(for: .milliseconds(5))
            return BatchResult(id: item.id, rotator: item.rotator, outcome: .rotated)
        }.run(progress)
        let rotated = results.count { $0.outcome == .rotated }
        #expect(rotated == started.withLock { $0 } && (3...4).contains(rotated))
        #expect(results.count == 20 && results.count { $0.outcome == .notStarted } == 20 - rotated)
        #expect(progress.snapshot.running == 0 && progress.snapshot.finishedAt != nil)
    }

    @Test func sharedSlotsCapTwoRunsTogether() async {
        let slots = RotationSlots(maxConcurrent: 3, maxConcurrentPerRotator: 2)
        let recorder = Recorder()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    let plan = Self.plan(masters: 0, dependentsEach: 0, others: 15)
                    await BatchRunner(plan: plan, limits: BatchLimits(maxConcurrent: 3, maxConcurrentPerRotator: 3), clock: SystemClock(), slots: slots,
                                      rotate: recorder.rotate).run(BatchProgress(total: 15, startedAt: Date()))
                }
            }
        }
        #expect(recorder.state.withLock { $0.peak } <= 2 && slots.running == 0)
    }

    @Test func anEngineBatchRotatesAndAuditsTheRequestAndTheCounts() async throws {
        let engine = try await engine()
        let plan = try await engine.planBatch(BatchSelection(environment: try Environment("prod")), scope: .all) { _ in nil }
        let job = BatchJob(plan: plan, limits: BatchLimits(), actor: "test:alice", startedAt: Date())
        let snapshot = try await job.run(engine)
        #expect(snapshot.count(.rotated) == 4 && snapshot.count(.needsPerson) == 1 && snapshot.worst == .needsPerson)
        let audit = try await engine.state.auditEvents(of: nil, limit: 100).filter { $0.operation.hasPrefix("batch-") }
        #expect(audit.map(\.operation) == ["batch-requested", "batch-finished"] && audit.allSatisfy { $0.actor == "test:alice" })
        #expect(audit.last?.detail?.contains("rotated=4 needs-person=1") == true)
        for item in plan.items where item.needsPerson == nil {
            #expect(try await engine.state.rotations(of: item.id, limit: 5).map(\.trigger) == ["batch:\(job.id)"])
        }
    }
}
