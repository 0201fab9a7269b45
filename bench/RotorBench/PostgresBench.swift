import Foundation
import Logging
import PostgresNIO
import RotorCore
import RotorPostgres
import RotorStorage

/// Time per rotation of each PostgreSQL strategy against the local server (embedded store, durable state).
enum PostgresBench {
    static func run(rotations: Int) async throws {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["ROTOR_TEST_PG_HOST"], let port = env["ROTOR_TEST_PG_PORT"].flatMap(Int.init),
              let superuser = env["ROTOR_TEST_PG_USER"], let password = env["ROTOR_TEST_PG_PASSWORD"] else {
            print("rotor-bench postgres: set ROTOR_TEST_PG_* (make bench starts PostgreSQL)")
            return
        }
        func json(_ user: String, _ password: String, master: SecretID? = nil) -> SecretValue {
            var object: [String: Any] = ["engine": "postgres", "host": host, "port": port, "username": user, "password": password, "dbname": "postgres"]
            if let master { object["masterarn"] = master.rawValue }
            return SecretValue(string: String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-pg-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let engine = RotationEngine(
            store: try EmbeddedSecretStore(url: directory.appendingPathComponent("store.sqlite"),
                                           keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key"))),
            state: try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite")), rotators: .withPostgres,
            logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let suffix = UUID().uuidString.lowercased().prefix(8)
        let options = RotatorOptions(env["ROTOR_TEST_PG_CA"].map { ["ca-file": $0] } ?? [:])
        let admin = try PostgresSecret(json(superuser, password), secret: try SecretID("/bench/pg/db-credentials/admin"))
        try await PostgresConnector(caFile: env["ROTOR_TEST_PG_CA"]).withConnection(admin, id: try SecretID("/bench/pg/db-credentials/admin"), step: nil) { connection in
            for role in ["bench_single_\(suffix)", "bench_alt_\(suffix)"] {
                _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE ROLE \(role) WITH LOGIN PASSWORD 'bench-initial-0'"), logger: Logger(label: "bench")).collect()
            }
        }
        let master = try SecretID("/bench/pg/db-credentials/master")
        try await engine.createManagedSecret(master, rotator: "postgres-single-user", options: options, initialValue: json(superuser, password))
        let cases: [(RotatorKind, SecretID, SecretValue)] = [
            ("postgres-single-user", try SecretID("/bench/pg/db-credentials/single"), json("bench_single_\(suffix)", "bench-initial-0")),
            ("postgres-alternating-users", try SecretID("/bench/pg/db-credentials/alternating"), json("bench_alt_\(suffix)", "bench-initial-0", master: master)),
        ]
        print("strategy                     rotations  ms/rotation(mean)  ms/rotation(p50)  ms/rotation(max)")
        for (kind, id, initial) in cases {
            try await engine.createManagedSecret(id, rotator: kind, options: options, initialValue: initial)
            var times: [Double] = []
            let clock = ContinuousClock()
            for _ in 0..<rotations {
                let start = clock.now
                let report = try await engine.rotate(id, trigger: "bench")
                guard report.succeeded else { throw report.error ?? RotorError(.stepFailed, "rotation failed") }
                times.append((clock.now - start).seconds * 1000)
            }
            let sorted = times.sorted()
            let figures = String(format: "%9d  %17.1f  %16.1f  %16.1f", rotations, times.reduce(0, +) / Double(times.count), sorted[sorted.count / 2], sorted.last!)
            print(kind.rawValue.padding(toLength: 28, withPad: " ", startingAt: 0) + " " + figures)
        }
    }
}
