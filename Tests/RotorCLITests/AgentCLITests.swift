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
        let agent = try DaemonProcess(home: cli.home, command: ["agent", "--config", config.path], environment: ["AWS_TOKEN": token])
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
    }
}
