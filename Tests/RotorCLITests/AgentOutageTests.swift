import AsyncHTTPClient
import Foundation
import NIOCore
import RotorTestSupport
import Testing

/// `rotor agent --store aws` against moto behind the fault-injecting proxy: while Secrets Manager is
/// down the cached value is served, then refused past the maximum staleness; the circuit breaker
/// opens (no more calls go upstream) and closes again once Secrets Manager answers.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ROTOR_TEST_MOTO_ENDPOINT"] != nil
                || ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] == "1", "moto_server runs under 'make test'"))
struct AgentOutageTests {
    struct Reader {
        let port: Int
        let token: String

        func get(_ id: String) async throws -> (status: Int, body: String) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/secretsmanager/get?secretId=\(id)")
            request.headers.add(name: "X-Aws-Parameters-Secrets-Token", value: token)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
    }

    @Test func staleValuesAreServedWhileSecretsManagerIsDownThenRefusedAndTheBreakerRecovers() async throws {
        let env = ProcessInfo.processInfo.environment
        let endpoint = try #require(env["ROTOR_TEST_MOTO_ENDPOINT"])
        var cli = try CLI()
        cli.environment = [
            "ROTOR_STORE": "aws", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint, "ROTOR_ATTEMPTS_PER_RUN": "1",
            "AWS_ACCESS_KEY_ID": env["ROTOR_TEST_MOTO_ACCESS_KEY_ID"] ?? "", "AWS_SECRET_ACCESS_KEY": env["ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"] ?? "",
        ]
        let marker = "CANARY-outage-\(UUID().uuidString.prefix(8))"
        let id = "/o\(UUID().uuidString.lowercased().filter(\.isLetter).prefix(10))/shop/api-key/vendor"
        #expect(try await cli.run("secret", "create", id, "--rotator", "manual", "--value-stdin", stdin: marker).status == 0)

        let proxy = try await FaultInjectingProxy(upstream: URL(string: endpoint)!)
        let config = cli.home.appendingPathComponent("agent.toml")
        try "http_port = 0\nttl_seconds = 1\nmax_staleness_seconds = 15\n".write(to: config, atomically: true, encoding: .utf8)
        let token = "agent-token-\(UUID().uuidString)"
        var environment = cli.environment
        environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = proxy.url.absoluteString
        environment["AWS_TOKEN"] = token
        // One attempt per call (AWS_MAX_ATTEMPTS, as the SDKs read it): each failed read is one breaker failure, at once.
        environment["AWS_MAX_ATTEMPTS"] = "1"
        let agent = try DaemonProcess(home: cli.home, command: ["agent", "--config", config.path, "--no-rotation-notices"], environment: environment)
        defer { agent.signal(SIGKILL) }
        let reader = Reader(port: try await agent.port(), token: token)
        // The value cached first (on a loaded machine a first call may time out: read until served).
        // The agent confirmed the value between the successful read's request and its answer.
        var first = (status: 0, body: "")
        var askedAt = Date()
        #expect(try await CLI.eventually(timeout: 90) {
            askedAt = Date()
            first = try await reader.get(id)
            return first.status == 200
        }, "\(first)")
        let confirmedAt = Date()
        #expect(first.status == 200 && first.body.contains(marker))

        proxy.outage(.serverError)
        try await Task.sleep(for: .milliseconds(1200)) // past the TTL
        #expect(try await reader.get(id).status == 200, "the cached value is served while Secrets Manager fails")
        for n in 0..<4 {
            let miss = try await reader.get(id + "-missing-\(n)")
            #expect(miss.status == 503 && miss.body.contains("ServiceUnavailable"), "\(miss.body)")
        }
        // Five consecutive failed calls opened the breaker: reads no longer reach Secrets Manager, and
        // the cached value is still served (checked only while within the maximum staleness, which a
        // loaded machine may already have passed).
        let callsWhileOpen = proxy.plan.calls.count
        let served = try await reader.get(id)
        if Date().timeIntervalSince(askedAt) < 14 { #expect(served.status == 200, "\(served.body)") }
        // While open, misses are answered without a call; only the breaker's half-open probes (a few,
        // their cool-down growing) reach Secrets Manager, however slow this machine is.
        var rejected = 0
        for n in 0..<10 {
            let miss = try await reader.get(id + "-open-\(n)")
            if miss.status == 503, miss.body.contains("CircuitOpen") { rejected += 1 }
        }
        #expect(rejected >= 5, "misses answered by the open breaker: \(rejected) of 10")
        #expect(proxy.plan.calls.count - callsWhileOpen <= 5)

        // Past the maximum staleness since the value was last confirmed.
        try await Task.sleep(for: .seconds(max(0, confirmedAt.addingTimeInterval(15.5).timeIntervalSinceNow)))
        let stale = try await reader.get(id)
        #expect(stale.status == 503 && stale.body.contains("StaleValue") && !stale.body.contains(marker))

        proxy.outage(nil)
        #expect(try await CLI.eventually(timeout: 90) { try await reader.get(id).status == 200 }, "the breaker's probe succeeds and it closes")
        let metrics = try await agentMetrics(reader)
        #expect(metrics.contains(#"rotor_secrets_reads_total{result="stale"} "#) && metrics.contains(#"outcome="CircuitOpen""#))
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
        #expect(!agent.output.contains(marker) && !agent.output.contains(token) && !metrics.contains(marker))
        try await proxy.close()
    }

    func agentMetrics(_ reader: Reader) async throws -> String {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(reader.port)/metrics")
        request.headers.add(name: "X-Aws-Parameters-Secrets-Token", value: reader.token)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 1 << 20))
    }
}
