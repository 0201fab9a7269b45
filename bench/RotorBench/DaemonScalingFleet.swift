import Foundation
import Logging
import PostgresNIO
import RotorAWS
import RotorCore
import RotorDaemon
import RotorPostgres
import RotorRotators
import RotorStatePostgres
import RotorStorage

extension DaemonScalingBench {
    /// Secrets in moto and in a schema of their own, a policy that covers them, and daemon workers on it.
    struct Fleet {
        let services: Services
        let schema: String
        let state: PostgresStateStore
        let ids: [SecretID]
        let directory: URL

        static func make(_ count: Int, services: Services, client: SecretsManagerClient, age: Double) async throws -> Fleet {
            let schema = "bench_fleet_" + UUID().uuidString.lowercased().prefix(8)
            let state = try await PostgresStateStore.open(try settings(services, schema: schema), logger: quiet)
            let environment = "bf" + UUID().uuidString.lowercased().prefix(8)
            let ids = try (0..<count).map { try SecretID("/\(environment)/svc\($0 % 10)/api-key/k\($0)") }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-bench-fleet-\(schema)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try "policies:\n  - name: fleet\n    match: [/\(environment)/*/api-key/*]\n    rotator: random-password\n    every: 30d\n"
                .write(to: directory.appendingPathComponent("policies.yaml"), atomically: true, encoding: .utf8)
            let store = AWSSecretStore(client: client)
            let created = Date().addingTimeInterval(-age * 86_400)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, id) in ids.enumerated() {
                    if index >= 16 { try await group.next() }
                    group.addTask {
                        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "initial-\(index)")))
                        try await state.register(ManagedSecret(id: id, rotator: "random-password", options: RotatorOptions(), createdAt: created),
                                                 audit: AuditEvent(at: Date(), actor: "bench", secret: id, operation: "secret.manage", outcome: "succeeded"))
                    }
                }
                try await group.waitForAll()
            }
            return Fleet(services: services, schema: schema, state: state, ids: ids, directory: directory)
        }

        /// A daemon process on this fleet (`rotor-bench daemon-worker`).
        func worker(_ services: Services, maxConcurrent: Int, claimPoll: Double = 5, leaseTTL: Double = 5) throws -> BenchChild {
            var env = services.env
            env["BENCH_SCHEMA"] = schema
            env["BENCH_POLICIES"] = directory.path
            env["BENCH_MAX_CONCURRENT"] = "\(maxConcurrent)"
            env["BENCH_CLAIM_POLL"] = "\(claimPoll)"
            env["BENCH_LEASE_TTL"] = "\(leaseTTL)"
            return try BenchChild(CommandLine.arguments[0], ["daemon-worker"], environment: env)
        }

        /// A read of the bench's own on the fleet's schema (journal figures).
        func read<T: Sendable>(_ body: (BenchSession) async throws -> T) async throws -> T {
            let connection = try await PostgresConnector(caFile: services.pg.ca).open(
                host: services.pg.host, port: services.pg.port, username: services.pg.user, password: SecretValue(string: services.pg.password),
                database: "postgres", parameters: [("search_path", schema)])
            do {
                let result = try await body(BenchSession(connection: connection))
                try await connection.close()
                return result
            } catch {
                try? await connection.close()
                throw error
            }
        }

        func succeeded() async throws -> Int {
            try await read { session in
                Int(try await session.row("SELECT count(*) AS n FROM rotation WHERE outcome = 'succeeded'")!.benchValue("n", as: Int64.self))
            }
        }
    }

    /// One daemon, as `rotor daemon --store aws --state postgres://…` wires it, without a write limit.
    static func worker() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let services = services(), let schema = env["BENCH_SCHEMA"], let policies = env["BENCH_POLICIES"],
              let maxConcurrent = env["BENCH_MAX_CONCURRENT"].flatMap(Int.init), let poll = env["BENCH_CLAIM_POLL"].flatMap(Double.init),
              let leaseTTL = env["BENCH_LEASE_TTL"].flatMap(Double.init) else { throw RotorError(.invalidParameter, "daemon-worker: BENCH_* missing") }
        let state = try await PostgresStateStore.open(try settings(services, schema: schema), logger: quiet)
        let store = AWSSecretStore(client: try AWSBench.client(writesPerSecond: .infinity)!, actor: "daemon")
        let configuration = EngineConfiguration(actor: "daemon", lockTTL: 60, lockOwner: LocalLockOwner.make(actor: "daemon"), holderIsDead: LocalLockOwner.isDead)
        let engine = RotationEngine(store: store, state: state, rotators: .builtIn, configuration: configuration, logger: quiet)
        let scheduler = SchedulerConfiguration(
            maxConcurrent: maxConcurrent, maxConcurrentPerRotator: maxConcurrent, leaseTTL: leaseTTL, claimPoll: .milliseconds(Int64(poll * 1000)))
        try await Daemon(engine: engine, schedule: state, options: Daemon.Options(policiesPath: policies, port: 0, scheduler: scheduler), logger: quiet).run()
        await state.close()
    }
}

extension PostgresStateStore {
    /// `count` managed secrets due at `dueAt`.
    func registerDue(_ count: Int, at dueAt: Date) async throws {
        for index in 0..<count {
            let id = try SecretID("/claims/svc/api-key/k\(index)")
            try await register(ManagedSecret(id: id, rotator: "random-password", options: RotatorOptions(), createdAt: Date()),
                               audit: AuditEvent(at: Date(), actor: "bench", secret: id, operation: "secret.manage", outcome: "succeeded"))
            try await saveScheduleEntry(ScheduleEntry(secret: id, policy: "p", fingerprint: "f", nextDueAt: dueAt))
        }
    }
}

struct BenchSession {
    let connection: PostgresConnection

    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await connection.query(query, logger: DaemonScalingBench.quiet).collect().map { PostgresRandomAccessRow($0) }
    }

    func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? { try await rows(query).first }
}

extension PostgresRandomAccessRow {
    func benchValue<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T { try self[column].decode(T.self) }
}
