import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import RotorTestSupport
import Synchronization
import Testing

/// Agents report reads to the daemon, which keeps each secret's last read and alerts on suspicious
/// access: another service's secret without a grant, another environment's secret, and too many
/// access-denied reads. Real processes over real HTTP on loopback.
@Suite struct SuspiciousAccessTests {
    static let policies = """
        policies:
          - name: shop
            match: [/prod/shop/api-key/*]
            rotator: random-password
            every: 30d
          - name: payments
            match: [/prod/payments/api-key/*]
            rotator: random-password
            every: 30d
            readers: [shop]
          - name: billing
            match: [/prod/billing/api-key/*, /staging/shop/api-key/*]
            rotator: random-password
            every: 30d
        """

    @Test func agentReportsFeedLastAccessAndSuspiciousAccessAlerts() async throws {
        let cli = try CLI()
        let (own, granted, other, staging) = ("/prod/shop/api-key/k", "/prod/payments/api-key/p", "/prod/billing/api-key/b", "/staging/shop/api-key/s")
        for id in [own, granted, other, staging] { #expect(try await cli.run("secret", "create", id, "--rotator", "random-password").status == 0) }
        let received = Mutex<[String]>([])
        let webhook = try await LoopbackHTTPServer { request in
            received.withLock { $0.append(String(decoding: request.body, as: UTF8.self)) }
            return .respond(status: 204, headers: [], body: [])
        }
        defer { Task { try? await webhook.close() } }
        let apiToken = "api-token-\(UUID().uuidString)"
        // The agent's own token, which can only report shop@prod's reads; the daemon keeps its hash.
        let reportToken = "report-token-\(UUID().uuidString)"
        let tokens = cli.home.appendingPathComponent("report-tokens")
        try "# agents\nshop@prod \(Self.sha256(reportToken))\n".write(to: tokens, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(home: cli.home, policies: try cli.policies(Self.policies), token: apiToken,
                                       extraArguments: ["--webhook", webhook.url.absoluteString, "--access-denied-threshold", "2", "--report-tokens", tokens.path])
        defer { daemon.signal(SIGTERM) }
        let daemonPort = try await daemon.port()

        // Bad reports change nothing: no token, not JSON, a future time.
        #expect(try await Self.post(daemonPort, token: nil, #"{"reader":{"service":"shop","environment":"prod"},"reads":[]}"#) == 401)
        #expect(try await Self.post(daemonPort, token: apiToken, "not json") == 400)
        let future = Date().timeIntervalSince1970 + 3600
        #expect(try await Self.post(daemonPort, token: apiToken,
                                    #"{"reader":{"service":"shop","environment":"prod"},"reads":[{"secret":"\#(own)","reads":1,"denied":0,"first":1,"last":\#(future)}]}"#) == 400)
        let now = Date().timeIntervalSince1970
        #expect(try await Self.post(daemonPort, token: apiToken,
                                    #"{"reader":{"service":"shop","environment":"prod"},"reads":[{"secret":"\#(own)","reads":9223372036854775807,"denied":1,"first":\#(now),"last":\#(now)}]}"#) == 400)
        // A report token reports for its own reader only, and opens nothing else.
        #expect(try await Self.post(daemonPort, token: reportToken,
                                    #"{"reader":{"service":"billing","environment":"prod"},"reads":[{"secret":"\#(other)","reads":1,"denied":0,"first":\#(now),"last":\#(now)}]}"#) == 403)
        #expect(try await daemon.get("/api/observability/secrets", token: reportToken).status == 401)
        #expect(try await Self.post(daemonPort, token: "not-listed", #"{"reader":{"service":"shop","environment":"prod"},"reads":[]}"#) == 401)

        // An agent of shop@prod reads its own secret, a granted one, another service's and another environment's.
        let agentHome = cli.home
        let config = agentHome.appendingPathComponent("agent.toml")
        try "http_port = 0\n".write(to: config, atomically: true, encoding: .utf8)
        let ssrf = "agent-token-\(UUID().uuidString)"
        let agent = try DaemonProcess(home: agentHome, command: ["agent", "--config", config.path, "--report-to", "http://127.0.0.1:\(daemonPort)", "--service", "shop@prod"],
                                      environment: ["AWS_TOKEN": ssrf, "ROTOR_REPORT_TOKEN": reportToken])
        defer { agent.signal(SIGTERM) }
        let agentPort = try await agent.port()
        for id in [own, own, granted, other, staging] {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(agentPort)/secretsmanager/get?secretId=\(id)")
            request.headers.add(name: "X-Aws-Parameters-Secrets-Token", value: ssrf)
            #expect(try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status.code == 200)
        }
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0, "\(agent.output)")

        // The daemon knows the last reads and alerted on exactly the two suspicious ones.
        let secrets = try await daemon.json("/api/observability/secrets")["secrets"] as? [[String: Any]] ?? []
        let reads = Dictionary(uniqueKeysWithValues: secrets.compactMap { item in (item["id"] as? String).map { ($0, item["lastAccessBy"] as? String) } })
        #expect(reads[own] == "shop@prod" && reads[other] == "shop@prod", "\(secrets)")
        #expect(try await CLI.eventually(timeout: 90) { received.withLock { $0 }.filter { $0.contains("access.suspicious") }.count == 2 }, "\(received.withLock { $0 })")
        let alerts = received.withLock { $0 }.filter { $0.contains("access.suspicious") }
        #expect(alerts.contains { $0.contains("cross-service") && $0.contains(other) && $0.contains("shop@prod") })
        #expect(alerts.contains { $0.contains("cross-environment") && $0.contains(staging) })
        #expect(!alerts.contains { $0.contains(granted) || $0.contains("\"secret\":\"\(own)\"") })

        // Access-denied reads over the threshold in the window: one alert, with who, what, when and why.
        // The same report sent twice (its answer lost) counts once: 2 denied reads do not exceed 2.
        let repeated = #"{"id":"r1","reader":{"service":"shop","environment":"prod","host":"h9"},"reads":[{"secret":"\#(own)","reads":0,"denied":2,"first":\#(now - 5),"last":\#(now)}]}"#
        #expect(try await Self.post(daemonPort, token: reportToken, repeated) == 200)
        #expect(try await Self.post(daemonPort, token: reportToken, repeated) == 200)
        try await Task.sleep(for: .milliseconds(500))
        #expect(!received.withLock { $0 }.contains { $0.contains("denied-reads") })
        let more = #"{"id":"r2","reader":{"service":"shop","environment":"prod","host":"h9"},"reads":[{"secret":"\#(own)","reads":0,"denied":1,"first":\#(now - 5),"last":\#(now)}]}"#
        #expect(try await Self.post(daemonPort, token: reportToken, more) == 200)
        #expect(try await CLI.eventually(timeout: 90) { received.withLock { $0 }.contains { $0.contains("denied-reads") && $0.contains(own) && $0.contains("h9") } })
        #expect(!daemon.output.contains(apiToken) && !agent.output.contains(reportToken))
    }

    static func sha256(_ text: String) -> String { SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined() }

    static func post(_ port: Int, token: String?, _ body: String) async throws -> UInt {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/access")
        request.method = .POST
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(string: body))
        return try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status.code
    }
}
