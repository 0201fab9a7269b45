import Foundation
import Logging
import RotorCore
import RotorCognito
import RotorDaemon
import RotorGitHub
import RotorHTTP
import RotorPolicies
import RotorPostgres
import RotorRotators
import RotorStorage

/// `rotor plan`'s planning and one scheduler tick at growing numbers of secrets: the tick rotates
/// the same 10 due secrets each time, so its cost should stay flat while the plan grows linearly.
enum SchedulerBench {
    static let due = 10

    static func run(sizes: [Int]) async throws {
        // The shipped database policy (30 days, a Berlin-time window, 4 h jitter), with a rotator that
        // needs no database: this measures scheduling, not PostgreSQL.
        var policy = try PolicyLoader(rotators: shippedRotators).load(path: "schedules").policies.first { $0.name == "database-credentials" }!
        policy.rotator = "random-password"
        let policies = PolicySet(policies: [policy], files: [])
        print("secrets     plan(s)  plan µs/secret  tick(ms, \(due) due)  due-query(ms)  reconcile(s)  incremental(ms)  /metrics(ms)  API page of 100(ms)  peak RSS (MiB)")
        for size in sizes {
            let planSeconds = try measurePlan(size: size, policy: policy)
            let fleet = try await measureFleet(size: size, policy: policy, policies: policies)
            print(String(
                format: "%9d  %8.3f  %14.2f  %19.1f  %13.2f  %12.2f  %15.1f  %12.1f  %19.1f  %14.0f", size, planSeconds, planSeconds / Double(size) * 1e6,
                fleet.tick * 1000, fleet.query * 1000, fleet.reconcile, fleet.incremental * 1000, fleet.metrics * 1000, fleet.page * 1000, peakRSS()))
        }
        print("(reconcile: a full pass over every managed secret and schedule row with unchanged policies; incremental: the")
        print(" pass between full ones, with 10 secrets registered since the last pass; /metrics: the")
        print(" daemon's fleet-level scrape, refresh and render; API page: /api/observability/secrets?limit=100 from the middle; both median of 5)")
    }

    /// Every kind the shipped policies name, as the CLI registers them.
    static var shippedRotators: RotatorRegistry {
        var registry = RotatorRegistry.withPostgres
        RotatorRegistry.gitHubDescriptors.forEach { registry.register($0) }
        RotatorRegistry.cognitoDescriptors(environment: [:]).forEach { registry.register($0) }
        return registry.withProbes()
    }

    /// Plans `size` secrets with the database policy (window, jitter) as `rotor plan` does.
    static func measurePlan(size: Int, policy: RotationPolicy) throws -> Double {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let facts = try (0..<size).map { index in
            ScheduleFacts(secret: try SecretID("/prod/service-\(index % 100)/db-credentials/user-\(index)"), managedSince: now.addingTimeInterval(-Double(index % 40) * 86_400))
        }
        let clock = ContinuousClock()
        let start = clock.now
        var scheduled = 0
        for fact in facts where SchedulePlanner.plan(policy, fact, now: now).nextRotation != nil { scheduled += 1 }
        precondition(scheduled == size)
        return (clock.now - start).seconds
    }

    struct Fleet { var tick: Double; var query: Double; var reconcile: Double; var incremental: Double; var metrics: Double; var page: Double }

    /// A state database with `size` scheduled secrets of which 10 are due: one tick (rotations
    /// included), the due query, a reconcile pass, a `/metrics` scrape and one API page.
    static func measureFleet(size: Int, policy: RotationPolicy, policies: PolicySet) async throws -> Fleet {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-tick-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let now = Date()
        let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .normal)
        let store = InMemorySecretStore()
        let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let engine = RotationEngine(store: store, state: state, rotators: .builtIn, logger: quiet)
        for batch in stride(from: 0, to: size, by: 50_000) {
            let ids = try (batch..<min(size, batch + 50_000)).map { try SecretID("/prod/service-\($0 % 100)/db-credentials/user-\($0)") }
            try await state.registerMany(ids.map { ManagedSecret(id: $0, rotator: "random-password", options: policy.options, createdAt: now) })
            try await state.saveScheduleEntries(ids.enumerated().map { offset, id in
                ScheduleEntry(secret: id, policy: policy.name, fingerprint: policy.fingerprint,
                              nextDueAt: batch + offset < due ? now.addingTimeInterval(-60) : now.addingTimeInterval(86_400 + Double(batch + offset)))
            })
            for id in ids.prefix(max(0, due - batch)) {
                _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: #"{"password":"initial"}"#)))
            }
        }
        let metrics = RotorMetrics()
        let scheduler = RotationScheduler(
            engine: engine, schedule: state, policies: { policies }, clock: SystemClock(),
            alerts: AlertCenter(outbox: state, clock: SystemClock(), logger: quiet), metrics: metrics,
            configuration: SchedulerConfiguration(), logger: quiet)
        let clock = ContinuousClock()
        let queryStart = clock.now
        _ = try await state.dueRotations(at: now, limit: 512, in: .all)
        _ = try await state.earliestDeadline(in: .all)
        let query = (clock.now - queryStart).seconds
        try await scheduler.reconcileForBenchmark(policies)
        let start = clock.now
        let summary = try await scheduler.tick()
        let tick = (clock.now - start).seconds
        precondition(summary.rotated.count == due, "expected \(due) rotations, got \(summary.rotated.count) (\(summary.failed.count) failed)")

        let reconcileStart = clock.now
        _ = try await PolicyReconciler(engine: engine, schedule: state, clock: SystemClock(), logger: quiet).reconcile(policies)
        let reconcile = (clock.now - reconcileStart).seconds
        // Between full passes: 10 secrets registered since, the rest unchanged.
        let sequence = try await state.configSequence()
        let added = try (0..<10).map { try SecretID("/prod/service-new/db-credentials/user-\($0)") }
        try await state.registerMany(added.map { ManagedSecret(id: $0, rotator: "random-password", options: policy.options, createdAt: now) })
        let incrementalStart = clock.now
        let changes = try await PolicyReconciler(engine: engine, schedule: state, clock: SystemClock(), logger: quiet).reconcileChanges(policies, after: sequence)
        let incremental = (clock.now - incrementalStart).seconds
        precondition(changes.scheduled == added.count, "the incremental pass scheduled \(changes.scheduled) of \(added.count)")
        let api = ObservabilityAPI(engine: engine, schedule: state, metrics: metrics, scheduler: scheduler, token: nil)
        _ = try await api.metricsText()
        let scrape = try await medianOfFive {
            let text = try await api.metricsText()
            precondition(text.contains("rotor_managed_secrets"))
        }
        let middle = try SecretID("/prod/service-\(size / 2 % 100)/db-credentials/user-\(size / 2)")
        let pageTime = try await medianOfFive {
            let page = try await state.secretPage(in: .all, after: middle, limit: 100)
            precondition(!page.isEmpty)
        }
        return Fleet(tick: tick, query: query, reconcile: reconcile, incremental: incremental, metrics: scrape, page: pageTime)
    }

    /// The median of five timed runs of `body`, in seconds.
    static func medianOfFive(_ body: () async throws -> Void) async throws -> Double {
        let clock = ContinuousClock()
        var times: [Double] = []
        for _ in 0..<5 {
            let start = clock.now
            try await body()
            times.append((clock.now - start).seconds)
        }
        return times.sorted()[2]
    }

    static func peakRSS() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
