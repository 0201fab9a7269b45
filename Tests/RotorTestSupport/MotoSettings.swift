import Foundation

/// The moto_server `make test` starts (scripts/moto.sh), with request authentication on. Under
/// `make test` (ROTOR_REQUIRE_INTEGRATION=1) a missing moto fails the tests instead of skipping them.
public enum MotoSettings {
    public struct Settings: Sendable {
        public let endpoint: URL
        public let accessKey: String
        public let secretKey: String
    }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "moto_server is not running: run the tests with 'make test' (ROTOR_TEST_MOTO_* unset)" }
    }

    public static var current: Settings? {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["ROTOR_TEST_MOTO_ENDPOINT"].flatMap(URL.init(string:)),
              let key = env["ROTOR_TEST_MOTO_ACCESS_KEY_ID"], let secret = env["ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"] else { return nil }
        return Settings(endpoint: endpoint, accessKey: key, secretKey: secret)
    }

    public static var required: Bool { ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] == "1" }

    /// Whether moto tests run: always under `make test`.
    public static var enabled: Bool { current != nil || required }

    public static func require() throws -> Settings {
        guard let current else { throw Missing() }
        return current
    }
}
