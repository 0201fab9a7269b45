import Foundation
import RotorTestSupport
import Synchronization
import RotorAWS
import RotorCore
import RotorTestSupport

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
    static var enabled: Bool { MotoSettings.enabled }

    static func require() throws -> MotoSettings.Settings { try MotoSettings.require() }

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
