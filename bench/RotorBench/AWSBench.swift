import Foundation
import Logging
import RotorAWS
import RotorCore
import RotorRotators

/// rotor's rotations against Secrets Manager (moto_server): API calls per rotation, by API, and
/// rotations per second, with the journal in memory so only the API is measured.
enum AWSBench {
    /// - Parameter writesPerSecond: the client-side limit on quota writes (50 in production; `.infinity` measures the raw client).
    static func run(rotations: Int, writesPerSecond: Double) async throws {
        guard let client = try client(writesPerSecond: writesPerSecond) else { return }
        let store = AWSSecretStore(client: client)
        let engine = RotationEngine(store: store, state: InMemoryStateStore(), rotators: .builtIn,
                                    logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let id = try newID("rotor")
        try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions(["exclude-characters": "/@\"'\\"]),
                                             initialValue: SecretValue(string: "initial"))
        client.requestCounter.reset()
        let elapsed = try await timed {
            for _ in 0..<rotations {
                let report = try await engine.rotate(id, trigger: "bench")
                guard report.succeeded else { throw report.error ?? RotorError(.stepFailed, "rotation failed") }
            }
        }
        report(writesPerSecond.isFinite ? "rotor-cli(50-TPS-write-limit)" : "rotor-cli(no-limit)", rotations, elapsed, client)
    }

    /// The rotation function's path: RotateSecret makes the empty AWSPENDING version (moto does so when
    /// it cannot run the function), then the four steps run as four invocations, each from nothing, with
    /// the same executor the Lambda uses. RotateSecret itself is Secrets Manager's and is not counted.
    static func runLambda(rotations: Int) async throws {
        guard let client = try client(writesPerSecond: .infinity) else { return }
        let store = AWSSecretStore(client: client, checksTokenReuse: false)
        let id = try newID("lambda")
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "initial")))
        let rotator = try RotatorRegistry.builtIn.make("random-password", options: RotatorOptions(["exclude-characters": "/@\"'\\"]))
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        var counted = 0.0
        var calls: [String: Int] = [:]
        for _ in 0..<rotations {
            let token = VersionID(UUID().uuidString.lowercased())
            let body: [String: Any] = [
                "SecretId": id.rawValue, "ClientRequestToken": token.rawValue,
                "RotationLambdaARN": "arn:aws:lambda:us-east-1:123456789012:function:rotor", "RotationRules": ["AutomaticallyAfterDays": 30],
            ]
            _ = try? await client.send(.rotateSecret, body: try JSONSerialization.data(withJSONObject: body), secret: id)
            client.requestCounter.reset()
            counted += try await timed {
                let executor = StepExecutor(store: store, mode: .lambda(rotationToken: nil))
                for step in RotationStep.allCases {
                    let request = StepExecutor.Request(step: step, secret: id, token: token, rotator: rotator, logger: logger, now: Date())
                    _ = try await executor.run(request, snapshot: SecretSnapshot())
                }
            }
            calls.merge(client.requestCounter.byOperation, uniquingKeysWith: +)
            // What Secrets Manager's backend does after finishSecret.
            try await store.updateSecretVersionStage(UpdateVersionStageInput(id: id, stage: .pending, removeFrom: token))
        }
        print(line("rotor-lambda", rotations, counted, calls))
    }

    static func client(writesPerSecond: Double) throws -> SecretsManagerClient? {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["AWS_ENDPOINT_URL_SECRETS_MANAGER"].flatMap(URL.init(string:)) else {
            print("rotor-bench aws: set AWS_ENDPOINT_URL_SECRETS_MANAGER (make bench starts moto_server)")
            return nil
        }
        let settings = try AWSSettings.resolve(region: "us-east-1", profile: nil, endpointURL: endpoint.absoluteString, environment: env)
        return SecretsManagerClient(endpoint: settings.endpoint, region: settings.region, credentials: settings.credentials, writesPerSecond: writesPerSecond)
    }

    static func newID(_ who: String) throws -> SecretID {
        try SecretID("/bench\(UUID().uuidString.prefix(8).lowercased())/\(who)/api-key/secret")
    }

    static func timed(_ body: () async throws -> Void) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try await body()
        return (clock.now - start).seconds
    }

    static func report(_ name: String, _ rotations: Int, _ elapsed: Double, _ client: SecretsManagerClient) {
        print(line(name, rotations, elapsed, client.requestCounter.byOperation))
    }

    /// `NAME ROTATIONS ROTATIONS/S CALLS/ROTATION API=N,...` (per rotation, by API), as bench.sh reads it.
    static func line(_ name: String, _ rotations: Int, _ elapsed: Double, _ calls: [String: Int]) -> String {
        let total = Double(calls.values.reduce(0, +)) / Double(rotations)
        let byAPI = calls.sorted { $0.key < $1.key }
            .map { String(format: "%@=%g", $0.key, Double($0.value) / Double(rotations)) }.joined(separator: ",")
        return String(format: "%@ %d %.1f %.1f %@", name, rotations, Double(rotations) / elapsed, total, byAPI)
    }
}
