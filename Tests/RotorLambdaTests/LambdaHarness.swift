import Foundation
import RotorAWS
import RotorCore
import RotorTestSupport

typealias Moto = MotoSettings

/// The bootstrap binary on an emulated runtime, with moto as Secrets Manager.
final class LambdaHarness: @unchecked Sendable {
    let emulator: RuntimeEmulator
    let process = ChildProcess()
    let store: AWSSecretStore
    let client: SecretsManagerClient
    let log: URL

    static var binary: URL { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("bootstrap") }

    /// - Parameter moto: the moto_server and the key the harness itself uses (default the one `make test` starts).
    init(environment: [String: String], endpoint: URL? = nil, moto: MotoSettings.Settings? = nil) async throws {
        let moto = try moto ?? Moto.require()
        emulator = try await RuntimeEmulator()
        client = SecretsManagerClient(endpoint: moto.endpoint, region: "us-east-1",
                                      credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: moto.accessKey, secretAccessKey: moto.secretKey)))
        store = AWSSecretStore(client: client)
        log = FileManager.default.temporaryDirectory.appendingPathComponent("bootstrap-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = Self.binary
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") && !$0.key.hasPrefix("ROTOR_") }
        env["AWS_LAMBDA_RUNTIME_API"] = emulator.address
        env["SECRETS_MANAGER_ENDPOINT"] = (endpoint ?? moto.endpoint).absoluteString
        env["AWS_REGION"] = "us-east-1"
        env["AWS_ACCESS_KEY_ID"] = moto.accessKey
        env["AWS_SECRET_ACCESS_KEY"] = moto.secretKey
        env.merge(environment) { $1 }
        process.environment = env
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func stop() { if process.isRunning { kill(process.processIdentifier, SIGKILL) }; Task { [emulator] in try? await emulator.close() } }

    func waitForExit() async throws -> Int32 {
        // Generous: on a loaded machine the process may take long to start; a quick exit returns at once.
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return process.terminationStatus
    }

    /// Creates a secret; returns its id, ARN and first version.
    func secret(_ value: String?, tags: [String: String] = [:]) async throws -> (SecretID, String, VersionID) {
        let id = try SecretID("/t\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12))/svc/api-key/rotated")
        let initial = value.map { SecretValue(string: $0) } ?? SecretValue(bytes: Array(repeating: 7, count: 32))
        _ = try await store.createSecret(CreateSecretInput(id: id, tags: tags, initialValue: initial))
        let current = try await store.getSecretValue(id, .current).versionID
        return (id, "arn:aws:secretsmanager:us-east-1:123456789012:secret:\(id.rawValue)-AbCdEf", current)
    }

    /// What RotateSecret does before invoking the function: an empty AWSPENDING version whose id is
    /// the token. (moto creates it when RotateSecret names a function it cannot invoke.)
    func startRotation(_ id: SecretID) async throws -> VersionID {
        let token = VersionID(UUID().uuidString.lowercased())
        let body: [String: Any] = [
            "SecretId": id.rawValue, "ClientRequestToken": token.rawValue,
            "RotationLambdaARN": "arn:aws:lambda:us-east-1:123456789012:function:rotor", "RotationRules": ["AutomaticallyAfterDays": 30],
        ]
        _ = try? await client.send(.rotateSecret, body: try JSONSerialization.data(withJSONObject: body), secret: id)
        return token
    }

    static func event(_ step: RotationStep, _ arn: String, _ token: VersionID) -> String {
        #"{"Step":"\#(step.rawValue)","SecretId":"\#(arn)","ClientRequestToken":"\#(token.rawValue)","RotationToken":"\#(UUID().uuidString.lowercased())"}"#
    }
}
