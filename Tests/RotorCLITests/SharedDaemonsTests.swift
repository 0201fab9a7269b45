import Foundation
import Logging
import PostgresNIO
import Testing
import RotorAWS
import RotorCore
@testable import RotorStatePostgres
import RotorTestSupport

/// Several daemon processes on one PostgreSQL state and one Secrets Manager (moto): they share the
/// due secrets by claims, each secret is rotated exactly once per due period, and a daemon killed in
/// the middle of a rotation has it finished by another with the same token.
@Suite(.serialized, .enabled(if: PostgresTestServer.enabled && MotoSettings.enabled))
struct SharedDaemonsTests {
    /// `count` secrets in moto and in a fresh schema, last rotated (created) 40 days ago, so a 30-day
    /// policy makes every one due at once.
    struct Fleet {
        let environment = "sh" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10)
        let schema = PostgresTestServer.uniqueSchema("fleet")
        let state: PostgresStateStore
        let daemonEnvironment: [String: String]
        let directory: URL
        /// The Secrets Manager (moto) the daemons rotate in.
        let store: AWSSecretStore
        let ids: [SecretID]

        /// - Parameter moto: a moto_server of the test's own: three daemons' load makes the shared one fail other tests' calls.
        /// - Parameter postgres: a server of the test's own (one it restarts); else the one `make test` runs.
        /// - Parameter age: days since the secrets were last rotated (more than 30: all due at once).
        init(secrets count: Int, moto: MotoSettings.Settings, postgres: PostgresTestServer.Settings? = nil, age: Double = 40) async throws {
            let server = try postgres ?? PostgresTestServer.require()
            state = try await PostgresStateStore.open(try PostgresStateSettings(
                host: server.host, port: server.port, username: server.user, password: SecretValue(string: server.password), database: "postgres",
                schema: schema, caFile: server.caFile, poolSize: 8), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            daemonEnvironment = [
                "ROTOR_STORE": "aws", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.endpoint.absoluteString,
                "AWS_ACCESS_KEY_ID": moto.accessKey, "AWS_SECRET_ACCESS_KEY": moto.secretKey,
                "ROTOR_STATE_URL": "postgres://\(server.user)@\(server.host):\(server.port)/postgres?schema=\(schema)" + (server.caFile.map { "&sslrootcert=\($0)" } ?? ""),
                "ROTOR_STATE_PASSWORD": server.password,
            ]
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-fleet-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try """
                policies:
                  - name: fleet
                    match: [/\(environment)/*/api-key/*]
                    rotator: random-password
                    every: 30d
                """.write(to: directory.appendingPathComponent("policies.yaml"), atomically: true, encoding: .utf8)
            let store = AWSSecretStore(client: SecretsManagerClient(
                endpoint: moto.endpoint, region: "us-east-1", credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: moto.accessKey, secretAccessKey: moto.secretKey))))
            self.store = store
            let (environment, state) = (environment, state)
            ids = try (0..<count).map { index in try SecretID("/\(environment)/svc\(index % 10)/api-key/k\(index)") }
            let created = Date().addingTimeInterval(-age * 86_400)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    if index >= 16 { try await group.next() }
                    group.addTask {
                        let id = try SecretID("/\(environment)/svc\(index % 10)/api-key/k\(index)")
                        _ = try await store.createSecret(CreateSecretInput(
                            id: id, description: "fleet", tags: [:], initialValue: SecretValue(string: "initial-\(index)"),
                            initialVersionID: VersionID(UUID().uuidString.lowercased())))
                        try await state.register(ManagedSecret(id: id, rotator: "random-password", options: RotatorOptions(), createdAt: created),
                                                 audit: AuditEvent(at: Date(), actor: "test", secret: id, operation: "secret.manage", outcome: "succeeded"))
                    }
                }
                try await group.waitForAll()
            }
        }

        /// A daemon on its own home, as on its own host.
        func daemon(_ extra: [String: String] = [:], arguments: [String] = ["--lease-ttl", "3"]) throws -> DaemonProcess {
            let home = directory.appendingPathComponent("host-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            return try DaemonProcess(
                home: home, policies: directory, token: "fleet-token",
                extraArguments: ["--environment", environment] + arguments, environment: daemonEnvironment.merging(extra) { $1 })
        }

        /// The CLI on the daemons' state and Secrets Manager.
        func cli() throws -> CLI {
            var cli = try CLI()
            cli.environment = daemonEnvironment
            return cli
        }

        struct Tally: Equatable { var rotations: Int, succeeded: Int, secrets: Int, open: Int }

        func tally() async throws -> Tally {
            try await state.read("test") { session in
                let row = try await session.row("""
                    SELECT count(*) AS rotations, count(*) FILTER (WHERE outcome = 'succeeded') AS succeeded,
                           count(DISTINCT secret_id) AS secrets, count(*) FILTER (WHERE outcome IN ('in-progress', 'rolling-back')) AS open
                    FROM rotation
                    """)!
                return Tally(rotations: Int(try row.value("rotations", as: Int64.self)), succeeded: Int(try row.value("succeeded", as: Int64.self)),
                             secrets: Int(try row.value("secrets", as: Int64.self)), open: Int(try row.value("open", as: Int64.self)))
            }
        }

        /// Who finished how many rotations (the lock owner of each successful finishSecret).
        func split() async throws -> [String: Int] {
            try await state.read("test") { session in
                var split: [String: Int] = [:]
                for row in try await session.rows("""
                    SELECT owner, count(*) AS n FROM rotation_step WHERE step = 'finishSecret' AND outcome = 'succeeded' GROUP BY owner
                    """) {
                    split[try row.value("owner", as: String.self)] = Int(try row.value("n", as: Int64.self))
                }
                return split
            }
        }

        /// Polls the journal until `count` rotations succeeded (a read failing meanwhile, as while the
        /// server restarts, is retried).
        func waitUntilEveryoneRotated(_ count: Int, timeout: TimeInterval) async throws -> Tally {
            let deadline = Date().addingTimeInterval(timeout)
            var last = (try? await tally()) ?? Tally(rotations: 0, succeeded: 0, secrets: 0, open: 0)
            while Date() < deadline, last.succeeded < count {
                try await Task.sleep(for: .milliseconds(500))
                last = (try? await tally()) ?? last
            }
            return last
        }
    }

    static func stop(_ daemons: [DaemonProcess]) async {
        for daemon in daemons { daemon.signal(SIGTERM) }
        for daemon in daemons { _ = try? await daemon.waitForExit(timeout: 30) }
    }

    /// Runs `body` with a moto_server of its own (the suite runs its tests one at a time).
    static func withOwnMoto(_ body: (MotoSettings.Settings) async throws -> Void) async throws {
        let moto = try await OwnMoto()
        do {
            try await body(moto.settings)
            await moto.stop()
        } catch {
            await moto.stop()
            throw error
        }
    }

    @Test func threeDaemonsRotateAThousandDueSecretsExactlyOnceBetweenThem() async throws {
        try await Self.withOwnMoto { moto in try await thousandSecrets(moto) }
    }

    func thousandSecrets(_ moto: MotoSettings.Settings) async throws {
        let fleet = try await Fleet(secrets: 1000, moto: moto)
        defer { Task { await fleet.state.close() } }
        // The caps are the fleet's: 12 at once in all, each daemon claiming its share.
        let daemons = try (0..<3).map { _ in try fleet.daemon(arguments: ["--lease-ttl", "3", "--max-concurrent", "24", "--max-concurrent-per-rotator", "12"]) }
        let tally = try await fleet.waitUntilEveryoneRotated(1000, timeout: 600)
        // `rotor daemons` lists the three, by their heartbeats in the shared state.
        let listed = try await fleet.cli().run(["daemons", "--json"])
        let pids = Set(listed.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["pid"] as? Int
        })
        #expect(pids == Set(daemons.map { Int($0.process.processIdentifier) }), "\(listed.output)")
        // Nothing more starts once every secret is rotated: the schedule moved on by 30 days.
        try await Task.sleep(for: .seconds(3))
        let settled = try await fleet.tally()
        await Self.stop(daemons)
        #expect(tally.succeeded == 1000, "\(tally)\n\(daemons.map { String($0.output.suffix(1500)) }.joined(separator: "\n---\n"))")
        #expect(settled == Fleet.Tally(rotations: 1000, succeeded: 1000, secrets: 1000, open: 0), "\(settled)")
        let split = try await fleet.split()
        print("split of 1,000 rotations over three daemons: \(split.values.sorted(by: >))")
        #expect(split.count == 3 && split.values.allSatisfy { $0 > 0 } && split.values.reduce(0, +) == 1000, "\(split)")
        let later = try await fleet.state.read("test") { session in
            try await session.row("SELECT count(*) AS n FROM schedule WHERE next_due_at <= extract(epoch FROM now()) + 86400")!.value("n", as: Int64.self)
        }
        #expect(later == 0, "every secret's next rotation is about 30 days away")
    }

    /// A daemon kills itself (SIGKILL) right after a rotation's PutSecretValue, three times over
    /// (started again each time, alone, so it is the one to act); then two more daemons join. Every
    /// rotation a killed daemon began is finished by another with the same token, and every secret
    /// is rotated exactly once.
    @Test func aDaemonKilledMidRotationHasItsRotationsFinishedByTheOthers() async throws {
        try await Self.withOwnMoto { moto in try await killedMidRotation(moto) }
    }

    func killedMidRotation(_ moto: MotoSettings.Settings) async throws {
        let fleet = try await Fleet(secrets: 150, moto: moto)
        defer { Task { await fleet.state.close() } }
        var killed: [Int32] = []
        for _ in 0..<3 {
            let doomed = try fleet.daemon(["ROTOR_LOCK_TTL": "6", "ROTOR_FAULT_KILL_AT": "put"])
            let status = try await doomed.waitForExit(timeout: 120)
            #expect(doomed.process.terminationReason == .uncaughtSignal && status == SIGKILL, "\(doomed.output.suffix(1500))")
            killed.append(doomed.process.processIdentifier)
        }
        let steady = try (0..<2).map { _ in try fleet.daemon(["ROTOR_LOCK_TTL": "6"]) }
        let tally = try await fleet.waitUntilEveryoneRotated(150, timeout: 300)
        await Self.stop(steady)
        #expect(tally == Fleet.Tally(rotations: 150, succeeded: 150, secrets: 150, open: 0), "\(tally)")
        for pid in killed {
            let owners = try await fleet.state.read("test") { session in
                try await session.rows("""
                    SELECT r.token, array_agg(DISTINCT s.owner) AS owners, min(r.outcome) AS outcome FROM rotation r JOIN rotation_step s ON s.token = r.token
                    WHERE r.token IN (SELECT token FROM rotation_step WHERE split_part(split_part(owner, '@', 2), ':', 2) = \("\(pid)")) GROUP BY r.token
                    """).map { (try $0.value("owners", as: [String].self), try $0.value("outcome", as: String.self)) }
            }
            #expect(!owners.isEmpty, "the killed daemon \(pid) began a rotation")
            #expect(owners.allSatisfy { $0.0.count >= 2 && $0.1 == "succeeded" }, "another daemon finished it with the same token: \(owners)")
        }
    }
}
