import Foundation
import GRDB
import Testing

/// Bad input gets a clear error, a distinct non-zero exit code, and changes nothing.
@Suite struct BadInputTests {
    static let id = "/prod/github-integration/api-token/personal-access-token"

    /// A home with one managed, rotated secret.
    func seeded() async throws -> CLI {
        let cli = try CLI()
        try #require(try await cli.run("secret", "create", Self.id, "--rotator", "random-password").status == 0)
        try #require(try await cli.run("rotate", Self.id).status == 0)
        return cli
    }

    static let cases: [(arguments: [String], stdin: String?, status: Int32, message: String)] = [
        (["secret", "create", "/prod/bad-id", "--rotator", "manual", "--value-stdin"], "x", 64, "has 2 part(s); expected 4"),
        (["secret", "create", "/PROD/a/b/c", "--rotator", "random-password"], nil, 64, "invalid environment 'PROD'"),
        (["secret", "create", "/prod/a/api-key/b", "--rotator", "github-app"], nil, 64, "unknown rotator kind 'github-app'"),
        (["secret", "create", "/prod/a/api-key/b", "--rotator", "random-password", "--option", "lenght=40"], nil, 64, "unknown option(s) lenght"),
        (["secret", "create", "/prod/a/api-key/b", "--rotator", "random-password", "--option", "length=9000"], nil, 64, "length=9000 is invalid"),
        (["secret", "create", "/prod/a/api-key/b", "--rotator", "random-password", "--option", "length"], nil, 64, "is not key=value"),
        (["secret", "create", "/prod/a/api-key/b", "--rotator", "manual", "--value-stdin"], "", 64, "the value on stdin is empty"),
        (["secret", "create", "/prod/a/api-key/b", "--rotator", "manual"], nil, 64, "cannot generate a first value"),
        (["secret", "create", "/prod/a/db-credentials/b", "--rotator", "random-password", "--option", "field=password", "--value-stdin"],
         #"{"engine":"postgres","host":"db.internal","username":"app","password":"initial"}"#, 64, "AWS's database secret JSON"),
        (["secret", "create", "/prod/a/api-key/b", "--rotator", "random-password", "--value-stdin"], "sk-ant-api03-not-a-real-key-000", 64,
         "the value is an Anthropic API key"),
        (["secret", "create", "/prod/a/api-key/b", "--rotator", "manual", "--value-stdin", "--generate"], nil, 64, "exclude each other"),
        (["secret", "create", id, "--rotator", "random-password"], nil, 1, "already"),
        (["rotate", "/prod/missing/api-key/x"], nil, 3, "not managed by rotor"),
        (["secret", "get", "/prod/missing/api-key/x"], nil, 3, "secret not found"),
        (["secret", "get", id, "--stage", "AWSPENDING"], nil, 3, "no secret value for staging label AWSPENDING"),
        (["rotate", id, "--environment", "staging"], nil, 64, "scoped to 'staging'"),
        (["rotate", id, "--stuck-pending", "sometimes"], nil, 64, "--stuck-pending must be refuse or resume"),
        (["rotate", id, "--synchronous", "off"], nil, 64, "--synchronous must be full or normal"),
        (["unquarantine", id], nil, 1, "is not quarantined"),
        (["rotate", id, "--quarantine-after", "0"], nil, 64, "--quarantine-after must be a whole number"),
        (["rotate", id, "--attempts-per-run", "many"], nil, 64, "Error:"),
        (["secret", "frobnicate"], nil, 64, "Error:"),
        (["rotate", id, "--lock-ttl", "nan"], nil, 64, "--lock-ttl must be seconds from 1 to 86400"),
        (["rotate", id, "--lock-ttl=-5"], nil, 64, "--lock-ttl must be seconds from 1 to 86400"),
        (["rotate", id, "--lock-ttl", "1e9"], nil, 64, "--lock-ttl must be seconds from 1 to 86400"),
        (["daemon", "--lease-ttl", "nan"], nil, 64, "--lease-ttl must be seconds from 1 to 3600"),
        (["daemon", "--lease-ttl=-1"], nil, 64, "--lease-ttl must be seconds from 1 to 3600"),
        (["daemon", "--lease-ttl", "inf"], nil, 64, "--lease-ttl must be seconds from 1 to 3600"),
        (["daemon", "--max-concurrent", "0"], nil, 64, "--max-concurrent must be from 1 to 1000"),
        (["daemon", "--max-concurrent-per-rotator", "100000"], nil, 64, "--max-concurrent-per-rotator must be from 1 to 1000"),
        (["daemon", "--listen", "0.0.0.0:0"], nil, 64, "refusing to serve the API on 0.0.0.0 without a token"),
        (["daemon", "--listen", "127.0.0.1.example.com:0"], nil, 64, "refusing to serve the API on 127.0.0.1.example.com without a token"),
    ]

    @Test(arguments: 0..<cases.count)
    func badInputIsAClearErrorAndChangesNothing(index: Int) async throws {
        let (arguments, stdin, status, message) = Self.cases[index]
        let cli = try await seeded()
        let before = try cli.databaseDump()
        let result = try await cli.run(arguments, stdin: stdin.map { Data($0.utf8) })
        #expect(result.status == status, "\(arguments): \(result.stderr)")
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        #expect(try cli.databaseDump() == before, "\(arguments) changed the databases")
    }

    @Test func oversizedStdinIsRefused() async throws {
        let cli = try await seeded()
        let before = try cli.databaseDump()
        let big = Data(repeating: 0x61, count: 65_537)
        let result = try await cli.run(["secret", "create", "/prod/a/api-key/big", "--rotator", "manual", "--value-stdin"], stdin: big)
        #expect(result.status == 64 && result.stderr.contains("larger than 65536 bytes"))
        #expect(try cli.databaseDump() == before)
    }

    @Test func wrongMasterKeyIsRefusedWithExitSix() async throws {
        let cli = try await seeded()
        let before = try cli.databaseDump()
        let wrong = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        for arguments in [["secret", "get", Self.id], ["rotate", Self.id], ["status"]] {
            let result = try await cli.run(arguments, extraEnvironment: ["ROTOR_MASTER_KEY": wrong])
            #expect(result.status == 6 && result.stderr.contains("does not open the embedded store"), "\(arguments)")
        }
        #expect(try cli.databaseDump() == before)
    }

    @Test func corruptedStoreIsRefusedWithExitSix() async throws {
        let cli = try await seeded()
        let store = cli.home.appendingPathComponent("store.sqlite")
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: store.path + "-wal"))
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: store.path + "-shm"))
        let garbage = Data("definitely not sqlite".utf8)
        try garbage.write(to: store)
        let result = try await cli.run("rotate", Self.id)
        #expect(result.status == 6 && result.stderr.contains("is unreadable"))
        #expect(try Data(contentsOf: store) == garbage)
    }

    /// Someone with write access to the store file but not the master key moves AWSCURRENT back to
    /// the old version (to make consumers use a credential they know): rotor refuses to serve or
    /// rotate that secret, and changes nothing.
    @Test(arguments: [
        "UPDATE secret_version SET stages = CASE stages WHEN 'AWSCURRENT' THEN 'AWSPREVIOUS' WHEN 'AWSPREVIOUS' THEN 'AWSCURRENT' ELSE stages END",
        "UPDATE secret_version SET stages = CASE stages WHEN 'AWSCURRENT' THEN 'AWSPREVIOUS' WHEN 'AWSPREVIOUS' THEN 'AWSCURRENT' ELSE stages END; UPDATE secret SET labels_mac = NULL",
        "UPDATE secret SET tags_json = '{\"rotor:rotator\":\"manual\"}'",
    ])
    func labelsEditedInTheFileWithoutTheKeyAreRefused(edit: String) async throws {
        let cli = try await seeded()
        let store = cli.home.appendingPathComponent("store.sqlite")
        let queue = try DatabaseQueue(path: store.path)
        try await queue.write { db in try db.execute(sql: edit) }
        try queue.close()
        func storeDump() async throws -> [Substring] { try cli.databaseDump().split(separator: "\n").filter { $0.hasPrefix("store.sqlite") } }
        let before = try await storeDump()
        for arguments in [["secret", "get", Self.id], ["rotate", Self.id], ["secret", "describe", Self.id]] {
            let result = try await cli.run(arguments)
            #expect(result.status == 6 && result.stderr.contains("were changed outside rotor"), "\(arguments): \(result.stderr)")
        }
        #expect(try await storeDump() == before, "the tampered store is left as it was, for forensics")
    }

    /// Someone with write access to the state database but not the master key changes the rotator or its
    /// options (to weaken where a credential may go): rotor refuses the secret and changes nothing.
    @Test(arguments: [
        "UPDATE managed_secret SET options_json = '{\"length\":\"8\"}'",
        "UPDATE managed_secret SET rotator = 'manual'",
        "UPDATE managed_secret SET config_mac = NULL",
    ])
    func rotatorOptionsEditedInTheStateDatabaseWithoutTheKeyAreRefused(edit: String) async throws {
        let cli = try await seeded()
        let queue = try DatabaseQueue(path: cli.home.appendingPathComponent("state.sqlite").path)
        try await queue.write { db in try db.execute(sql: edit) }
        try queue.close()
        for arguments in [["rotate", Self.id], ["status"]] {
            let result = try await cli.run(arguments)
            #expect(result.status == 6 && result.stderr.contains("edited without the master key"), "\(arguments): \(result.stderr)")
        }
        let rotations = try await DatabaseQueue(path: cli.home.appendingPathComponent("state.sqlite").path).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM rotation") ?? 0
        }
        #expect(rotations == 1, "no rotation was started from the tampered row")
    }

    @Test func corruptedStateDatabaseIsRefusedWithExitSix() async throws {
        let cli = try await seeded()
        let state = cli.home.appendingPathComponent("state.sqlite")
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: state.path + "-wal"))
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: state.path + "-shm"))
        let garbage = Data(repeating: 0x42, count: 8192)
        try garbage.write(to: state)
        let result = try await cli.run("status")
        #expect(result.status == 6 && result.stderr.contains("state database"))
        #expect(try Data(contentsOf: state) == garbage)
    }

    @Test func quarantineThresholdIsConfigurable() async throws {
        let cli = try CLI()
        let id = "/prod/claude-sdk/api-key/anthropic-key"
        #expect(try await cli.run("secret", "create", id, "--rotator", "manual", "--option", "pattern=sk-.+", "--value-stdin", stdin: "sk-initial").status == 0)
        #expect(try await cli.run("rotate", id, "--value-stdin", "--quarantine-after", "1", stdin: "wrong").status == 4)
        let refused = try await cli.run("rotate", id, "--value-stdin", stdin: "sk-next")
        #expect(refused.status == 5 && refused.stderr.contains("rotor unquarantine \(id)"))
    }

    @Test func everyCommandHasHelp() async throws {
        let cli = try CLI()
        for command in [[], ["secret"], ["secret", "create"], ["secret", "get"], ["secret", "describe"], ["secret", "list"],
                        ["rotate"], ["rollback"], ["history"], ["status"], ["unquarantine"], ["audit"]] {
            let result = try await cli.run(command + ["--help"])
            #expect(result.status == 0 && result.stdout.contains("USAGE:"), "\(command)")
        }
    }
}
