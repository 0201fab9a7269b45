import Foundation
import RotorTestSupport
import Logging
import Testing
import RotorAWS
import RotorCore
import RotorRotators

/// Against moto_server with authentication on: signatures, retries under injected faults, audit.
@Suite(.enabled(if: Moto.enabled, "moto_server runs under 'make test'"))
struct SecretsManagerIntegrationTests {
    @Test func aWrongSignatureIsRejected() async throws {
        let store = AWSSecretStore(client: try Moto.client(secretKey: "not-the-right-secret-key"))
        await #expect { try await store.listSecrets(in: .all) } throws: { error in
            (error as? RotorError)?.code == .authenticationFailed && !"\(error)".contains("not-the-right-secret-key")
        }
    }

    @Test func theRightSignatureIsAccepted() async throws {
        let store = AWSSecretStore(client: try Moto.client())
        let id = Moto.uniqueID("svc/api-key/signed")
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "v")))
        #expect(try await store.listSecrets(in: .only(id.environment)).map(\.id) == [id])
    }

    @Test func everyCallIsAuditedWithItsRequestIDAndNoValue() async throws {
        let events = Events()
        let store = AWSSecretStore(client: try Moto.client(), actor: "test") { await events.append($0) }
        let id = Moto.uniqueID("svc/api-key/audited")
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "CANARY-audit-value")))
        _ = try await store.getSecretValue(id, .current)
        let recorded = await events.all
        #expect(recorded.map(\.operation) == ["aws.CreateSecret", "aws.DescribeSecret", "aws.GetSecretValue"])
        #expect(recorded.allSatisfy { $0.secret == id && $0.outcome == "succeeded" && $0.detail?.hasPrefix("request id ") == true })
        #expect(!recorded.map { "\($0)" }.joined().contains("CANARY"))
    }

    @Test func clientErrorsAreNotRetriedButThrottlingIs() async throws {
        let proxy = try await FaultInjectingProxy(upstream: try Moto.require().endpoint)
        defer { Task { try? await proxy.close() } }
        // A timeout no loaded machine reaches: only the injected faults may cause a retry.
        let client = try Moto.client(endpoint: proxy.url, timeout: .seconds(120))
        let store = AWSSecretStore(client: client)
        // Judged by moto's answers, not by arrivals: on a loaded machine a forward to moto can fail
        // (the proxy then drops the connection) and the client rightly retries that. What must hold:
        // once moto answered the not-found (a client error), nothing more is sent.
        await #expect { try await store.describeSecret(Moto.uniqueID("svc/api-key/missing")) } throws: { ($0 as? RotorError)?.code == .secretNotFound }
        #expect(proxy.plan.forwardedStatuses.filter { (400..<500).contains($0) }.count == 1 && proxy.plan.forwardedStatuses.last.map { (400..<500).contains($0) } == true,
                "\(proxy.plan.calls) \(proxy.plan.forwardedStatuses)")
        let before = proxy.plan.calls.count
        proxy.inject("DescribeSecret", .throttle, .throttle, .serverError)
        await #expect { try await store.describeSecret(Moto.uniqueID("svc/api-key/missing")) } throws: { ($0 as? RotorError)?.code == .secretNotFound }
        // The three injected faults were each retried; the client error ended the call.
        #expect(proxy.plan.calls.count - before >= 4 && proxy.plan.remaining == 0, "\(proxy.plan.calls)")
        #expect(proxy.plan.forwardedStatuses.filter { (400..<500).contains($0) }.count == 2 && proxy.plan.forwardedStatuses.last.map { (400..<500).contains($0) } == true,
                "\(proxy.plan.calls) \(proxy.plan.forwardedStatuses)")
    }

    @Test func retriesGiveUpAfterTheLastAttemptWithATransientError() async throws {
        let proxy = try await FaultInjectingProxy(upstream: try Moto.require().endpoint)
        defer { Task { try? await proxy.close() } }
        let client = try Moto.client(endpoint: proxy.url, retry: AWSRetryPolicy(maxAttempts: 3, base: .milliseconds(10), cap: .milliseconds(20)))
        proxy.inject("ListSecrets", .serverError, .serverError, .serverError)
        await #expect { try await AWSSecretStore(client: client).listSecrets(in: .all) } throws: { error in
            (error as? RotorError)?.isTransient == true && "\(error)".contains("InternalServiceError")
        }
        #expect(proxy.plan.calls.count == 3, "\(proxy.plan.calls)")
    }

    /// A rotation through throttling, 500s, a slow response past the timeout, dropped connections
    /// and responses lost after the call took effect: it succeeds, with no duplicate version and no
    /// pending version left.
    @Test(arguments: RotatorKind.builtInAutomatic)
    func rotationSurvivesInjectedFaults(kind: RotatorKind) async throws {
        let proxy = try await FaultInjectingProxy(upstream: try Moto.require().endpoint)
        defer { Task { try? await proxy.close() } }
        // One call may meet all of its operation's faults (a run describes once up front), and a loaded
        // machine may add a timeout of its own: enough attempts that only a real bug runs out of them.
        let client = try Moto.client(endpoint: proxy.url, retry: AWSRetryPolicy(maxAttempts: 8, base: .milliseconds(20), cap: .milliseconds(200)),
                                     timeout: .milliseconds(1000))
        let store = AWSSecretStore(client: client)
        let engine = RotationEngine(store: store, state: InMemoryStateStore(), rotators: .builtIn,
                                    logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let id = Moto.uniqueID("svc/db-credentials/faulty")
        // random-password on a JSON field reads the current value (GetSecretValue); encryption-key does not.
        let options = kind == RandomPasswordRotator.kind ? RotatorOptions(["field": "password"]) : RotatorOptions()
        let readsCurrent = try RotatorRegistry.builtIn.make(kind, options: options).createReadsCurrent
        let initial = try await RotatorRegistry.builtIn.descriptor(kind).initialValue(options, store: store)!
        // Set up with the ordinary timeout: only the rotation is meant to meet the faults and the short one.
        let setUp = RotationEngine(store: AWSSecretStore(client: try Moto.client(endpoint: proxy.url, timeout: .seconds(120))), state: engine.state, rotators: .builtIn,
                                   logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await setUp.createManagedSecret(id, rotator: kind, options: options, initialValue: initial)
        let original = try await setUp.store.getSecretValue(id, .current).versionID

        proxy.inject("DescribeSecret", .throttle, .serverError, .drop)
        if readsCurrent { proxy.inject("GetSecretValue", .drop, .slow(.milliseconds(2500))) }
        proxy.inject("PutSecretValue", .dropAfterForwarding, .serverError, .slow(.milliseconds(2500)))
        proxy.inject("UpdateSecretVersionStage", .dropAfterForwarding, .throttle, .dropAfterForwarding)
        let report = try await engine.rotate(id)

        #expect(report.outcome == .succeeded, "\(report.error.map(String.init(describing:)) ?? "")")
        #expect(proxy.plan.remaining == 0, "\(proxy.plan.calls)")
        let direct = AWSSecretStore(client: try Moto.client())
        let labels = try await direct.describeSecret(id).versionIDsToStages
        #expect(labels == [original: [.previous], report.token: [.current]])
        #expect(try await direct.versionIDs(id) == [original, report.token])
    }
}

actor Events {
    private(set) var all: [AuditEvent] = []
    func append(_ event: AuditEvent) { all.append(event) }
}

extension RotatorKind {
    static let builtInAutomatic: [RotatorKind] = ["random-password", "encryption-key"]
}
