import Foundation
import Synchronization
import Testing
import Logging
import RotorCore
import RotorRotators
import RotorStorage
import RotorAWS
import RotorStatePostgres
import RotorTestSupport

/// The backends every behavioural test runs against: the in-memory fakes, the embedded store with
/// the SQLite state database, the embedded store with the PostgreSQL state database, and AWS Secrets
/// Manager (moto_server on loopback) with the SQLite state database; `make test` starts both servers.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case inMemory = "in-memory"
    case embedded = "embedded+sqlite"
    case postgres = "embedded+postgres"
    case aws = "aws(moto)+sqlite"

    var testDescription: String { rawValue }

    /// The backends to run: AWS and PostgreSQL only when their servers are configured (always under
    /// `make test`, which sets ROTOR_REQUIRE_INTEGRATION and makes a missing one a failure, never a silent skip).
    static var available: [Backend] {
        allCases.filter { backend in
            switch backend {
            case .inMemory, .embedded: true
            case .postgres: PostgresTestServer.enabled
            case .aws: MotoEnvironment.current != nil || MotoEnvironment.required
            }
        }
    }

    /// The backends with a secret store of their own (PostgreSQL changes only the state database).
    static var secretStores: [Backend] { available.filter { $0 != .postgres } }

    /// Whether the store prunes deprecated versions itself (AWS does it server-side, out of sight).
    var ownsVersionRetention: Bool { self != .aws }

    func make(clock: TestClock) async throws -> BackendInstance {
        switch self {
        case .inMemory:
            return BackendInstance(store: InMemorySecretStore(clock: clock), state: InMemoryStateStore(), directory: nil, environment: "prod")
        case .embedded:
            let directory = try TemporaryDirectory.make()
            let store = try EmbeddedSecretStore(
                url: directory.appendingPathComponent("store.sqlite"),
                keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")), clock: clock)
            let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"))
            return BackendInstance(store: store, state: state, directory: directory, environment: "prod")
        case .postgres:
            let directory = try TemporaryDirectory.make()
            let store = try EmbeddedSecretStore(
                url: directory.appendingPathComponent("store.sqlite"),
                keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")), clock: clock)
            let state = try await PostgresState.open(authenticator: store.rotatorConfigAuthenticator)
            return BackendInstance(store: store, state: state, directory: directory, environment: "prod")
        case .aws:
            let directory = try TemporaryDirectory.make()
            let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"))
            // Each test gets its own environment (the first part of every id), so tests sharing one
            // moto_server never see each other's secrets.
            let environment = "t" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
            return BackendInstance(store: try MotoEnvironment.store(), state: state, directory: directory, environment: environment)
        }
    }
}

/// One backend's stores, and the environment its test ids live in.
struct BackendInstance {
    let store: any SecretStore
    let state: any RotationStateStore
    let directory: URL?
    let environmentName: String

    init(store: any SecretStore, state: any RotationStateStore, directory: URL?, environment: String) {
        self.store = store
        self.state = state
        self.directory = directory
        environmentName = environment
    }

    /// An id in this instance's environment: `id("payments/db-credentials/ledger")`.
    func id(_ rest: String) -> SecretID { try! SecretID("/\(environmentName)/\(rest)") }
}

/// The moto_server that `make test` starts (scripts/moto.sh), with request authentication on.
enum MotoEnvironment {
    static var current: MotoSettings.Settings? { MotoSettings.current }
    static var required: Bool { MotoSettings.required }

    static func client(endpoint: URL? = nil, secretKey: String? = nil, retry: AWSRetryPolicy = AWSRetryPolicy(), timeout: Duration = .seconds(10)) throws -> SecretsManagerClient {
        let moto = try MotoSettings.require()
        let credentials = AWSCredentials(accessKeyID: moto.accessKey, secretAccessKey: secretKey ?? moto.secretKey)
        return SecretsManagerClient(
            endpoint: endpoint ?? moto.endpoint, region: "us-east-1", credentials: StaticCredentialProvider(credentials),
            retry: retry, timeout: timeout)
    }

    static func store() throws -> AWSSecretStore { AWSSecretStore(client: try client()) }
}

/// State stores on the PostgreSQL server `make test` starts, each in a schema of its own.
enum PostgresState {
    static func settings(schema: String = PostgresTestServer.uniqueSchema()) throws -> PostgresStateSettings {
        let server = try PostgresTestServer.require()
        return try PostgresStateSettings(
            host: server.host, port: server.port, username: server.user, password: SecretValue(string: server.password), database: "postgres",
            schema: schema, caFile: server.caFile)
    }

    static func open(schema: String = PostgresTestServer.uniqueSchema(), authenticator: RotatorConfigAuthenticator? = nil) async throws -> PostgresStateStore {
        try await PostgresStateStore.open(try settings(schema: schema), authenticator: authenticator,
                                          logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }
}

enum TemporaryDirectory {
    static func make() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The outside system a scripted rotator "configures": the value it currently accepts.
final class FakeTarget: Sendable {
    private let accepted = Mutex<SecretValue?>(nil)
    var value: SecretValue? { accepted.withLock { $0 } }
    func accept(_ value: SecretValue) { accepted.withLock { $0 = value } }
}

/// A rotator whose behaviour a test scripts: failures (transient or not) and interruptions
/// before or after its side effect, per step. It records every call.
final class ScriptedRotator: Rotator {
    enum Action: Sendable { case fail(transient: Bool), interruptBefore, interruptAfter }
    enum Phase: String, Sendable { case create, set, test, finish, rollback }

    let kind: RotatorKind = "scripted"
    let hasTarget: Bool
    let afterSetFailure: FailureDirection
    let target = FakeTarget()
    private let script = Mutex<[Phase: [Action]]>([:])
    private let log = Mutex<[Phase]>([])
    private let counter = Mutex(0)

    /// Without a target, the engine calls neither setSecret nor rollback, and testSecret checks only that a pending value exists.
    init(afterSetFailure: FailureDirection = .rollBack, hasTarget: Bool = true) {
        self.afterSetFailure = afterSetFailure
        self.hasTarget = hasTarget
    }

    /// Queues actions for a phase; each call consumes one, then the phase behaves normally.
    func on(_ phase: Phase, _ actions: Action...) { script.withLock { $0[phase, default: []].append(contentsOf: actions) } }
    var calls: [Phase] { log.withLock { $0 } }

    private func next(_ phase: Phase) -> Action? {
        log.withLock { $0.append(phase) }
        return script.withLock { script in script[phase]?.isEmpty == false ? script[phase]!.removeFirst() : nil }
    }

    private func perform(_ phase: Phase, step: RotationStep?, _ sideEffect: () throws -> Void) throws {
        switch next(phase) {
        case .fail(let transient)?:
            throw RotorError(.stepFailed, "scripted failure in \(phase.rawValue)", step: step, isTransient: transient)
        case .interruptBefore?:
            throw CancellationError()
        case .interruptAfter?:
            try sideEffect()
            throw CancellationError()
        case nil:
            try sideEffect()
        }
    }

    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        var value = SecretValue(string: "")
        try perform(.create, step: .createSecret) {
            value = SecretValue(string: "scripted-\(counter.withLock { $0 += 1; return $0 })-\(context.token)")
        }
        return CreateSecretResponse(newValue: value)
    }

    func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse {
        try perform(.set, step: .setSecret) { target.accept(request.pending) }
        return SetSecretResponse()
    }

    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        try perform(.test, step: .testSecret) {
            guard !hasTarget || target.value == request.pending else { throw RotorError(.stepFailed, "target does not accept the pending value") }
        }
        return TestSecretResponse()
    }

    func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse {
        try perform(.finish, step: .finishSecret) {}
        return FinishSecretResponse()
    }

    func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        try perform(.rollback, step: nil) { target.accept(request.restore) }
    }
}

/// An engine over one backend with a scripted rotator and one managed secret.
struct Harness {
    static let initialValue = SecretValue(string: "initial-value")

    let clock = TestClock()
    let rotator: ScriptedRotator
    let store: any SecretStore
    let state: any RotationStateStore
    let engine: RotationEngine
    let directory: URL?
    let instance: BackendInstance
    let secret: SecretID
    let logs = CapturedLogs()

    init(_ backend: Backend, rotator: ScriptedRotator = ScriptedRotator(), retry: RetryPolicy = RetryPolicy(), stuckPending: StuckPendingPolicy = .refuse) async throws {
        self.rotator = rotator
        instance = try await backend.make(clock: clock)
        (store, state, directory) = (instance.store, instance.state, instance.directory)
        secret = instance.id("payments/db-credentials/ledger")
        var registry = RotatorRegistry.builtIn
        registry.register(RotatorDescriptor(
            kind: "scripted", summary: "test", options: [:], build: { [rotator] _ throws(RotorError) in rotator }, initialValue: { _, _ in nil }))
        engine = RotationEngine(
            store: store, state: state, rotators: registry, clock: clock,
            configuration: EngineConfiguration(retry: retry, stuckPending: stuckPending, actor: "test"),
            logger: logs.logger, jitter: { 0.5 })
        try await engine.createManagedSecret(secret, rotator: "scripted", options: RotatorOptions(), initialValue: Self.initialValue)
        rotator.target.accept(Self.initialValue)
    }

    func current() async throws -> SecretVersionValue { try await store.getSecretValue(secret, .current) }
    /// Labelled versions and their labels (Secrets Manager's DescribeSecret lists no deprecated versions).
    func labels() async throws -> [VersionID: [StagingLabel]] {
        try await store.describeSecret(secret).versionIDsToStages.filter { !$0.value.isEmpty }
    }
    func managed() async throws -> ManagedSecret { try await state.managedSecret(secret)! }
}
