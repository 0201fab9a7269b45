import Foundation
import RotorTestSupport
import Synchronization
import RotorAWS
import RotorCore

/// A clock for tests: `now` moves only when told or when something sleeps.
final class TestClock: RotorClock {
    private let state: Mutex<(now: Date, slept: [Duration])>
    init(_ start: Date = Date()) { state = Mutex((start, [])) }
    func now() -> Date { state.withLock { $0.now } }
    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        state.withLock { $0.now += duration.seconds; $0.slept.append(duration) }
    }
    func advance(by seconds: TimeInterval) { state.withLock { $0.now += seconds } }
    var slept: [Duration] { state.withLock { $0.slept } }
}

/// The moto_server started by `make test` (scripts/moto.sh), with request authentication on.
/// Missing moto fails the test when ROTOR_REQUIRE_INTEGRATION=1 (always under `make test`).
enum Moto {
    static var settings: (endpoint: URL, accessKey: String, secretKey: String)? {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["ROTOR_TEST_MOTO_ENDPOINT"].flatMap(URL.init(string:)),
              let key = env["ROTOR_TEST_MOTO_ACCESS_KEY_ID"], let secret = env["ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"] else { return nil }
        return (endpoint, key, secret)
    }

    /// Whether the moto tests run: under `make test` they always do (and fail if moto is missing).
    static var enabled: Bool { settings != nil || ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] == "1" }

    static func require() throws -> (endpoint: URL, accessKey: String, secretKey: String) {
        guard let settings else {
            throw RotorError(.storeUnavailable, "moto_server is not running: run the tests with 'make test'")
        }
        return settings
    }

    static func client(endpoint: URL? = nil, secretKey: String? = nil, retry: AWSRetryPolicy = AWSRetryPolicy(base: .milliseconds(20), cap: .milliseconds(200)),
                       timeout: Duration = .seconds(10)) throws -> SecretsManagerClient {
        let moto = try require()
        return SecretsManagerClient(
            endpoint: endpoint ?? moto.endpoint, region: "us-east-1",
            credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: moto.accessKey, secretAccessKey: secretKey ?? moto.secretKey)),
            retry: retry, timeout: timeout)
    }

    /// A fresh environment name, so tests sharing one moto_server never see each other's secrets.
    static func uniqueID(_ rest: String) -> SecretID {
        try! SecretID("/t\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12))/\(rest)")
    }
}
