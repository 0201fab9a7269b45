import Foundation
import Logging
import RotorAWS
import RotorCore
import RotorRotators

/// rotor's rotations against Secrets Manager (moto_server): API calls per rotation and rotations
/// per second, with the journal in memory so only the API is measured.
enum AWSBench {
    /// - Parameter writesPerSecond: the client-side limit on quota writes (50 in production; `.infinity` measures the raw client).
    static func run(rotations: Int, writesPerSecond: Double) async throws {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["AWS_ENDPOINT_URL_SECRETS_MANAGER"].flatMap(URL.init(string:)) else {
            print("rotor-bench aws: set AWS_ENDPOINT_URL_SECRETS_MANAGER (make bench starts moto_server)")
            return
        }
        let settings = try AWSSettings.resolve(region: "us-east-1", profile: nil, endpointURL: endpoint.absoluteString, environment: env)
        let client = SecretsManagerClient(
            endpoint: settings.endpoint, region: settings.region, credentials: settings.credentials, writesPerSecond: writesPerSecond)
        let store = AWSSecretStore(client: client)
        let engine = RotationEngine(store: store, state: InMemoryStateStore(), rotators: .builtIn,
                                    logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let id = try SecretID("/bench\(UUID().uuidString.prefix(8).lowercased())/rotor/api-key/secret")
        try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions(["exclude-characters": "/@\"'\\"]),
                                             initialValue: SecretValue(string: "initial"))
        client.requestCounter.reset()
        let clock = ContinuousClock()

        let start = clock.now
        for _ in 0..<rotations {
            let report = try await engine.rotate(id, trigger: "bench")
            guard report.succeeded else { throw report.error ?? RotorError(.stepFailed, "rotation failed") }
        }
        let elapsed = (clock.now - start).seconds
        print(String(format: "%@ %d %.1f %.1f", writesPerSecond.isFinite ? "rotor(50-TPS-write-limit)" : "rotor(no-limit)", rotations, Double(rotations) / elapsed, Double(client.requestCounter.value) / Double(rotations)))
    }
}
