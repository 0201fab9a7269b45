import Foundation
import Logging
import RotorAWS
import RotorCore
import RotorRotators
import RotorStorage

/// Wall time of one batch (`rotor rotate --match …`) over many secrets: on the embedded store with
/// durable state, and against Secrets Manager (moto_server) with the 50 TPS write limit, beside the
/// same secrets rotated one at a time.
enum BatchBench {
    static let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }

    /// Half random passwords, half encryption keys (two rotator kinds, so both caps matter); every
    /// tenth password depends on a key (a declared `depends_on`), so the batch orders and waits.
    static func secrets(_ count: Int, environment: String) throws -> [(SecretID, RotatorKind)] {
        try (0..<count).map { n in
            n % 2 == 0 ? (try SecretID("/\(environment)/svc\(n % 20)/api-key/k\(n)"), "random-password")
                : (try SecretID("/\(environment)/svc\((n - 1) % 20)/encryption-key/e\(n)"), "encryption-key")
        }
    }

    static func policy(_ id: SecretID) -> RotationPolicy? {
        guard id.secretType == "api-key", Int(id.secretName.dropFirst())! % 10 == 0 else { return nil }
        return RotationPolicy(name: "bench", matchers: [try! SecretMatcher("/\(id.environment)/**")], rotator: "random-password",
                              schedule: .every(PolicyDuration(seconds: 86_400)), dependsOn: [try! SecretMatcher("/\(id.environment)/\(id.service)/encryption-key/*")])
    }

    /// `rotor-bench batch N`: the embedded store, `synchronous=FULL`.
    static func runEmbedded(count: Int) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-bench-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try EmbeddedSecretStore(
            url: directory.appendingPathComponent("store.sqlite"),
            keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")), synchronous: .full)
        let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .full)
        let engine = RotationEngine(store: store, state: state, rotators: .builtIn, logger: quiet)
        try await create(engine, try secrets(count, environment: "prod"))
        let raw = try await RawCommitRate.measure(synchronous: .full)
        let (batch, plan) = try await runBatch(engine, environment: "prod")
        let sequential = try await oneAtATime(engine, plan.items.map(\.id))
        print(String(format: "batch of %d (%d waiting on a key; 8 at once, 4 per rotator)   %7.2f s  %6.0f rotations/s", count, plan.items.count { !$0.dependsOn.isEmpty }, batch, Double(count) / batch))
        print(String(format: "the same %d one at a time (rotor rotate ID each)          %7.2f s  %6.0f rotations/s", count, sequential, Double(count) / sequential))
        print(String(format: "(machine limit: %.0f raw SQLite commits/s with synchronous=FULL; a rotation costs about 6)", raw))
    }

    /// `rotor-bench batch-aws N`: Secrets Manager through one client with its 50 TPS write limit.
    static func runAWS(count: Int) async throws {
        guard let client = try AWSBench.client(writesPerSecond: 50) else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-bench-batch-aws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .full)
        let engine = RotationEngine(store: AWSSecretStore(client: client), state: state, rotators: .builtIn, logger: quiet)
        let environment = "b\(UUID().uuidString.prefix(8).lowercased().filter(\.isLetter))"
        try await create(engine, try secrets(count, environment: environment))
        client.requestCounter.reset()
        let (batch, _) = try await runBatch(engine, environment: environment)
        let calls = client.requestCounter.byOperation
        let writes = (calls["PutSecretValue"] ?? 0) + (calls["UpdateSecretVersionStage"] ?? 0)
        print(String(format: "batch of %d against moto, 8 at once, 4 per rotator, 50 TPS write limit: %.1f s, %.1f rotations/s, %.1f writes/s",
                     count, batch, Double(count) / batch, Double(writes) / batch))
        print(String(format: "(the limit is the bound: %d writes at 50/s after a first burst of 50 take %.1f s at best; one at a time: see rotor-cli above)",
                     writes, Double(max(0, writes - 50)) / 50))
    }

    static func create(_ engine: RotationEngine, _ secrets: [(SecretID, RotatorKind)]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, (id, kind)) in secrets.enumerated() {
                if index >= 8 { try await group.next() }
                group.addTask {
                    let value = try await engine.rotators.descriptor(kind).initialValue(RotatorOptions([:]), store: engine.store)!
                    try await engine.createManagedSecret(id, rotator: kind, options: RotatorOptions([:]), initialValue: value)
                }
            }
            try await group.waitForAll()
        }
    }

    static func runBatch(_ engine: RotationEngine, environment: String) async throws -> (Double, BatchPlan) {
        let start = ContinuousClock.now
        let plan = try await engine.planBatch(BatchSelection(environment: try Environment(environment)), scope: .all, policies: policy)
        print(String(format: "(planning %d secrets: %.3f s)", plan.items.count, (ContinuousClock.now - start).seconds))
        let job = BatchJob(plan: plan, limits: BatchLimits(), actor: "bench", startedAt: Date())
        let snapshot = try await job.run(engine)
        guard snapshot.count(.rotated) == plan.items.count else {
            throw RotorError(.stepFailed, "batch: \(BatchJob.counts(snapshot)); \(snapshot.results.first { $0.outcome != .rotated }?.error ?? "")")
        }
        return ((ContinuousClock.now - start).seconds, plan)
    }

    static func oneAtATime(_ engine: RotationEngine, _ ids: [SecretID]) async throws -> Double {
        let start = ContinuousClock.now
        for id in ids { guard try await engine.rotate(id, trigger: "bench").succeeded else { throw RotorError(.stepFailed, "rotation failed", secret: id) } }
        return (ContinuousClock.now - start).seconds
    }
}
