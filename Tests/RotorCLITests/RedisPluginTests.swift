import Crypto
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// examples/rotators/rotor-rotator-redis-acl against the real redis-server `make test` starts
/// (scripts/redis.sh: ACLs on, default user off): a rotation leaves exactly the new password working,
/// also when rotor is killed at any point and run again.
@Suite(.enabled(if: Redis.enabled)) struct RedisPluginTests {
    static let plugin = PluginCLITests.repository.appendingPathComponent("examples/rotators/rotor-rotator-redis-acl")
    let id = "/prod/cache/redis/app"

    /// A CLI with the plug-in installed, and a fresh ACL user whose only password is `initial`.
    func setUp(user: String, initial: String) throws -> CLI {
        let cli = try CLI()
        let plugins = cli.home.appendingPathComponent("plugins")
        try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.plugin, to: plugins.appendingPathComponent(Self.plugin.lastPathComponent))
        let admin = try Redis.admin()
        _ = try admin.call("ACL", "DELUSER", user)
        #expect(try admin.call("ACL", "SETUSER", user, "on", "#" + Redis.digest(initial), "~*", "+@all") == "+OK")
        return cli
    }

    func options(user: String) throws -> [String] {
        let redis = try Redis.require()
        return ["user=\(user)", "port=\(redis.port)", "admin-user=\(redis.adminUser)", "admin-password-file=\(redis.adminPasswordFile)"]
            .flatMap { ["--option", $0] }
    }

    func value(_ password: String, user: String) -> String { #"{"username": "\#(user)", "password": "\#(password)"}"# }

    func currentPassword(_ cli: CLI) async throws -> String {
        let printed = try await cli.run("secret", "get", id).stdout
        let document = try JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any]
        return try #require(document?["password"] as? String)
    }

    /// Only `password` logs in, and the user has no other password left.
    func expectOnly(_ password: String, of user: String, not old: String) throws {
        #expect(try Redis.logsIn(user: user, password: password), "the current password works")
        #expect(try !Redis.logsIn(user: user, password: old), "the replaced password no longer works")
        #expect(try Redis.passwords(of: user) == [Redis.digest(password)])
    }

    @Test func aRotationLeavesOnlyTheNewPasswordAndNoValueIsPrinted() async throws {
        let (user, initial) = ("app-\(UUID().uuidString.prefix(8))", "initial-\(UUID().uuidString)")
        let cli = try setUp(user: user, initial: initial)
        let created = try await cli.run(["secret", "create", id, "--rotator", "redis-acl", "--value-stdin"] + options(user: user), stdin: Data(value(initial, user: user).utf8))
        #expect(created.status == 0, "\(created.output)")
        var passwords = [initial]
        for _ in 0..<2 {
            let rotated = try await cli.run("rotate", id)
            #expect(rotated.status == 0, "\(rotated.output)")
            passwords.append(try await currentPassword(cli))
            try expectOnly(passwords.last!, of: user, not: passwords[passwords.count - 2])
        }
        #expect(passwords.allSatisfy { !cli.everythingPrinted.contains($0) })
    }

    /// rotor killed (SIGKILL) at every boundary of the rotation, then run again.
    @Test(arguments: [
        "intent:createSecret", "put", "completion:createSecret", "intent:setSecret", "completion:setSecret", "intent:testSecret",
        "completion:testSecret", "intent:finishSecret", "label:AWSCURRENT", "label:AWSPENDING", "completion:finishSecret",
    ])
    func aKillAtEveryStepBoundaryResumesToOnlyTheNewPassword(point: String) async throws {
        let (user, initial) = ("app-\(UUID().uuidString.prefix(8))", "initial-\(UUID().uuidString)")
        let cli = try setUp(user: user, initial: initial)
        #expect(try await cli.run(["secret", "create", id, "--rotator", "redis-acl", "--value-stdin"] + options(user: user), stdin: Data(value(initial, user: user).utf8)).status == 0)
        let killed = try await cli.run(["rotate", id], extraEnvironment: ["ROTOR_FAULT_KILL_AT": point])
        #expect(killed.status != 0, "\(point): \(killed.output)")
        // Between the kill and the next run, consumers keep working with the value they read.
        #expect(try Redis.logsIn(user: user, password: initial) || point == "completion:finishSecret")
        let resumed = try await cli.run("rotate", id)
        #expect(resumed.status == 0, "\(point): \(resumed.output)")
        try expectOnly(try await currentPassword(cli), of: user, not: initial)
    }

    @Test func pluginCheckPassesForTheRedisExample() async throws {
        let (user, initial) = ("app-\(UUID().uuidString.prefix(8))", "initial-\(UUID().uuidString)")
        let cli = try setUp(user: user, initial: initial)
        let first = cli.home.appendingPathComponent("first.json")
        try value(initial, user: user).write(to: first, atomically: true, encoding: .utf8)
        let checked = try await cli.run(["plugin", "check", "redis-acl", "--secret-json", first.path] + options(user: user))
        #expect(checked.status == 0 && checked.stdout.contains("all five steps"), "\(checked.output)")
    }
}

/// The redis-server of `make test`, and a small RESP client to check what the plug-in did.
enum Redis {
    struct Settings { let port: UInt16; let adminUser: String; let adminPasswordFile: String }

    static var settings: Settings? {
        let env = ProcessInfo.processInfo.environment
        guard let port = env["ROTOR_TEST_REDIS_PORT"].flatMap(UInt16.init), let user = env["ROTOR_TEST_REDIS_ADMIN_USER"],
              let file = env["ROTOR_TEST_REDIS_ADMIN_PASSWORD_FILE"] else { return nil }
        return Settings(port: port, adminUser: user, adminPasswordFile: file)
    }

    static var enabled: Bool { settings != nil || ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] == "1" }

    static func require() throws -> Settings {
        guard let settings else { throw ChildProcessFailure("redis-server is not running: run the tests with 'make test'") }
        return settings
    }

    static func digest(_ password: String) -> String { SHA256.hash(data: Data(password.utf8)).map { String(format: "%02x", $0) }.joined() }

    static func admin() throws -> Connection {
        let settings = try require()
        let password = try String(contentsOfFile: settings.adminPasswordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let connection = try Connection(port: settings.port)
        guard try connection.call("AUTH", settings.adminUser, password) == "+OK" else { throw ChildProcessFailure("the admin cannot log in") }
        return connection
    }

    /// The user runbooks/plugin-rotators.md rotates, with the first password it stores.
    static func prepareRunbookUser() throws {
        let admin = try admin()
        _ = try admin.call("ACL", "DELUSER", "runbook-app")
        _ = try admin.call("ACL", "SETUSER", "runbook-app", "on", "#" + digest("first-password-0"), "~*", "+@all")
    }

    static func logsIn(user: String, password: String) throws -> Bool {
        try Connection(port: try require().port).call("AUTH", user, password) == "+OK"
    }

    /// The SHA-256 hashes of the user's passwords (ACL GETUSER's "passwords" field).
    static func passwords(of user: String) throws -> [String] {
        let reply = try admin().call("ACL", "GETUSER", user)
        let lines = reply.split(separator: "\n").map(String.init)
        guard let at = lines.firstIndex(of: "passwords") else { return [] }
        return lines[(at + 1)...].prefix { $0.count == 64 && $0.allSatisfy(\.isHexDigit) }
    }

    /// One TCP connection on loopback. A reply comes back flattened: `+OK`, `-ERR ...`, or for a
    /// bulk string or an array, its strings one per line.
    final class Connection {
        private let socket: Int32

        init(port: UInt16) throws {
            socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { close(socket); throw ChildProcessFailure("cannot connect to redis on port \(port)") }
        }

        deinit { close(socket) }

        func call(_ words: String...) throws -> String {
            var message = "*\(words.count)\r\n"
            for word in words { message += "$\(word.utf8.count)\r\n\(word)\r\n" }
            let bytes = Array(message.utf8)
            guard write(socket, bytes, bytes.count) == bytes.count else { throw ChildProcessFailure("write to redis failed") }
            return try reply()
        }

        private func line() throws -> String {
            var bytes: [UInt8] = []
            while bytes.suffix(2) != [13, 10] {
                var byte: UInt8 = 0
                guard read(socket, &byte, 1) == 1 else { throw ChildProcessFailure("redis closed the connection") }
                bytes.append(byte)
            }
            return String(decoding: bytes.dropLast(2), as: UTF8.self)
        }

        private func reply() throws -> String {
            let head = try line()
            guard let kind = head.first, let count = Int(head.dropFirst()) else { return head }
            switch kind {
            case "$": return count < 0 ? "" : try line()
            case "*": return try (0..<max(count, 0)).map { _ in try reply() }.joined(separator: "\n")
            default: return head
            }
        }
    }
}

struct ChildProcessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
