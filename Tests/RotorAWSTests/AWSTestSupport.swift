import Foundation
import RotorTestSupport
import Synchronization
import RotorAWS
import RotorCore
import RotorTestSupport

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
