import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOSSL
import Synchronization
import Testing
import RotorCore
import RotorPlugins
import RotorRotators
import RotorTestSupport

/// The webhook rotator against a loopback HTTPS receiver that does what the Standard Webhooks
/// specification asks of one: it verifies the signature (its own HMAC code, not rotor's), refuses a
/// timestamp more than 5 minutes off and a message id it has seen, and keeps a "target" password.
@Suite struct WebhookTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-webhook-\(UUID().uuidString)")
    let id = try! SecretID("/prod/shop/api-key/vendor")
    let keyID = try! SecretID("/prod/shop/signing-key/webhook")
    static let signingKey = "whsec_" + Data((0..<32).map { UInt8($0 * 7 % 251) }).base64EncodedString()

    /// A receiver's state: the password its system accepts, the ids it has seen, what it refused.
    final class Receiver: Sendable {
        let state = Mutex<(target: String?, seen: Set<String>, refused: [String], requests: [LoopbackHTTPServer.Request])>((nil, [], [], []))
        let key: [UInt8]
        init(key encoded: String) { key = Array(Data(base64Encoded: String(encoded.dropFirst(6)))!) }

        func handle(_ request: LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Reply {
            state.withLock { $0.requests.append(request) }
            let headers = request.head.headers
            guard let msgID = headers.first(name: "webhook-id"), let stamp = headers.first(name: "webhook-timestamp"), let time = Int(stamp),
                  let signature = headers.first(name: "webhook-signature") else { return refuse("missing headers", 400) }
            guard abs(Int(Date().timeIntervalSince1970) - time) <= 300 else { return refuse("timestamp outside tolerance", 401) }
            let expected = HMAC<SHA256>.authenticationCode(for: Array("\(msgID).\(stamp).".utf8) + request.body, using: SymmetricKey(data: key))
            let valid = signature.split(separator: " ").contains { $0 == "v1," + Data(expected).base64EncodedString() }
            guard valid else { return refuse("bad signature", 401) }
            guard state.withLock({ $0.seen.insert(msgID).inserted }) else { return refuse("replayed message id", 409) }
            guard let message = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any], let step = message["step"] as? String else {
                return refuse("not a rotor.rotator/v1 request", 400)
            }
            let pending = (message["pending"] as? [String: Any])?["string"] as? String
            let current = (message["current"] as? [String: Any])?["string"] as? String
            switch step {
            case "createSecret": return ok(#"{"value": {"string": "hook-\#(UUID().uuidString.lowercased())"}}"#)
            case "setSecret": state.withLock { $0.target = pending }
            case "testSecret": if state.withLock({ $0.target }) != pending { return ok(#"{"error": {"kind": "permanent", "message": "not accepted"}}"#, 422) }
            case "rollback": state.withLock { $0.target = current }
            default: break
            }
            return ok("{}")
        }

        private func refuse(_ why: String, _ status: Int) -> LoopbackHTTPServer.Reply {
            state.withLock { $0.refused.append(why) }
            return .respond(status: status, headers: [], body: Array(#"{"error": {"kind": "permanent", "message": "\#(why)"}}"#.utf8))
        }

        private func ok(_ json: String, _ status: Int = 200) -> LoopbackHTTPServer.Reply {
            .respond(status: status, headers: [("Content-Type", "application/json")], body: Array(json.utf8))
        }
    }

    /// A self-signed certificate for 127.0.0.1; it is also the CA file rotor trusts.
    func certificate() async throws -> (cert: String, key: String) {
        let made = try await SelfSignedCertificate.make(in: directory)
        return (made.certificatePath, made.keyPath)
    }

    func serve(_ receiver: Receiver) async throws -> (LoopbackHTTPServer, String) {
        let (cert, key) = try await certificate()
        let tls = try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))))
        return (try await LoopbackHTTPServer(tls: tls) { request in receiver.handle(request) }, cert)
    }

    func engine(signingKey: String = Self.signingKey) async throws -> RotationEngine {
        var registry = RotatorRegistry.builtIn
        try await PluginCatalog(directories: [], processEnvironment: [:]).register(into: &registry)
        let store = InMemorySecretStore()
        _ = try await store.createSecret(CreateSecretInput(id: keyID, initialValue: SecretValue(string: signingKey)))
        return RotationEngine(store: store, state: InMemoryStateStore(), rotators: registry,
                              configuration: EngineConfiguration(retry: RetryPolicy(attemptsPerRun: 2, initialBackoff: .milliseconds(1), maximumBackoff: .milliseconds(1))))
    }

    func manage(_ engine: RotationEngine, url: URL, ca: String) async throws {
        try await engine.createManagedSecret(id, rotator: "webhook", options: RotatorOptions([
            "url": url.absoluteString, "signing-key-secret": keyID.rawValue, "ca-file": ca,
        ]), initialValue: SecretValue(string: "first-password"))
    }

    @Test func aRotationThroughASignedWebhookAppliesTheValueOnTheReceiver() async throws {
        let receiver = Receiver(key: Self.signingKey)
        let (server, ca) = try await serve(receiver)
        defer { Task { try? await server.close() } }
        let engine = try await engine()
        try await manage(engine, url: server.url, ca: ca)
        let report = try await engine.rotate(id)
        #expect(report.outcome == .succeeded, "\(String(describing: report.error)) \(receiver.state.withLock { $0.refused })")
        let current = try await engine.store.getSecretValue(id, .current).value.exposedString
        #expect(receiver.state.withLock { $0.target } == current && receiver.state.withLock { $0.refused }.isEmpty)
    }

    @Test func aReceiverRefusesAReplayedOrTamperedRequest() async throws {
        let receiver = Receiver(key: Self.signingKey)
        let (server, ca) = try await serve(receiver)
        defer { Task { try? await server.close() } }
        let engine = try await engine()
        try await manage(engine, url: server.url, ca: ca)
        #expect(try await engine.rotate(id).outcome == .succeeded)
        let captured = try #require(receiver.state.withLock { $0.requests.first })

        let headers = captured.head.headers.filter { $0.name.lowercased().hasPrefix("webhook-") }.map { ($0.name, $0.value) }
        let replayed = try await Self.post(captured.body, headers: headers, to: server.url, ca: ca)
        var tampered = captured.body
        tampered[tampered.count / 2] ^= 0x01
        let altered = try await Self.post(tampered, headers: headers, to: server.url, ca: ca)
        #expect(replayed == 409 && altered == 401)
        #expect(receiver.state.withLock { $0.refused } == ["replayed message id", "bad signature"])
    }

    /// A batch rotates the signing key's secret before the secrets whose plug-in requests it signs.
    @Test func theWebhookRotatorUsesItsSigningKeySecret() async throws {
        var registry = RotatorRegistry.builtIn
        try await PluginCatalog(directories: [], processEnvironment: [:]).register(into: &registry)
        let rotator = try registry.make("webhook", options: RotatorOptions(["url": "https://hooks.example.com/rotate", "signing-key-secret": keyID.rawValue]))
        let used = try await rotator.secretsUsed(of: try SecretID("/prod/vendor/api-key/partner")) { throw RotorError(.invalidInput, "the value is not read") }
        #expect(used.map(\.secret) == [keyID.rawValue])
    }

    /// `rotor plugin check webhook`: the signing key is seeded into each scratch store.
    @Test func theConformanceCheckPassesForAWebhookWithItsSigningKeySeeded() async throws {
        let receiver = Receiver(key: Self.signingKey)
        let (server, ca) = try await serve(receiver)
        defer { Task { try? await server.close() } }
        var registry = RotatorRegistry.builtIn
        try await PluginCatalog(directories: [], processEnvironment: [:]).register(into: &registry)
        let checks = await PluginConformance(
            kind: "webhook", options: RotatorOptions(["url": server.url.absoluteString, "signing-key-secret": keyID.rawValue, "ca-file": ca]),
            initialValue: SecretValue(string: "first-password"), rotators: registry, seeds: [keyID: SecretValue(string: Self.signingKey)],
            stores: { (InMemorySecretStore(), InMemoryStateStore()) }
        ).run()
        #expect(checks.count == 6 && checks.allSatisfy(\.passed), "\(checks.map { "\($0.name): \($0.detail)" })")
        #expect(receiver.state.withLock { $0.refused }.isEmpty)
    }

    @Test func aWrongSigningKeyIsAPermanentFailureAndRollsBack() async throws {
        let receiver = Receiver(key: Self.signingKey)
        let (server, ca) = try await serve(receiver)
        defer { Task { try? await server.close() } }
        let engine = try await engine(signingKey: "whsec_" + Data(repeating: 1, count: 32).base64EncodedString())
        try await manage(engine, url: server.url, ca: ca)
        let report = try await engine.rotate(id)
        #expect(report.outcome == .rolledBack && report.error?.summary.contains("HTTP 401") == true, "\(String(describing: report.error))")
        #expect(report.steps.first?.attempts == 1, "4xx is not retried")
    }

    @Test func anUntrustedCertificateIsRefused() async throws {
        let receiver = Receiver(key: Self.signingKey)
        let (server, _) = try await serve(receiver)
        defer { Task { try? await server.close() } }
        let engine = try await engine()
        try await engine.createManagedSecret(id, rotator: "webhook", options: RotatorOptions([
            "url": server.url.absoluteString, "signing-key-secret": keyID.rawValue,
        ]), initialValue: SecretValue(string: "first-password"))
        let report = try await engine.rotate(id)
        #expect(!report.succeeded && receiver.state.withLock { $0.requests }.isEmpty, "nothing reaches a receiver rotor cannot verify")
    }

    /// A 5xx answer and a receiver that never answers are transient: the step is tried the run's
    /// number of times, waiting the engine's backoff between attempts (recorded by the test clock,
    /// jitter fixed at 0.5: 3/4 of 1 s, then of 2 s), then the rotation rolls back.
    @Test(arguments: ["503", "never answers"])
    func aServerErrorOrATimeoutIsTransientAndRetriedWithTheEnginesBackoff(failure: String) async throws {
        let arrivals = Mutex<[ContinuousClock.Instant]>([])
        let (cert, key) = try await certificate()
        let tls = try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))))
        let server = try await LoopbackHTTPServer(tls: tls) { _ in
            arrivals.withLock { $0.append(.now) }
            if failure == "503" {
                // No error object: the status alone says transient.
                return .respond(status: 503, headers: [], body: [])
            }
            try? await Task.sleep(for: .seconds(300))
            return .drop
        }
        defer { Task { try? await server.close() } }
        var registry = RotatorRegistry.builtIn
        try await PluginCatalog(directories: [], processEnvironment: [:]).register(into: &registry)
        let store = InMemorySecretStore()
        _ = try await store.createSecret(CreateSecretInput(id: keyID, initialValue: SecretValue(string: Self.signingKey)))
        let clock = TestClock()
        let engine = RotationEngine(
            store: store, state: InMemoryStateStore(), rotators: registry, clock: clock,
            configuration: EngineConfiguration(retry: RetryPolicy(attemptsPerRun: 3, initialBackoff: .seconds(1), maximumBackoff: .seconds(2))),
            jitter: { 0.5 })
        try await engine.createManagedSecret(id, rotator: "webhook", options: RotatorOptions([
            // The receiver that never answers meets the timeout (4 s: long enough for the TLS handshake of every
            // attempt to complete on a loaded machine, so each attempt arrives); the 503 gets time to arrive.
            "url": server.url.absoluteString, "signing-key-secret": keyID.rawValue, "ca-file": cert, "timeout": failure == "503" ? "20" : "4",
        ]), initialValue: SecretValue(string: "first-password"))
        let report = try await engine.rotate(id)
        let create = report.steps.first { $0.step == .createSecret }
        #expect(create?.attempts == 3 && create?.outcome == .failed, "\(failure): \(String(describing: create))")
        let unchanged = try await engine.store.getSecretValue(id, .current).value.exposedString == "first-password"
        #expect(report.outcome == .rolledBack && unchanged)
        let reason = failure == "503" ? "failed createSecret (HTTP 503" : "did not answer createSecret"
        #expect(create?.note?.contains(reason) == true, "\(String(describing: create?.note))")
        #expect(clock.sleeps == [.milliseconds(750), .milliseconds(1500)], "the engine's backoff between the 3 attempts: \(clock.sleeps)")
        let times = arrivals.withLock { $0 }
        #expect(times.count == 3, "each attempt reached the receiver once")
        if failure != "503" {
            // Each attempt gave up at the webhook's 4 s timeout (plus the client's TLS close), far
            // from the receiver's 300 s and from the engine's own step timeout (48 s).
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            #expect(gaps.allSatisfy { $0 < .seconds(20) }, "\(gaps)")
        }
    }

    /// What the docs ask of a receiver: a correctly signed request whose webhook-timestamp is more
    /// than 5 minutes off (either way) is refused; the same message freshly stamped is accepted.
    @Test func aReceiverRefusesATimestampOutsideItsTolerance() async throws {
        let receiver = Receiver(key: Self.signingKey)
        let (server, ca) = try await serve(receiver)
        defer { Task { try? await server.close() } }
        let engine = try await engine()
        try await manage(engine, url: server.url, ca: ca)
        #expect(try await engine.rotate(id).outcome == .succeeded)
        let captured = try #require(receiver.state.withLock { $0.requests.first })

        let key = SymmetricKey(data: Data(base64Encoded: String(Self.signingKey.dropFirst(6)))!)
        /// The captured body under a new message id, signed (correctly) for `timestamp`.
        func send(at timestamp: Int) async throws -> Int {
            let messageID = "msg_" + UUID().uuidString.lowercased()
            let signature = HMAC<SHA256>.authenticationCode(for: Array("\(messageID).\(timestamp).".utf8) + captured.body, using: key)
            return try await Self.post(captured.body, headers: [
                ("webhook-id", messageID), ("webhook-timestamp", "\(timestamp)"), ("webhook-signature", "v1," + Data(signature).base64EncodedString()),
            ], to: server.url, ca: ca)
        }
        let now = Int(Date().timeIntervalSince1970)
        let stale = try await send(at: now - 301)
        let future = try await send(at: now + 400)
        let fresh = try await send(at: now)
        #expect(stale == 401 && future == 401 && fresh == 200, "\(stale) \(future) \(fresh)")
        #expect(receiver.state.withLock { $0.refused } == ["timestamp outside tolerance", "timestamp outside tolerance"])
    }

    /// POSTs `body` with `headers` to the receiver over TLS that trusts `ca`; the answer's status.
    static func post(_ body: [UInt8], headers: [(String, String)], to url: URL, ca: String) async throws -> Int {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ca)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: HTTPClient.Configuration(tlsConfiguration: tls))
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let status = Int(try await client.execute(request, timeout: .seconds(10)).status.code)
            try await client.shutdown()
            return status
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    @Test func plainHTTPIsOnlyForLoopback() async throws {
        let engine = try await engine()
        #expect(throws: RotorError.self) {
            try engine.rotators.make("webhook", options: RotatorOptions(["url": "http://hooks.example.com/rotate", "signing-key-secret": keyID.rawValue]))
        }
        #expect(throws: Never.self) {
            try engine.rotators.make("webhook", options: RotatorOptions(["url": "http://127.0.0.1:9/rotate", "signing-key-secret": keyID.rawValue]))
        }
    }
}
