import Foundation
import Logging
import RotorAWS
import RotorCore
import RotorDaemon
import RotorRotators
import RotorStatePostgres
import RotorStorage

/// Daemons sharing one PostgreSQL state against Secrets Manager (moto_server, no write limit):
/// rotations per second with 1, 2 and 3 daemon processes (each `rotor-bench daemon-worker`, the same
/// `RotorDaemon.Daemon` as `rotor daemon`), beside the machine's limit (moto's raw calls a second
/// over the calls a rotation needs); then claim latency: the claim statement with 1-3 claimers at
/// once, and a queued rotation (`rotor rotate --queue`) until an idle daemon starts it (NOTIFY).
enum DaemonScalingBench {
    struct Services {
        let moto: URL
        let pg: (host: String, port: Int, user: String, password: String, ca: String?)
        let env: [String: String]
    }

    static func services() -> Services? {
        let env = ProcessInfo.processInfo.environment
        guard let moto = env["AWS_ENDPOINT_URL_SECRETS_MANAGER"].flatMap(URL.init(string:)), let host = env["ROTOR_TEST_PG_HOST"],
              let port = env["ROTOR_TEST_PG_PORT"].flatMap(Int.init), let user = env["ROTOR_TEST_PG_USER"], let password = env["ROTOR_TEST_PG_PASSWORD"] else {
            print("rotor-bench daemons: set AWS_ENDPOINT_URL_SECRETS_MANAGER and ROTOR_TEST_PG_* (make bench starts moto_server and PostgreSQL)")
            return nil
        }
        return Services(moto: moto, pg: (host, port, user, password, env["ROTOR_TEST_PG_CA"]), env: env)
    }

    static func settings(_ services: Services, schema: String) throws -> PostgresStateSettings {
        try PostgresStateSettings(host: services.pg.host, port: services.pg.port, username: services.pg.user, password: SecretValue(string: services.pg.password),
                                  database: "postgres", schema: schema, caFile: services.pg.ca, poolSize: 8)
    }

    static let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }

    static func run(secrets: Int) async throws {
        guard let services = services() else { return }
        let client = try AWSBench.client(writesPerSecond: .infinity)!
        let limit = try await motoCallsPerSecond(client)
        // A rotation without a target costs 6 Secrets Manager calls (see the calls-per-rotation table).
        print("machine limit: moto_server answers \(Int(limit)) DescribeSecret calls/s (8 at once) = \(Int(limit / 6)) rotations/s at 6 calls each")
        print("daemons  secrets  rotations/s  per daemon  x one daemon  split (rotations per daemon)")
        var one = 0.0
        for daemons in 1...3 {
            let (rate, split) = try await scaling(daemons: daemons, secrets: secrets, services: services, client: client)
            if daemons == 1 { one = rate }
            print(String(format: "%7d  %7d  %11.0f  %10.0f  %12.2f  ", daemons, secrets, rate, rate / Double(daemons), rate / one) + split.map(String.init).joined(separator: "/"))
        }
        print("(rotations/s from the first rotation's start to the last one's end in the journal; each daemon a process of")
        print(" its own with --max-concurrent 48 for the fleet, so one daemon claims 48 at once and three claim 16 each)")
        try await claimLatency(services)
        try await wakeUpLatency(services, client: client)
    }

    /// `count` secrets in moto and in a fresh schema, all due; `daemons` workers; the rate from the journal.
    static func scaling(daemons: Int, secrets count: Int, services: Services, client: SecretsManagerClient) async throws -> (Double, [Int]) {
        let fleet = try await Fleet.make(count, services: services, client: client, age: 40)
        defer { Task { await fleet.state.close() } }
        let workers = try (0..<daemons).map { _ in try fleet.worker(services, maxConcurrent: 48) }
        defer { workers.forEach { $0.terminate() } }
        while try await fleet.succeeded() < count { try await Task.sleep(for: .milliseconds(200)) }
        let (span, split) = try await fleet.read { session in
            let span = try await session.row("SELECT max(ended_at) - min(started_at) AS span FROM rotation")!.benchValue("span", as: Double.self)
            let split = try await session.rows("""
                SELECT count(*) AS n FROM rotation_step WHERE step = 'finishSecret' AND outcome = 'succeeded' GROUP BY owner ORDER BY n DESC
                """).map { Int(try $0.benchValue("n", as: Int64.self)) }
            return (span, split)
        }
        return (Double(count) / span, split)
    }

    /// moto's own speed: DescribeSecret, 8 at once, for 3 s.
    static func motoCallsPerSecond(_ client: SecretsManagerClient) async throws -> Double {
        let store = AWSSecretStore(client: client)
        let id = try AWSBench.newID("moto-limit")
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "x")))
        let start = ContinuousClock.now
        let calls = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var calls = 0
                    while ContinuousClock.now - start < .seconds(3) { _ = try await store.describeSecret(id); calls += 1 }
                    return calls
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(calls) / (ContinuousClock.now - start).seconds
    }

    /// The claim statement alone: 1-3 claimers at once over 3,000 due secrets, 8 a claim.
    static func claimLatency(_ services: Services) async throws {
        print("")
        print("claimers  claims  ms/claim(p50)  ms/claim(p99)  (8 due secrets a claim, taken one claimer at a time)")
        for claimers in 1...3 {
            let schema = "bench_claims_" + UUID().uuidString.lowercased().prefix(8)
            let stores = try await (0..<claimers).asyncMap { _ in try await PostgresStateStore.open(try settings(services, schema: schema), logger: quiet) }
            let now = Date()
            try await stores[0].registerDue(3000, at: now.addingTimeInterval(-60))
            let times = try await withThrowingTaskGroup(of: [Double].self) { group in
                for (index, store) in stores.enumerated() {
                    group.addTask {
                        var times: [Double] = []
                        for _ in 0..<(300 / claimers) {
                            let start = ContinuousClock.now
                            _ = try await store.claimDue(at: now, limit: 8, in: .all, owner: "claimer-\(index)", ttl: 600, caps: .none)
                            times.append((ContinuousClock.now - start).seconds * 1000)
                        }
                        return times
                    }
                }
                return try await group.reduce([], +).sorted()
            }
            for store in stores { await store.close() }
            print(String(format: "%8d  %6d  %13.2f  %13.2f", claimers, times.count, times[times.count / 2], times[times.count * 99 / 100]))
        }
    }

    /// Two idle daemons (a 10-minute poll): a requested rotation until one starts it, 20 times.
    static func wakeUpLatency(_ services: Services, client: SecretsManagerClient) async throws {
        let fleet = try await Fleet.make(20, services: services, client: client, age: 1)
        defer { Task { await fleet.state.close() } }
        let workers = try (0..<2).map { _ in try fleet.worker(services, maxConcurrent: 8, claimPoll: 600, leaseTTL: 600) }
        defer { workers.forEach { $0.terminate() } }
        while true {
            let planned = try await fleet.state.scheduleEntries(in: .all).count
            let heard = try await fleet.state.daemons(heardSince: Date().addingTimeInterval(-60)).count
            if planned == 20, heard == 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .seconds(1))
        var latencies: [Double] = []
        for id in fleet.ids {
            let asked = Date()
            try await fleet.state.requestRotation(id, at: asked, audit: AuditEvent(at: asked, actor: "bench", secret: id, operation: "rotation.request", outcome: "queued"))
            while true {
                let started = try await fleet.read { session in
                    try await session.row("SELECT min(started_at) AS at FROM rotation WHERE secret_id = \(id.rawValue)")?.benchValue("at", as: Double?.self)
                }
                if let started {
                    latencies.append((started - asked.timeIntervalSince1970) * 1000)
                    break
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        latencies.sort()
        print("")
        print(String(format: "rotor rotate --queue -> an idle daemon starts it (NOTIFY; poll 600 s): p50 %.1f ms, max %.1f ms over %d requests",
                     latencies[latencies.count / 2], latencies.last!, latencies.count))
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
