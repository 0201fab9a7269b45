import Foundation

/// The PostgreSQL server `make test` starts (scripts/postgres.sh): scram-sha-256, TLS with a
/// self-signed certificate for 127.0.0.1 (its CA file given), statements logged. Under `make test`
/// (ROTOR_REQUIRE_INTEGRATION=1) a missing server fails the tests instead of skipping them.
public enum PostgresTestServer {
    public struct Settings: Sendable {
        public let host: String
        public let port: Int
        public let user: String
        public let password: String
        public let log: String
        public let caFile: String?

        public init(host: String, port: Int, user: String, password: String, log: String, caFile: String?) {
            (self.host, self.port, self.user, self.password, self.log, self.caFile) = (host, port, user, password, log, caFile)
        }
    }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "PostgreSQL is not running: run the tests with 'make test' (ROTOR_TEST_PG_* unset)" }
    }

    public static var current: Settings? {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["ROTOR_TEST_PG_HOST"], let port = env["ROTOR_TEST_PG_PORT"].flatMap(Int.init),
              let user = env["ROTOR_TEST_PG_USER"], let password = env["ROTOR_TEST_PG_PASSWORD"] else { return nil }
        return Settings(host: host, port: port, user: user, password: password, log: env["ROTOR_TEST_PG_LOG"] ?? "", caFile: env["ROTOR_TEST_PG_CA"])
    }

    /// Whether PostgreSQL tests run: always under `make test`.
    public static var enabled: Bool { current != nil || MotoSettings.required }

    public static func require() throws -> Settings {
        guard let current else { throw Missing() }
        return current
    }

    /// A fresh schema name, so tests sharing the server never see each other's tables.
    public static func uniqueSchema(_ prefix: String = "t") -> String {
        "\(prefix)_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
    }
}
