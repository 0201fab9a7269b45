import Foundation
import GRDB
import RotorTestSupport
import Testing

/// `rotor rotate` over many secrets, as real processes against the PostgreSQL server `make test`
/// starts: dependency order, caps measured from each rotation's own start and end, failures and
/// their skipped dependents, `--stop-on-error`, SIGINT, cycles, the dry run, `--max-secrets`.
@Suite(.serialized) struct BatchRotationTests {
    /// One JSON line of a batch.
    struct Line {
        let id: String, rotator: String, outcome: String, error: String?
        let start: Date?, end: Date?
    }

    static func parse(_ stdout: String) throws -> (lines: [Line], summary: [String: Any]) {
        var lines: [Line] = []
        var summary: [String: Any] = [:]
        let dates = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        for text in stdout.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not JSON: \(text)")
            if let found = object["summary"] as? [String: Any] { summary = found; continue }
            lines.append(Line(
                id: object["id"] as! String, rotator: object["rotator"] as! String, outcome: object["outcome"] as! String, error: object["error"] as? String,
                start: (object["startedAt"] as? String).flatMap { try? dates.parse($0) }, end: (object["endedAt"] as? String).flatMap { try? dates.parse($0) }))
        }
        return (lines, summary)
    }

    /// The most rotations whose [start, end) intervals overlap.
    static func peak(_ lines: [Line]) -> Int {
        let events = lines.compactMap { line in line.start.flatMap { start in line.end.map { [(start, 1), ($0, -1)] } } }.flatMap { $0 }
        var running = 0, peak = 0
        for (_, change) in events.sorted(by: { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }) {
            running += change
            peak = max(peak, running)
        }
        return peak
    }

    /// Creates secrets through the CLI, four processes at a time.
    static func create(_ cli: CLI, _ secrets: [(id: String, rotator: String, value: String?)], options: [String] = []) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, secret) in secrets.enumerated() {
                if index >= 4 { try await group.next() }
                group.addTask {
                    let arguments = ["secret", "create", secret.id, "--rotator", secret.rotator] + (secret.value == nil ? [] : ["--value-stdin"] + options)
                    let result = try await cli.run(arguments, stdin: secret.value.map { Data($0.utf8) })
                    #expect(result.status == 0, "\(secret.id): \(result.stderr)")
                }
            }
            try await group.waitForAll()
        }
    }

    /// Runs rotations per secret recorded in the audit log (`rotation.finish succeeded`).
    static func rotationsPerSecret(_ cli: CLI) async throws -> [String: Int] {
        let events = try await cli.auditEvents(["--limit", "10000"])
        var counts: [String: Int] = [:]
        for event in events where event["operation"] as? String == "rotation.finish" && event["outcome"] as? String == "succeeded" {
            counts[event["secret"] as! String, default: 0] += 1
        }
        return counts
    }

    /// The secrets whose rotation is still open (in progress or rolling back).
    static func openRotations(_ cli: CLI) throws -> [String] {
        let queue = try DatabaseQueue(path: cli.home.appendingPathComponent("state.sqlite").path)
        defer { try? queue.close() }
        return try queue.read { db in try String.fetchAll(db, sql: "SELECT secret_id FROM rotation WHERE outcome IN ('in-progress', 'rolling-back')") }
    }

    static func randomSecrets(_ count: Int, offset: Int = 0) -> [(id: String, rotator: String, value: String?)] {
        (offset..<offset + count).map { n in ("/prod/web\(n % 5)/api-key/k\(n)", "random-password", nil) }
    }

    @Test func twoHundredSecretsAcrossRotatorsRotateOnceMastersFirstWithinTheCaps() async throws {
        guard let pg = PGServer.settings else {
            #expect(ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] != "1", "this test needs the PostgreSQL server make test starts")
            return
        }
        let cli = try CLI()
        let tag = PGServer.tag()
        var databases: [(id: String, rotator: String, value: String?)] = []
        for master in 0..<2 {
            try await pg.sql("CREATE ROLE m\(tag)\(master) WITH LOGIN CREATEROLE PASSWORD 'master-password-0'")
            databases.append(("/prod/db\(master)/db-credentials/master", "postgres-single-user", pg.secret(user: "m\(tag)\(master)", password: "master-password-0")))
            for app in 0..<4 {
                try await pg.sql("CREATE ROLE a\(tag)\(master)\(app) WITH LOGIN PASSWORD 'app-password-0'")
                databases.append(("/prod/db\(master)/db-credentials/app\(app)", "postgres-alternating-users",
                                  pg.secret(user: "a\(tag)\(master)\(app)", password: "app-password-0", master: "/prod/db\(master)/db-credentials/master")))
            }
        }
        let keys = (0..<40).map { n in (id: "/prod/web\(n % 5)/encryption-key/e\(n)", rotator: "encryption-key", value: String?.none) }
        try await Self.create(cli, databases, options: ["--option", "ca-file=\(pg.ca)"])
        try await Self.create(cli, Self.randomSecrets(150) + keys)

        let arguments = ["rotate", "--environment", "prod", "--max-concurrent", "6", "--max-concurrent-per-rotator", "3", "--json"]
        let unconfirmed = try await cli.run(arguments)
        #expect(unconfirmed.status == 64 && unconfirmed.stderr.contains("--environment alone selects every secret of the environment"))
        let refused = try await cli.run(["rotate", "--match", "/prod/**"])
        #expect(refused.status == 64 && refused.stderr.contains("200 secrets, more than --max-secrets 100"))
        #expect(try await Self.rotationsPerSecret(cli).isEmpty)

        let batch = try await cli.run(arguments + ["--yes"])
        #expect(batch.status == 0, "\(batch.stderr.suffix(2000))")
        let (lines, summary) = try Self.parse(batch.stdout)
        #expect(lines.count == 200 && lines.allSatisfy { $0.outcome == "rotated" })
        #expect((summary["outcomes"] as? [String: Int])?["rotated"] == 200)
        let peak = Self.peak(lines)
        let peaks = Dictionary(grouping: lines, by: \.rotator).mapValues(Self.peak)
        #expect((2...6).contains(peak) && peaks.values.allSatisfy { $0 <= 3 }, "peak \(peak), by rotator \(peaks)")
        for app in lines where app.rotator == "postgres-alternating-users" {
            let master = lines.first { $0.id == app.id.replacingOccurrences(of: #"app\d$"#, with: "master", options: .regularExpression) }!
            #expect(master.end! <= app.start!, "\(app.id) started before its master finished")
        }
        let counts = try await Self.rotationsPerSecret(cli)
        #expect(counts.count == 200 && counts.values.allSatisfy { $0 == 1 })
        // The new credentials work at PostgreSQL: the masters' and the apps' (changed through the new master password).
        for id in ["/prod/db0/db-credentials/master", "/prod/db1/db-credentials/app3"] {
            let value = try await cli.run("secret", "get", id)
            let works = try await pg.canLogIn(value.stdout)
            #expect(works, "\(id)")
        }
        #expect(!cli.everythingPrinted.contains("master-password-0") && !cli.everythingPrinted.contains("app-password-0"))
    }

    @Test func aFailedMasterSkipsItsDependentsAndStopOnErrorStartsNothingMore() async throws {
        guard let pg = PGServer.settings else {
            #expect(ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] != "1", "this test needs the PostgreSQL server make test starts")
            return
        }
        let cli = try CLI()
        let tag = PGServer.tag()
        try await pg.sql("CREATE ROLE mbad\(tag) WITH LOGIN CREATEROLE PASSWORD 'the-real-password'; CREATE ROLE mok\(tag) WITH LOGIN CREATEROLE PASSWORD 'master-password-0'")
        var secrets: [(id: String, rotator: String, value: String?)] = [
            // The stored master password is wrong: its rotation fails at setSecret and rolls back.
            ("/prod/aaa/db-credentials/master", "postgres-single-user", pg.secret(user: "mbad\(tag)", password: "a-wrong-password")),
            ("/prod/zzz/db-credentials/master", "postgres-single-user", pg.secret(user: "mok\(tag)", password: "master-password-0")),
        ]
        for (number, service) in ["aaa", "aaa", "zzz"].enumerated() {
            try await pg.sql("CREATE ROLE app\(tag)\(number) WITH LOGIN PASSWORD 'app-password-0'")
            secrets.append(("/prod/\(service)/db-credentials/app\(number)", "postgres-alternating-users",
                            pg.secret(user: "app\(tag)\(number)", password: "app-password-0", master: "/prod/\(service)/db-credentials/master")))
        }
        try await Self.create(cli, secrets, options: ["--option", "ca-file=\(pg.ca)"])
        try await Self.create(cli, Self.randomSecrets(5))

        let stopped = try await cli.run(["rotate", "--environment", "prod", "--yes", "--attempts-per-run", "1", "--max-concurrent", "1", "--stop-on-error", "--json"])
        #expect(stopped.status == 4)
        let first = try Self.parse(stopped.stdout)
        // The failed master's dependents are skipped; everything else was never started.
        let firstOutcomes = Dictionary(uniqueKeysWithValues: first.lines.map { ($0.id, $0.outcome) })
        #expect(first.lines.count == 10 && first.lines.first?.outcome == "failed", "\(first.lines.map { "\($0.id) \($0.outcome)" })")
        #expect(firstOutcomes["/prod/aaa/db-credentials/app0"] == "skipped" && firstOutcomes["/prod/aaa/db-credentials/app1"] == "skipped")
        #expect(first.lines.filter { !$0.id.hasPrefix("/prod/aaa/") }.allSatisfy { $0.outcome == "not-started" })
        #expect(first.lines.first?.id == "/prod/aaa/db-credentials/master" && (first.summary["stopped"] as? String)?.contains("--stop-on-error") == true)

        let batch = try await cli.run(["rotate", "--environment", "prod", "--yes", "--attempts-per-run", "1", "--json"])
        #expect(batch.status == 4)
        let (lines, _) = try Self.parse(batch.stdout)
        let outcomes = Dictionary(uniqueKeysWithValues: lines.map { ($0.id, $0.outcome) })
        #expect(outcomes["/prod/aaa/db-credentials/master"] == "failed")
        #expect(outcomes["/prod/aaa/db-credentials/app0"] == "skipped" && outcomes["/prod/aaa/db-credentials/app1"] == "skipped")
        #expect(lines.filter { $0.outcome == "skipped" }.allSatisfy { $0.error?.contains("/prod/aaa/db-credentials/master") == true })
        #expect(lines.filter { !$0.id.hasPrefix("/prod/aaa/") }.allSatisfy { $0.outcome == "rotated" } && lines.count == 10)
        #expect(batch.stderr.contains("skipped") && batch.stderr.contains("failed"))
        let counts = try await Self.rotationsPerSecret(cli)
        #expect(counts["/prod/aaa/db-credentials/app0"] == nil && counts["/prod/zzz/db-credentials/app2"] == 1)
        // Only the failed master may stay open: its rollback cannot log in with the wrong stored password either.
        #expect(try Self.openRotations(cli).allSatisfy { $0 == "/prod/aaa/db-credentials/master" })
        #expect(!cli.everythingPrinted.contains("a-wrong-password") && !cli.everythingPrinted.contains("app-password-0"))
    }

    @Test func sigintStartsNothingMoreAndLeavesNoRotationHalfDone() async throws {
        let cli = try CLI()
        try await Self.create(cli, Self.randomSecrets(150))
        let scratch = cli.home.appendingPathComponent("batch-out")
        _ = FileManager.default.createFile(atPath: scratch.path, contents: nil)
        let process = ChildProcess()
        process.executableURL = CLI.binary
        process.arguments = ["rotate", "--match", "/prod/**", "--max-concurrent", "1", "--yes", "--json", "--home", cli.home.path]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "ROTOR_MASTER_KEY")
        process.environment = environment
        process.currentDirectoryURL = cli.home
        process.standardOutput = try FileHandle(forWritingTo: scratch)
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline, (try String(contentsOf: scratch, encoding: .utf8)).split(separator: "\n").count < 5 {
            try await Task.sleep(for: .milliseconds(10))
        }
        kill(process.processIdentifier, SIGINT)
        await process.exited()
        #expect(process.terminationStatus == 130)
        let (lines, summary) = try Self.parse(try String(contentsOf: scratch, encoding: .utf8))
        let rotated = lines.count { $0.outcome == "rotated" }
        #expect(lines.count == 150 && rotated >= 5 && rotated < 150 && rotated + lines.count { $0.outcome == "not-started" } == 150)
        #expect((summary["stopped"] as? String)?.contains("interrupted (SIGINT)") == true)
        #expect(try Self.openRotations(cli).isEmpty)
        #expect(try await Self.rotationsPerSecret(cli).count == rotated)
        // The next batch rotates every one again, the interrupted batch's included.
        let again = try await cli.run("rotate", "--match", "/prod/**", "--yes", "--json")
        let after = try await Self.rotationsPerSecret(cli)
        #expect(again.status == 0 && after.count == 150 && after.values.reduce(0, +) == 150 + rotated)
    }

    @Test func onATerminalALiveLineThenATable() async throws {
        let cli = try CLI()
        try await Self.create(cli, Self.randomSecrets(6) + [("/prod/web0/encryption-key/data", "encryption-key", nil)])
        // script(1) gives rotor a terminal (a pseudo-terminal) for standard output.
        let command = "'\(CLI.binary.path)' rotate --environment prod --yes --max-concurrent 2 --home '\(cli.home.path)'"
        let result = try await cli.runProgram("/usr/bin/script", ["-qec", command, "/dev/null"])
        #expect(result.status == 0, "\(result.output)")
        let text = result.stdout.replacingOccurrences(of: "\r", with: "")
        #expect(text.contains("\u{1B}[Kdone 7/7  failed 0  running 0  remaining 0  elapsed"))
        #expect(text.contains("rotator          rotated") && text.contains("random-password  6") && text.contains("total            7"))
        #expect(!text.contains("{\"durationSeconds\""))
    }

    @Test func aCycleIsRefusedByValidateAndByTheBatchAndChangesNothing() async throws {
        let cli = try CLI()
        try await Self.create(cli, [("/prod/a/api-key/one", "random-password", nil), ("/prod/b/api-key/two", "random-password", nil)])
        let policies = try cli.policies("""
            policies:
              - name: one
                match: [/prod/a/api-key/*]
                rotator: random-password
                every: 30d
                depends_on: [/prod/b/api-key/two]
              - name: two
                match: [/prod/b/api-key/*]
                rotator: random-password
                every: 30d
                depends_on: [/prod/a/api-key/*]
            """)
        let validate = try await cli.run("validate", policies.path)
        #expect(validate.status == 64 && validate.stderr.contains("policies.yaml:2:5: dependency cycle among /prod/a/api-key/one, /prod/b/api-key/two"))
        let before = try cli.databaseDump()
        let batch = try await cli.run("rotate", "--match", "/prod/**", "--policies", policies.path)
        #expect(batch.status == 64 && batch.stderr.contains("dependency cycle") && batch.stderr.contains("nothing was rotated"))
        #expect(try cli.databaseDump() == before)
    }

    @Test func aDryRunPrintsTheOrderAndChangesNothing() async throws {
        let cli = try CLI()
        try await Self.create(cli, [("/prod/orders/encryption-key/data", "encryption-key", nil), ("/prod/orders/api-key/vendor", "random-password", nil),
                                    ("/staging/orders/api-key/vendor", "random-password", nil)])
        let policies = try cli.policies(DaemonBatchTests.policies)
        let before = try cli.databaseDump()
        let dry = try await cli.run("rotate", "--service", "orders", "--environment", "prod", "--policies", policies.path, "--dry-run")
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("1. /prod/orders/encryption-key/data  encryption-key\n"))
        #expect(dry.stdout.contains("2. /prod/orders/api-key/vendor  random-password  after /prod/orders/encryption-key/data"))
        #expect(!dry.stdout.contains("staging"))
        let json = try await cli.run("rotate", "--policy", "keys", "--policies", policies.path, "--dry-run", "--json")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((plan["secrets"] as? [[String: Any]])?.map { $0["id"] as! String } == ["/prod/orders/api-key/vendor"])
        let explain = try await cli.run("plan", "--policies", policies.path, "--explain", "/prod/orders/encryption-key/data")
        #expect(explain.stdout.contains("< used by /prod/orders/api-key/vendor: policy 'keys' depends_on /prod/orders/encryption-key/*"))
        #expect(try cli.databaseDump() == before)
        let nothing = try await cli.run("rotate", "--match", "/dev/**")
        #expect(nothing.status == 3 && nothing.stderr.contains("matches no managed secret"))
        let both = try await cli.run("rotate", "/prod/orders/api-key/vendor", "--match", "/prod/**")
        #expect(both.status == 64)
        let bare = try await cli.run(["rotate"], extraEnvironment: ["ROTOR_ENVIRONMENT": "prod"])
        #expect(bare.status == 64 && bare.stderr.contains("give a secret id, or select many"))
    }
}

/// The PostgreSQL server `make test` starts, reached with psql as its superuser.
struct PGServer: Sendable {
    let host: String, port: String, user: String, password: String, ca: String

    static var settings: PGServer? {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["ROTOR_TEST_PG_HOST"], let port = env["ROTOR_TEST_PG_PORT"], let user = env["ROTOR_TEST_PG_USER"],
              let password = env["ROTOR_TEST_PG_PASSWORD"], let ca = env["ROTOR_TEST_PG_CA"] else { return nil }
        return PGServer(host: host, port: port, user: user, password: password, ca: ca)
    }

    static func tag() -> String { String(UUID().uuidString.lowercased().filter(\.isLetter).prefix(8)) }

    /// AWS's database secret JSON for this server.
    func secret(user: String, password: String, master: String? = nil) -> String {
        var object: [String: Any] = ["engine": "postgres", "host": host, "port": Int(port)!, "username": user, "password": password, "dbname": "postgres"]
        if let master { object["masterarn"] = master }
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    func sql(_ statement: String) async throws {
        let status = try await psql(user: user, password: password, ["-v", "ON_ERROR_STOP=1", "-c", statement])
        #expect(status == 0, "\(statement)")
    }

    /// Whether the credentials in a database secret's JSON log in (over TLS, verified).
    func canLogIn(_ value: String) async throws -> Bool {
        let object = try JSONSerialization.jsonObject(with: Data(value.utf8)) as! [String: Any]
        return try await psql(user: object["username"] as! String, password: object["password"] as! String, ["-c", "SELECT 1"]) == 0
    }

    func psql(user: String, password: String, _ arguments: [String]) async throws -> Int32 {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = ["-q", "-d", "postgres"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment.merge(["PGHOST": host, "PGPORT": port, "PGUSER": user, "PGPASSWORD": password, "PGSSLMODE": "verify-full", "PGSSLROOTCERT": ca]) { $1 }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        await process.exited()
        return process.terminationStatus
    }
}
