import Foundation
import NIOSSL
import Synchronization
import Testing
import RotorCore
import RotorHTTP
import RotorRotators
import RotorTestSupport

/// The testSecret probe on the `manual` rotator (the Claude key), against a loopback HTTPS stand-in
/// of Anthropic's `GET /v1/models` with its own CA: it requires `x-api-key` and `anthropic-version`,
/// answers 401 `authentication_error` in Anthropic's envelope for an unknown or disabled key, and
/// 429/529 when scripted.
@Suite struct ProbeTests {
    let id = try! SecretID("/prod/claude-sdk/api-key/anthropic-key")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-probe-\(UUID().uuidString)")
    let oldKey = "sk-ant-api03-" + GitHubStandIn.randomText(40) + "AA"
    let newKey = "sk-ant-api03-" + GitHubStandIn.randomText(40) + "AA"

    func setUp(previousMustFail: Bool = false) async throws -> (GitHubKit, AnthropicStandIn, LoopbackHTTPServer) {
        let anthropic = try await AnthropicStandIn(directory: directory)
        anthropic.active.withLock { $0 = [oldKey] }
        let server: LoopbackHTTPServer = anthropic.server
        let kit = GitHubKit(builtIns: true)
        try await kit.engine.createManagedSecret(id, rotator: "manual", options: RotatorOptions([
            "field": "apiKey", "probe-url": server.url.absoluteString + "/v1/models?limit=1", "probe-header.x-api-key": "{field:apiKey}",
            "probe-header.anthropic-version": "2023-06-01", "probe-ca-file": anthropic.caFile, "probe-previous-must-fail": "\(previousMustFail)",
        ]), initialValue: SecretValue(string: #"{"apiKey":"\#(oldKey)","model":"claude"}"#))
        return (kit, anthropic, server)
    }

    @Test func aKeyTheServiceAcceptsIsPromoted() async throws {
        let (kit, anthropic, server) = try await setUp()
        defer { Task { try? await server.close() } }
        anthropic.active.withLock { _ = $0.insert(newKey) }
        let report = try await kit.engine.rotate(id, suppliedValue: SecretValue(string: newKey))
        #expect(report.outcome == .succeeded, "\(String(describing: report.error))")
        #expect(try await kit.current(id)["apiKey"] as? String == newKey)
        await kit.expectNoneOf([oldKey, newKey], in: report)
    }

    @Test func aKeyTheServiceRefusesIsRolledBack() async throws {
        let (kit, _, server) = try await setUp()
        defer { Task { try? await server.close() } }
        let report = try await kit.engine.rotate(id, suppliedValue: SecretValue(string: newKey))
        #expect(report.outcome == .rolledBack && GitHubKit.trace(report).contains("testSecret failed") && GitHubKit.trace(report).contains("HTTP 401"))
        #expect(try await kit.current(id)["apiKey"] as? String == oldKey)
        await kit.expectNoneOf([oldKey, newKey], in: report)
    }

    @Test(arguments: [429, 529, 503])
    func anOverloadedServiceIsTransient(status: Int) async throws {
        let (kit, anthropic, server) = try await setUp()
        defer { Task { try? await server.close() } }
        anthropic.active.withLock { _ = $0.insert(newKey) }
        anthropic.scripted.withLock { $0 = [status, status] }
        let report = try await kit.engine.rotate(id, suppliedValue: SecretValue(string: newKey))
        #expect(report.outcome != .succeeded && GitHubKit.trace(report).contains("could not decide"))
    }

    @Test func thePreviousKeyMustBeDisabledOrRotorWarns() async throws {
        let (kit, anthropic, server) = try await setUp(previousMustFail: true)
        defer { Task { try? await server.close() } }
        anthropic.active.withLock { _ = $0.insert(newKey) }
        #expect(try await kit.engine.rotate(id, suppliedValue: SecretValue(string: newKey)).outcome == .succeeded)
        #expect(kit.logs.all.contains { $0.contains("still works") })
        let audit = try await kit.engine.state.auditEvents(of: id, limit: 10)
        #expect(audit.contains { $0.operation == "probe.previous" && $0.outcome == "still-active" })

        // Once the old key is disabled at the service, the next rotation's check says so.
        anthropic.active.withLock { $0 = [oldKey] }
        #expect(try await kit.engine.rotate(id, suppliedValue: SecretValue(string: oldKey)).outcome == .succeeded)
        let later = try await kit.engine.state.auditEvents(of: id, limit: 10)
        #expect(later.contains { $0.operation == "probe.previous" && $0.outcome == "refused" })
    }

    @Test func aValueWithALineBreakIsRefusedWithoutShowingIt() async throws {
        let (kit, anthropic, server) = try await setUp()
        defer { Task { try? await server.close() } }
        let smuggled = newKey + "\r\nx-admin: yes"
        anthropic.active.withLock { _ = $0.insert(newKey) }
        let report = try await kit.engine.rotate(id, suppliedValue: SecretValue(string: smuggled))
        #expect(report.outcome == .rolledBack && GitHubKit.trace(report).contains("control character"))
        await kit.expectNoneOf([newKey, oldKey], in: report)
    }

    @Test func aProbeThatCouldChangeSomethingIsRefused() {
        let kit = GitHubKit(builtIns: true)
        for options in [["probe-method": "DELETE"], ["probe-header.host": "evil.example"], ["probe-header.content-length": "0"]] {
            #expect(throws: RotorError.self) {
                try kit.engine.rotators.make("manual", options: RotatorOptions(options.merging(["probe-url": "https://api.example.com/v1/models", "probe-header.x-api-key": "{value}"]) { a, _ in a }))
            }
        }
    }

    @Test func anUntrustedCertificateOrPlainHTTPToARemoteHostIsRefused() async throws {
        let kit = GitHubKit(builtIns: true)
        let error = #expect(throws: RotorError.self) {
            try kit.engine.rotators.make("manual", options: RotatorOptions(["probe-url": "http://api.anthropic.com/v1/models", "probe-header.x-api-key": "{value}"]))
        }
        #expect(error?.remedy?.contains("https") == true)
        #expect(throws: RotorError.self) { try kit.engine.rotators.make("manual", options: RotatorOptions(["probe-url": "https://api.anthropic.com/v1/models"])) }
        #expect(throws: RotorError.self) { try kit.engine.rotators.make("manual", options: RotatorOptions(["probe-header.x-api-key": "{value}"])) }
        #expect(throws: RotorError.self) {
            try kit.engine.rotators.make("manual", options: RotatorOptions(["probe-url": "https://api.anthropic.com/v1/models?key={value}", "probe-header.a": "{value}"]))
        }
        #expect(!OutboundURL.isLoopback("127.0.0.1.example.com") && OutboundURL.isLoopback("127.8.9.10") && OutboundURL.isLoopback("[::1]"))

        // The stand-in's certificate without its CA file: TLS refuses, the attempt is transient.
        let (probeKit, anthropic, server) = try await setUp()
        defer { Task { try? await server.close() } }
        anthropic.active.withLock { _ = $0.insert(newKey) }
        let managed = try #require(try await probeKit.engine.state.managedSecret(id))
        var options = managed.options.values
        options.removeValue(forKey: "probe-ca-file")
        let rotator = try probeKit.engine.rotators.make("manual", options: RotatorOptions(options))
        let context = RotationContext(secret: id, token: "aaaaaaaa-0000-4000-8000-000000000009", store: probeKit.store, logger: probeKit.logs.logger, now: Date())
        await #expect(throws: RotorError.self) {
            _ = try await rotator.testSecret(TestSecretRequest(pending: SecretValue(string: #"{"apiKey":"\#(newKey)"}"#)), context: context)
        }
    }

    /// A probe that only checks the previous value tells the key's system nothing: the guard against
    /// fake rotations still refuses a generated value over an Anthropic key.
    @Test func aProbeDoesNotSwitchTheGuardOff() async throws {
        let kit = GitHubKit(builtIns: true)
        await #expect(throws: RotorError.self) {
            try await kit.engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions([
                "field": "apiKey", "probe-url": "https://api.anthropic.com/v1/models", "probe-header.x-api-key": "{field:apiKey}",
                "probe-previous-must-fail": "true",
            ]), initialValue: SecretValue(string: #"{"apiKey":"\#(oldKey)"}"#))
        }
    }
}
