import Foundation
import Logging
import Synchronization
import Testing
import RotorAWS
import RotorCore
import RotorRotators
import RotorTestSupport

/// Signed requests never follow a redirect; a partial ARN resolves to the one secret it can name.
@Suite struct RedirectAndARNTests {
    @Test func aSignedRequestIsNeverSentWhereARedirectPoints() async throws {
        let elsewhere = Mutex(0)
        let sink = try await LoopbackHTTPServer { _ in
            elsewhere.withLock { $0 += 1 }
            return .respond(status: 200, headers: [], body: Array("{}".utf8))
        }
        let sinkURL = sink.url
        let redirector = try await LoopbackHTTPServer { _ in
            .respond(status: 307, headers: [("Location", sinkURL.absoluteString + "/")], body: [])
        }
        defer { Task { try? await sink.close(); try? await redirector.close() } }
        let client = SecretsManagerClient(
            endpoint: redirector.url, region: "us-east-1",
            credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "CANARY-secret-key")))
        await #expect { _ = try await AWSSecretStore(client: client).listSecrets(in: .all) } throws: { error in
            "\(error)".contains("redirect") && !"\(error)".contains("CANARY")
        }
        #expect(elsewhere.withLock { $0 } == 0, "the signed request reached the redirect's target")
    }

    @Test func aPartialARNWhoseNameEndsLikeASuffixResolvesToTheSecretThatExists() async throws {
        let store = InMemorySecretStore()
        let literal = try SecretID("/prod/svc/api-key/name-abcdef")
        _ = try await store.createSecret(CreateSecretInput(id: literal, initialValue: SecretValue(string: "v")))
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:/prod/svc/api-key/name-abcdef"
        #expect(try await store.resolve(nameOrARN: arn) == literal, "a partial ARN of a secret named …-abcdef")
        let stripped = try SecretID("/prod/svc/api-key/name")
        _ = try await store.createSecret(CreateSecretInput(id: stripped, initialValue: SecretValue(string: "w")))
        await #expect { _ = try await store.resolve(nameOrARN: arn) } throws: { error in
            (error as? RotorError)?.code == .invalidSecretID && "\(error)".contains("both exist")
        }
        #expect(try await store.resolve(nameOrARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:/prod/svc/api-key/other-Xy12Ab")
                == SecretID("/prod/svc/api-key/other"), "a full ARN of a secret that does not exist keeps its usual reading")
    }
}

/// moto, unlike Secrets Manager, resets the labels of a version that carries AWSPENDING when the same
/// PutSecretValue arrives again. A late copy of rotor's own put, landing after finishSecret moved
/// AWSCURRENT, leaves no version with AWSCURRENT (the flaky fault test's end state). rotor reads the
/// labels back and reports it, naming the labels, instead of reporting a success.
@Suite(.enabled(if: Moto.enabled, "moto_server runs under 'make test'"))
struct LabelCheckTests {
    @Test func labelsChangedUnderFinishSecretAreReportedNotTakenForSuccess() async throws {
        let client = try Moto.client()
        let store = LatePutReplayingStore(base: AWSSecretStore(client: client), client: client)
        let engine = RotationEngine(store: store, state: InMemoryStateStore(), rotators: .builtIn,
                                    logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let id = Moto.uniqueID("svc/db-credentials/late-put")
        try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions(), initialValue: SecretValue(string: "first"))
        let report = try await engine.rotate(id)
        #expect(store.replayed, "the late put was replayed")
        #expect(report.outcome == .inProgress)
        let journal = try await engine.state.rotations(of: id, limit: 1).first?.steps.compactMap(\.error).joined() ?? ""
        let text = "\(report.error.map(String.init(describing:)) ?? "") \(journal)"
        #expect(text.contains("the labels changed under rotor during finishSecret") && text.contains("runbooks/stuck-pending-version.md"), "\(text)")
        #expect(report.steps.first { $0.step == .finishSecret }?.attempts == 1, "not retried: retrying cannot undo what changed the labels")
    }
}

/// Sends rotor's last PutSecretValue to moto again, unchanged, right after AWSCURRENT moves: what a
/// request delayed in the network and retried by the client does.
final class LatePutReplayingStore: ForwardingSecretStore, Sendable {
    let base: any SecretStore
    let client: SecretsManagerClient
    private let lastPut = Mutex<PutSecretValueInput?>(nil)
    private let done = Mutex(false)
    var replayed: Bool { done.withLock { $0 } }

    init(base: any SecretStore, client: SecretsManagerClient) {
        self.base = base
        self.client = client
    }

    func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome {
        lastPut.withLock { $0 = input }
        return try await base.putSecretValue(input)
    }

    /// One move at a time, so the late copy arrives right after AWSCURRENT's move.
    func updateSecretVersionStages(_ inputs: [UpdateVersionStageInput]) async throws { try await updateSecretVersionStagesOneByOne(inputs) }

    func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws {
        try await base.updateSecretVersionStage(input)
        guard input.stage == .current, !replayed, let put = lastPut.withLock({ $0 }) else { return }
        let body: [String: Any] = [
            "SecretId": put.id.rawValue, "ClientRequestToken": put.token.rawValue,
            "SecretString": put.value.exposedString ?? "", "VersionStages": ["AWSPENDING"],
        ]
        // The late copy is not rotor's call: its outcome never reaches the engine.
        if (try? await client.send(.putSecretValue, body: try JSONSerialization.data(withJSONObject: body), secret: put.id)) != nil {
            done.withLock { $0 = true }
        }
    }
}
