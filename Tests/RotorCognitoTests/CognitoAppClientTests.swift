import Foundation
import Synchronization
import Testing
import RotorCognito
import RotorCore
import RotorTestSupport

/// The first PutSecretValue never reaches the store: the run stops as a killed process would,
/// after Cognito added the secret and before its value was kept.
final class LosingFirstPutStore: ForwardingSecretStore, Sendable {
    let base: any SecretStore
    let lost = Mutex(false)
    init(base: any SecretStore) { self.base = base }

    func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome {
        if lost.withLock({ done in defer { done = true }; return !done }) { throw CancellationError() }
        return try await base.putSecretValue(input)
    }
}

/// An engine over in-memory stores that knows `cognito-app-client`, talking to a Cognito stand-in.
struct CognitoKit {
    let memory = InMemorySecretStore()
    let store: any SecretStore
    let logs = CapturedLogs()
    let engine: RotationEngine
    let cognito: CognitoStandIn

    let state = InMemoryStateStore()

    init(_ cognito: CognitoStandIn, environment: [String: String]? = nil, losingFirstPut: Bool = false) {
        self.cognito = cognito
        store = losingFirstPut ? LosingFirstPutStore(base: memory) : memory
        var registry = RotatorRegistry()
        RotatorRegistry.cognitoDescriptors(environment: environment ?? cognito.environment).forEach { registry.register($0) }
        engine = RotationEngine(
            store: store, state: state, rotators: registry,
            configuration: EngineConfiguration(retry: RetryPolicy(attemptsPerRun: 3, initialBackoff: .milliseconds(1), maximumBackoff: .milliseconds(1))),
            logger: logs.logger)
    }

    func current(_ id: SecretID) async throws -> [String: String] {
        let text = try await memory.getSecretValue(id, .current).value.exposedString ?? ""
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] ?? [:]
    }

    static func value(pool: String, client: String, secretID: String?, secret: String) -> SecretValue {
        var object = ["userPoolId": pool, "clientId": client, "clientSecret": secret]
        object["clientSecretId"] = secretID
        return SecretValue(string: String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }

    /// What the operator sees of a failure: the report's error, every step's note, and the log's
    /// failed attempts (which carry the remedy).
    func trace(_ report: RotationReport) -> String {
        ([report.error?.description ?? ""] + report.steps.compactMap(\.note) + logs.all).joined(separator: "\n")
    }

    /// Nothing printable carries any of these values: not the log, not the report.
    func expectNoneOf(_ values: [String], in report: RotationReport? = nil, sourceLocation: Testing.SourceLocation = #_sourceLocation) async {
        let audit = await state.auditEvents(of: nil, limit: 10_000).map { "\($0.operation) \($0.outcome) \($0.detail ?? "")" }
        let printed = (logs.all + audit).joined(separator: "\n") + (report.map { "\($0) \(String(describing: $0.error))" } ?? "") + cognito.log.joined()
        for value in values where !value.isEmpty { #expect(!printed.contains(value), "a value was printed", sourceLocation: sourceLocation) }
    }
}

@Suite struct CognitoAppClientTests {
    let id = try! SecretID("/prod/cognito/app-client/secret")
    let clientID = "4tq1example7clientid"
    let original = "OriginalSecretFromTheConsole0123456789"

    func setUp(options: [String: String] = [:], withToken: Bool = true, knownID: Bool = true, losingFirstPut: Bool = false,
               environment adjust: ([String: String]) -> [String: String] = { $0 }) async throws -> (CognitoKit, CognitoStandIn, String) {
        let cognito = try await CognitoStandIn()
        let originalID = cognito.addClient(clientID, secret: original)
        let kit = CognitoKit(cognito, environment: adjust(cognito.environment), losingFirstPut: losingFirstPut)
        var all = options
        all["previous-grace"] = all["previous-grace"] ?? "0"
        if withToken { all["token-endpoint"] = all["token-endpoint"] ?? cognito.tokenEndpoint }
        try await kit.engine.createManagedSecret(id, rotator: "cognito-app-client", options: RotatorOptions(all), initialValue:
            CognitoKit.value(pool: cognito.poolID, client: clientID, secretID: knownID ? originalID : nil, secret: original))
        return (kit, cognito, originalID)
    }

    @Test func aRotationAddsASecretThatWorksAndKeepsTheOldOneValid() async throws {
        let (kit, cognito, originalID) = try await setUp()
        defer { Task { await cognito.close() } }
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .succeeded, "\(kit.trace(report))")
        let value = try await kit.current(id)
        let newSecret = try #require(value["clientSecret"])
        let newID = try #require(value["clientSecretId"])
        #expect(newSecret != original && (24...64).contains(newSecret.count) && newID.hasPrefix("\(clientID)--"))
        #expect(cognito.secretIDs(clientID) == [originalID, newID])
        #expect(cognito.accepts(clientID, newSecret) && cognito.accepts(clientID, original))
        #expect(cognito.log.contains("AddUserPoolClientSecret") && cognito.log.contains("POST /oauth2/token"))
        #expect(value["userPoolId"] == cognito.poolID && value["clientId"] == clientID)
        await kit.expectNoneOf([newSecret, original, cognito.secretAccessKey], in: report)
    }

    @Test func theNextRotationDeletesOnlyThePreviousSecret() async throws {
        let (kit, cognito, originalID) = try await setUp()
        defer { Task { await cognito.close() } }
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
        let second = try await kit.current(id)
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
        let third = try await kit.current(id)
        #expect(cognito.secretIDs(clientID) == [second["clientSecretId"]!, third["clientSecretId"]!])
        #expect(!cognito.secretIDs(clientID).contains(originalID) && !cognito.accepts(clientID, original))
        #expect(cognito.accepts(clientID, second["clientSecret"]!) && cognito.accepts(clientID, third["clientSecret"]!))
        await kit.expectNoneOf([original, second["clientSecret"]!, third["clientSecret"]!])
    }

    @Test func aSecretAddedOutsideRotorIsExplainedAndNothingChanges() async throws {
        let (kit, cognito, originalID) = try await setUp()
        defer { Task { await cognito.close() } }
        let outsider = cognito.state.withLock { state in
            let made = CognitoStandIn.secret(for: clientID, value: "AddedInTheConsoleByAPerson0123", &state)
            state.clients[clientID]!.secrets.append(made)
            return made.id
        }
        let versions = try await kit.memory.describeSecret(id).versions.count
        let report = try await kit.engine.rotate(id)
        let trace = kit.trace(report)
        #expect(report.outcome == .rolledBack, "\(trace)\n\(cognito.log)")
        #expect(trace.contains("a secret rotor does not know (\(outsider))") && trace.contains("delete-user-pool-client-secret") && trace.contains("createSecret"))
        #expect(cognito.secretIDs(clientID) == [originalID, outsider] && !cognito.log.contains("AddUserPoolClientSecret"))
        #expect(try await kit.memory.describeSecret(id).versions.count == versions)
    }

    @Test func aFailedTokenGrantRollsBackAndDeletesTheNewSecret() async throws {
        let (kit, cognito, originalID) = try await setUp()
        defer { Task { await cognito.close() } }
        cognito.state.withLock { $0.clients[clientID]!.clientCredentialsFlow = false }
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .rolledBack)
        #expect(kit.trace(report).contains("unauthorized_client") && kit.trace(report).contains("testSecret"))
        #expect(cognito.secretIDs(clientID) == [originalID] && cognito.log.contains("DeleteUserPoolClientSecret"))
        #expect(try await kit.current(id)["clientSecret"] == original)
        await kit.expectNoneOf([original], in: report)
    }

    @Test func aRotationKilledAfterCognitoAddedTheSecretResumesWithoutAnOrphan() async throws {
        let (kit, cognito, originalID) = try await setUp(losingFirstPut: true)
        defer { Task { await cognito.close() } }
        _ = try? await kit.engine.rotate(id)
        #expect(cognito.secretIDs(clientID).count == 2)
        let resumed = try await kit.engine.rotate(id)
        #expect(resumed.outcome == .succeeded, "\(kit.trace(resumed))")
        let value = try await kit.current(id)
        #expect(cognito.secretIDs(clientID) == [originalID, value["clientSecretId"]!])
        #expect(cognito.accepts(clientID, value["clientSecret"]!) && cognito.accepts(clientID, original))
    }

    @Test func aWrongClientIDIsAClearErrorAndChangesNothing() async throws {
        let cognito = try await CognitoStandIn()
        defer { Task { await cognito.close() } }
        _ = cognito.addClient(clientID, secret: original)
        let kit = CognitoKit(cognito)
        try await kit.engine.createManagedSecret(id, rotator: "cognito-app-client", options: RotatorOptions(), initialValue:
            CognitoKit.value(pool: cognito.poolID, client: "someOtherClient", secretID: nil, secret: original))
        let report = try await kit.engine.rotate(id)
        let trace = kit.trace(report)
        #expect(report.outcome != .succeeded && trace.contains("User pool client someOtherClient does not exist"))
        #expect(trace.contains("createSecret") && trace.contains("check that user pool \(cognito.poolID) and app client someOtherClient exist"))
        #expect(try await kit.memory.describeSecret(id).versions.count == 1 && cognito.secretIDs(clientID).count == 1)
        await kit.expectNoneOf([original], in: report)
    }

    @Test func aRequestSignedWithTheWrongKeyIsRefused() async throws {
        let (kit, cognito, _) = try await setUp { environment in
            environment.merging(["AWS_SECRET_ACCESS_KEY": "not-the-right-secret-access-key"]) { _, new in new }
        }
        defer { Task { await cognito.close() } }
        let report = try await kit.engine.rotate(id)
        let trace = kit.trace(report)
        #expect(report.outcome != .succeeded && trace.contains("InvalidSignatureException") && trace.contains("check the access key"))
        #expect(cognito.secretIDs(clientID).count == 1 && cognito.log.isEmpty)
        await kit.expectNoneOf(["not-the-right-secret-access-key", original], in: report)
    }

    @Test(arguments: ["http://cognito.example.com", "https://user:pw@cognito.example.com"])
    func aCleartextOrCredentialedEndpointIsRefusedBeforeAnyCall(endpoint: String) async throws {
        let cognito = try await CognitoStandIn()
        defer { Task { await cognito.close() } }
        let kit = CognitoKit(cognito)
        await #expect(throws: RotorError.self) {
            try await kit.engine.createManagedSecret(id, rotator: "cognito-app-client", options: RotatorOptions(["endpoint": endpoint]), initialValue:
                CognitoKit.value(pool: cognito.poolID, client: clientID, secretID: nil, secret: original))
        }
        #expect(cognito.log.isEmpty)
    }

    @Test func aFirstValueWithoutItsSecretIDIsRotatedWhenTheClientHasOneSecret() async throws {
        let (kit, cognito, originalID) = try await setUp(knownID: false)
        defer { Task { await cognito.close() } }
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
        #expect(cognito.secretIDs(clientID).first == originalID && cognito.secretIDs(clientID).count == 2)
    }

    @Test func aManualRollbackDeletesTheSecretItLeavesAndTheNextRotationWorks() async throws {
        let (kit, cognito, originalID) = try await setUp()
        defer { Task { await cognito.close() } }
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
        let rotated = try await kit.current(id)
        _ = try await kit.engine.rollbackToPrevious(id)
        #expect(try await kit.current(id)["clientSecretId"] == originalID)
        #expect(cognito.secretIDs(clientID) == [originalID] && !cognito.accepts(clientID, rotated["clientSecret"]!))
        let next = try await kit.engine.rotate(id)
        #expect(next.outcome == .succeeded, "\(kit.trace(next))")
        #expect(cognito.secretIDs(clientID).first == originalID && cognito.secretIDs(clientID).count == 2)
    }

    @Test func throttlingIsRetriedAndAValueEditedToAnotherPoolIsRefused() async throws {
        let (kit, cognito, _) = try await setUp()
        defer { Task { await cognito.close() } }
        cognito.state.withLock { $0.scripted = [CognitoStandIn.error(400, "TooManyRequestsException", "Too many requests")] }
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)

        var edited = try await kit.current(id)
        edited["userPoolId"] = "eu-west-1_Other9"
        let text = String(decoding: try JSONSerialization.data(withJSONObject: edited, options: [.sortedKeys]), as: UTF8.self)
        _ = try await kit.memory.putSecretValue(PutSecretValueInput(id: id, token: VersionID(UUID().uuidString.lowercased()), value: SecretValue(string: text), stages: [.current]))
        let calls = cognito.log.count
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome != .succeeded && kit.trace(report).contains("user-pool-id differs from the one rotor recorded"))
        #expect(cognito.log.count == calls)
    }

    @Test func aValueWithoutItsSecretIDRotatesTwiceAndThenDeletesTheOriginal() async throws {
        let (kit, cognito, originalID) = try await setUp(knownID: false)
        defer { Task { await cognito.close() } }
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .succeeded, "\(kit.trace(report))")
        #expect(!cognito.secretIDs(clientID).contains(originalID) && cognito.secretIDs(clientID).count == 2)
    }

    @Test func theSecretItReplacedStaysForTheGracePeriod() async throws {
        let (kit, cognito, originalID) = try await setUp(options: ["previous-grace": "3600"])
        defer { Task { await cognito.close() } }
        #expect(try await kit.engine.rotate(id).outcome == .succeeded)
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .rolledBack && kit.trace(report).contains("younger than previous-grace"))
        #expect(cognito.secretIDs(clientID).first == originalID && cognito.secretIDs(clientID).count == 2)
    }

    @Test func anAddWhoseAnswerIsLostIsCleanedUpByTheNextAttempt() async throws {
        let (kit, cognito, originalID) = try await setUp()
        defer { Task { await cognito.close() } }
        cognito.state.withLock { $0.loseAddAnswers = 1 }
        let report = try await kit.engine.rotate(id)
        #expect(report.outcome == .succeeded, "\(kit.trace(report))")
        let value = try await kit.current(id)
        #expect(cognito.secretIDs(clientID) == [originalID, value["clientSecretId"]!])
        #expect(cognito.log.filter { $0 == "AddUserPoolClientSecret" }.count == 2 && cognito.log.contains("DeleteUserPoolClientSecret"))
    }

    @Test func controlCharactersInCognitosAnswersNeverReachTheLog() async throws {
        let (kit, cognito, _) = try await setUp()
        defer { Task { await cognito.close() } }
        cognito.state.withLock { $0.scripted = [CognitoStandIn.error(400, "InvalidParameter\u{1b}Exception", "bad\r\nFAKE LOG LINE \u{1b}[31mred")] }
        let report = try await kit.engine.rotate(id)
        let trace = kit.trace(report)
        #expect(report.outcome == .rolledBack && trace.contains("FAKE LOG LINE"))
        #expect(!trace.contains("\u{1b}") && !trace.contains("\r\nFAKE"))
    }

    /// Killed at each write of the rotation, the next run resumes with the same token and leaves the
    /// client with the current and the previous secret, both working; a repeated run is clean.
    @Test(arguments: [(1, false), (1, true), (2, false), (2, true)])
    func aRotationKilledAtAnyWriteResumesToTwoWorkingSecrets(write: Int, afterWrite: Bool) async throws {
        let (kit, cognito, originalID) = try await setUp()
        defer { Task { await cognito.close() } }
        let killing = KillingSecretStore(base: kit.memory, killAtWrite: write, afterWrite: afterWrite)
        let killed = RotationEngine(store: killing, state: kit.state, rotators: kit.engine.rotators, configuration: kit.engine.configuration, logger: kit.logs.logger)
        _ = try? await killed.rotate(id)
        #expect(killing.killed)
        let resumed = try await kit.engine.rotate(id)
        #expect(resumed.outcome == .succeeded, "\(kit.trace(resumed))")
        let value = try await kit.current(id)
        #expect(cognito.secretIDs(clientID) == [originalID, value["clientSecretId"]!] && cognito.accepts(clientID, value["clientSecret"]!))
        #expect(try await kit.engine.rotate(id).outcome == .succeeded, "a repeated run is clean")
    }
}
