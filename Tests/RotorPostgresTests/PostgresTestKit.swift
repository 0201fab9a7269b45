import Foundation
import Synchronization
import RotorTestSupport
import Logging
import PostgresNIO
import RotorAWS
import RotorCore
import RotorPostgres
import RotorStorage

/// The PostgreSQL server `make test` starts (scripts/postgres.sh): scram-sha-256, statements logged.
enum PG {
    static var settings: (host: String, port: Int, user: String, password: String, log: String)? {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["ROTOR_TEST_PG_HOST"], let port = env["ROTOR_TEST_PG_PORT"].flatMap(Int.init),
              let user = env["ROTOR_TEST_PG_USER"], let password = env["ROTOR_TEST_PG_PASSWORD"] else { return nil }
        return (host, port, user, password, env["ROTOR_TEST_PG_LOG"] ?? "")
    }

    static var enabled: Bool { settings != nil || ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] == "1" }

    static func require() throws -> (host: String, port: Int, user: String, password: String, log: String) {
        guard let settings else { throw RotorError(.storeUnavailable, "PostgreSQL is not running: run the tests with 'make test'") }
        return settings
    }

    static func json(user: String, password: String, port: Int? = nil, master: SecretID? = nil) throws -> String {
        let pg = try require()
        var object: [String: Any] = ["engine": "postgres", "host": pg.host, "port": port ?? pg.port, "username": user, "password": password, "dbname": "postgres"]
        if let master { object["masterarn"] = master.rawValue }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// The test server's CA (its self-signed certificate): the rotators verify it as they would in production.
    static var caFile: String? { ProcessInfo.processInfo.environment["ROTOR_TEST_PG_CA"] }
    /// Rotator options for the test server: the default verify-full with its CA.
    static var options: RotatorOptions { RotatorOptions(caFile.map { ["ca-file": $0] } ?? [:]) }
    static let connector = PostgresConnector(caFile: caFile, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })

    /// Runs SQL as the superuser.
    static func admin(_ sql: String) async throws {
        let pg = try require()
        let secret = try PostgresSecret(SecretValue(string: try json(user: pg.user, password: pg.password)), secret: try SecretID("/test/pg/db-credentials/admin"))
        try await connector.withConnection(secret, id: try SecretID("/test/pg/db-credentials/admin"), step: nil) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test")).collect()
        }
    }

    /// The roles `member` is a direct member of, sorted.
    static func memberships(of member: String) async throws -> [String] {
        let pg = try require()
        let secret = try PostgresSecret(SecretValue(string: try json(user: pg.user, password: pg.password)), secret: try SecretID("/test/pg/db-credentials/admin"))
        return try await connector.withConnection(secret, id: try SecretID("/test/pg/db-credentials/admin"), step: nil) { connection in
            try await connection.query("""
                SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON m.roleid = b.oid JOIN pg_roles r ON m.member = r.oid
                WHERE r.rolname = \(member) ORDER BY 1
                """, logger: Logger(label: "t")).collect().map { try $0.decode(String.self) }
        }
    }

    static func canLogIn(user: String, password: String, port: Int? = nil) async throws -> Bool {
        let secret = try PostgresSecret(SecretValue(string: try json(user: user, password: password, port: port)), secret: try SecretID("/test/pg/db-credentials/probe"))
        return try await connector.canLogIn(secret, id: try SecretID("/test/pg/db-credentials/probe"), step: nil)
    }

    static func canLogIn(_ value: SecretValue) async throws -> Bool {
        let object = try JSONSerialization.jsonObject(with: Data(value.exposedString!.utf8)) as! [String: Any]
        return try await canLogIn(user: object["username"] as! String, password: object["password"] as! String, port: object["port"] as? Int)
    }

    static func unique(_ prefix: String) -> String { "\(prefix)_\(UUID().uuidString.lowercased().prefix(8).replacingOccurrences(of: "-", with: ""))" }
}

/// The stores the PostgreSQL rotators are tested with: the embedded store and Secrets Manager (moto).
enum StoreKind: String, CaseIterable, Sendable {
    case embedded, aws

    static var available: [StoreKind] {
        ProcessInfo.processInfo.environment["ROTOR_TEST_MOTO_ENDPOINT"] != nil || ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] == "1"
            ? allCases : [.embedded]
    }

    func engine(rotators: RotatorRegistry = .withPostgres, retry: RetryPolicy = RetryPolicy(attemptsPerRun: 2, initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(20))) throws -> RotationEngine {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .normal)
        let store: any SecretStore
        switch self {
        case .embedded:
            store = try EmbeddedSecretStore(url: directory.appendingPathComponent("store.sqlite"),
                                            keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")))
        case .aws:
            let env = ProcessInfo.processInfo.environment
            guard let endpoint = env["ROTOR_TEST_MOTO_ENDPOINT"].flatMap(URL.init(string:)),
                  let key = env["ROTOR_TEST_MOTO_ACCESS_KEY_ID"], let secret = env["ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"] else {
                throw RotorError(.storeUnavailable, "moto_server is not running: run the tests with 'make test'")
            }
            store = AWSSecretStore(client: SecretsManagerClient(
                endpoint: endpoint, region: "us-east-1", credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: key, secretAccessKey: secret))))
        }
        return RotationEngine(store: store, state: state, rotators: rotators, configuration: EngineConfiguration(retry: retry, actor: "test"),
                              logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    /// A secret id in an environment of its own (tests share moto).
    func id(_ rest: String) -> SecretID {
        try! SecretID("/t\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12))/\(rest)")
    }
}

/// A TCP forwarder to PostgreSQL that a test can cut (the database "goes down": open connections
/// are reset, new ones closed at once) and restore. It keeps its port while cut, so no other test's
/// server can take it meanwhile.
final class CuttableProxy: Sendable {
    let port: Int
    private let process: ChildProcess
    private let commands: FileHandle
    private let armed = Mutex(true)
    private let lines: LineReader

    static let script = """
        import asyncio, os, sys
        down = False
        open_writers = set()
        async def pipe(r, w):
            try:
                while True:
                    data = await r.read(65536)
                    if not data: break
                    w.write(data); await w.drain()
            except Exception: pass
            finally: w.close()
        async def handle(cr, cw):
            if down:
                cw.transport.abort(); return
            try:
                sr, sw = await asyncio.open_connection('127.0.0.1', int(sys.argv[1]))
            except Exception:
                cw.close(); return
            open_writers.update((cw, sw))
            try: await asyncio.gather(pipe(cr, sw), pipe(sr, cw))
            finally: open_writers.difference_update((cw, sw))
        async def main():
            global down
            loop = asyncio.get_running_loop()
            server = await asyncio.start_server(handle, '127.0.0.1', 0)
            print(server.sockets[0].getsockname()[1], flush=True)
            commands = asyncio.StreamReader()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
            while line := await commands.readline():
                down = line.strip() == b'cut'
                if down:
                    for w in list(open_writers): w.transport.abort()
                print('ok', flush=True)
            os._exit(0)
        asyncio.run(main())
        """

    init(target: Int) async throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.script, "\(target)"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        self.process = process
        commands = input.fileHandleForWriting
        lines = LineReader(output.fileHandleForReading)
        port = try await lines.next().flatMap(Int.init) ?? 0
        guard port > 0 else { throw ChildProcessError("the PostgreSQL proxy did not start") }
    }

    /// Cuts once: the first call after creation.
    func cutOnce() async throws {
        guard armed.withLock({ armed in defer { armed = false }; return armed }) else { return }
        try await cut()
    }

    func cut() async throws { try await command("cut") }
    func restore() async throws { try await command("up") }

    /// Sends a command and waits for the proxy to have carried it out.
    private func command(_ name: String) async throws {
        try commands.write(contentsOf: Data("\(name)\n".utf8))
        let answer = try await lines.next()
        guard answer == "ok" else { throw ChildProcessError("the PostgreSQL proxy answered '\(name)' with \(answer.map { String(reflecting: $0) } ?? "nothing (it ended)")") }
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitPolling()
    }
}

/// Lines of a child's output, read off the cooperative threads; a line may come in several reads.
final class LineReader: Sendable {
    private let handle: FileHandle
    private let unread = Mutex<[UInt8]>([])

    init(_ handle: FileHandle) { self.handle = handle }

    /// The next line; `nil` once the output has ended.
    func next() async throws -> String? {
        while true {
            if let line = unread.withLock({ buffer -> String? in
                guard let end = buffer.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
                defer { buffer.removeSubrange(...end) }
                return String(decoding: buffer[..<end], as: UTF8.self)
            }) { return line }
            let data = try await offThePool { [handle] in handle.availableData }
            if data.isEmpty { return nil }
            unread.withLock { $0.append(contentsOf: data) }
        }
    }
}
