import AsyncHTTPClient
import Foundation
import NIOCore
import RotorTestSupport
import Testing

/// `rotor agent` as a real process over HTTP on loopback, reading the embedded store.
@Suite struct AgentCLITests {
    @Test func theAgentNeedsATokenThenServesTheStoresSecrets() async throws {
        let cli = try CLI()
        let id = "/prod/shop/api-key/vendor"
        #expect(try await cli.run(["secret", "create", id, "--rotator", "manual", "--value-stdin"], stdin: Data("CANARY-agent-value-1".utf8)).status == 0)
        let refused = try await cli.run(["agent"], extraEnvironment: ["AWS_TOKEN": "", "AWS_SESSION_TOKEN": "", "AWS_CONTAINER_AUTHORIZATION_TOKEN": ""])
        #expect(refused.status == 64 && refused.stderr.contains("no SSRF token"))

        let config = cli.home.appendingPathComponent("agent.toml")
        try "http_port = 0\nttl_seconds = 60\n".write(to: config, atomically: true, encoding: .utf8)
        let token = "agent-token-\(UUID().uuidString)"
        let agent = try DaemonProcess(home: cli.home, command: ["agent", "--config", config.path, "--emf"], environment: ["AWS_TOKEN": token])
        defer { agent.signal(SIGTERM) }
        let port = try await agent.port()
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/secretsmanager/get?secretId=\(id)")
        request.headers.add(name: "X-Aws-Parameters-Secrets-Token", value: token)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        #expect(response.status.code == 200 && body.contains("\"SecretString\":\"CANARY-agent-value-1\""))
        let denied = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1\(id)"), timeout: .seconds(10))
        #expect(denied.status.code == 403)
        // A page that rebound its DNS name to 127.0.0.1 sends its own Host.
        var rebound = request
        rebound.headers.replaceOrAdd(name: "Host", value: "attacker.example:\(port)")
        let refusedHost = try await HTTPClient.shared.execute(rebound, timeout: .seconds(10))
        let hostBody = String(buffer: try await refusedHost.body.collect(upTo: 1024))
        #expect(refusedHost.status.code == 400 && hostBody == "Bad Host")

        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
        #expect(!agent.output.contains("CANARY") && !agent.output.contains(token))
        // --emf: at exit, CloudWatch metrics; the secret is a property, not a dimension.
        let documents = EMFSpec.documents(in: agent.output.split(separator: "\n"))
        #expect(!documents.isEmpty && documents.allSatisfy { EMFSpec.violations($0).isEmpty }, "\(documents.flatMap(EMFSpec.violations))")
        #expect(documents.contains { $0["SecretsRetrievals"] as? Double == 1 && $0["secret"] as? String == id && $0["component"] as? String == "agent" })
        #expect(documents.contains { $0["SecretsReads"] != nil && $0["result"] as? String == "miss" })
    }

    /// Rotation-aware refresh: `rotor rotate` tells the registered agent, which serves the new value
    /// at once although its TTL is five minutes; at exit the agent's registration goes.
    @Test func aRotationByTheCLIIsServedBeforeTheTTL() async throws {
        let cli = try CLI()
        let id = "/prod/shop/db-password/app"
        #expect(try await cli.run(["secret", "create", id, "--rotator", "random-password"]).status == 0)
        let config = cli.home.appendingPathComponent("agent.toml")
        try "http_port = 0\nttl_seconds = 300\n".write(to: config, atomically: true, encoding: .utf8)
        let token = "agent-token-\(UUID().uuidString)"
        let agent = try DaemonProcess(home: cli.home, command: ["agent", "--config", config.path], environment: ["AWS_TOKEN": token])
        defer { agent.signal(SIGTERM) }
        let port = try await agent.port()
        let read = { () async throws -> String in
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/secretsmanager/get?secretId=\(id)")
            request.headers.add(name: "X-Aws-Parameters-Secrets-Token", value: token)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            let json = try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any]
            return json?["VersionId"] as? String ?? ""
        }
        let before = try await read()
        let agents = cli.home.appendingPathComponent("agents")
        #expect(try FileManager.default.contentsOfDirectory(atPath: agents.path).count == 1)
        let rotated = try await cli.run(["rotate", id])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let after = try await read()
        #expect(!after.isEmpty && after != before)
        // An emergency rollback reaches the agent the same way.
        let rolledBack = try await cli.run(["rollback", id])
        #expect(rolledBack.status == 0, "\(rolledBack.stderr)")
        #expect(try await read() == before)

        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: agents.path).isEmpty)
        #expect(!agent.output.contains(token))
    }

    /// The layer's `extensions/rotor-agent` (beside `bin/rotor`, as `make lambda` lays it out) against
    /// an Extensions API emulator: it listens before it registers under its file name, serves with
    /// AWS_SESSION_TOKEN as the token, keeps waiting through INVOKEs and exits cleanly on SHUTDOWN;
    /// SECRETS_MANAGER_TTL above 300 is clamped as AWS's extension does.
    @Test func asALambdaExtensionItRegistersServesAndShutsDown() async throws {
        let cli = try CLI()
        let id = "/prod/shop/api-key/vendor"
        #expect(try await cli.run(["secret", "create", id, "--rotator", "manual", "--value-stdin"], stdin: Data("CANARY-extension-value".utf8)).status == 0)
        let emulator = try await ExtensionsEmulator()
        let session = "session-token-\(UUID().uuidString)"
        let layer = try Self.layer(in: cli.home)
        let agent = try DaemonProcess(home: cli.home, command: [], environment: [
            "AWS_LAMBDA_RUNTIME_API": emulator.address, "AWS_SESSION_TOKEN": session, "AWS_TOKEN": "", "ROTOR_STORE": "embedded",
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "0", "SECRETS_MANAGER_TTL": "900",
        ], executable: layer.appendingPathComponent("extensions/rotor-agent"))
        defer { agent.signal(SIGKILL) }
        let port = try await agent.port()
        #expect(try await CLI.eventually(timeout: 90) { emulator.nextCalls == 1 })
        #expect(emulator.registered == ["rotor-agent"])
        emulator.send(ExtensionsEmulator.invoke("request-1"))
        #expect(try await CLI.eventually(timeout: 90) { emulator.nextCalls == 2 })
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/secretsmanager/get?secretId=\(id)")
        request.headers.add(name: "X-Aws-Parameters-Secrets-Token", value: session)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        #expect(response.status.code == 200 && body.contains("CANARY-extension-value"))

        emulator.send(ExtensionsEmulator.shutdown)
        #expect(try await agent.waitForExit(timeout: 2) == 0) // Lambda's shutdown budget with an external extension
        #expect(emulator.refusals.isEmpty)
        #expect(agent.output.contains("SECRETS_MANAGER_TTL exceeds the maximum of 300 s"))
        #expect(!agent.output.contains("CANARY") && !agent.output.contains(session))
        try await emulator.close()
    }

    /// `make lambda`'s layer layout, with the debug binary as bin/rotor.
    static func layer(in home: URL) throws -> URL {
        let layer = home.appendingPathComponent("layer")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        try FileManager.default.createDirectory(at: layer.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: layer.appendingPathComponent("extensions"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: layer.appendingPathComponent("bin/rotor"), withDestinationURL: CLI.binary)
        try FileManager.default.copyItem(at: root.appendingPathComponent("examples/lambda-extension/extensions/rotor-agent"),
                                        to: layer.appendingPathComponent("extensions/rotor-agent"))
        return layer
    }

    @Test func outsideLambdaTheExtensionModeRefusesToStart() async throws {
        let cli = try CLI()
        let result = try await cli.run(["agent", "--lambda-extension"], extraEnvironment: ["AWS_LAMBDA_RUNTIME_API": "", "AWS_SESSION_TOKEN": "t"])
        #expect(result.status == 64 && result.stderr.contains("AWS_LAMBDA_RUNTIME_API is not set"))
        let bad = try await cli.run(["agent", "--lambda-extension"], extraEnvironment: [
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "AWS_SESSION_TOKEN": "t", "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE": "5000",
        ])
        #expect(bad.status == 64 && bad.stderr.contains("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE must be a whole number from 0 to 1000"))
    }
}
