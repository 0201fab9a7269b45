import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import RotorTestSupport

/// `POST /api/rotations` on a real daemon: the token is required even on loopback, the request is
/// checked, the batch runs in the daemon after the caller has gone, and its progress and audit show.
@Suite struct DaemonBatchTests {
    /// API keys that wait for their service's encryption keys (shared with the CLI's batch tests).
    static let policies = """
        policies:
          - name: keys
            match: [/prod/*/api-key/*]
            rotator: random-password
            every: 30d
            depends_on: [/prod/orders/encryption-key/*]
          - name: data
            match: [/prod/*/encryption-key/*]
            rotator: encryption-key
            every: 365d
        """

    static func post(_ daemon: DaemonProcess, _ path: String, _ body: String, token: String?) async throws -> (status: Int, body: [String: Any], location: String?) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(try await daemon.port())\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(String(buffer: data).utf8))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object, response.headers.first(name: "Location"))
    }

    @Test func aBatchStartsOnlyWithTheTokenRunsInTheDaemonAndIsAudited() async throws {
        let cli = try CLI()
        for n in 0..<12 { #expect(try await cli.run("secret", "create", "/prod/svc\(n % 3)/api-key/k\(n)", "--rotator", "random-password").status == 0) }
        #expect(try await cli.run("secret", "create", "/prod/orders/encryption-key/data", "--rotator", "encryption-key").status == 0)
        let policies = try cli.policies(Self.policies)

        let open = try DaemonProcess(home: cli.home, policies: policies)
        let refused = try await Self.post(open, "/api/rotations", #"{"match":"/prod/**"}"#, token: nil)
        #expect(refused.status == 403 && (refused.body["error"] as? String)?.contains("ROTOR_API_TOKEN") == true)
        open.signal(SIGTERM)
        _ = try await open.waitForExit()

        let token = "batch-api-token-\(UUID().uuidString)"
        // Off loopback the API is plain HTTP: the token that starts rotations would cross the network.
        let remote = try DaemonProcess(home: cli.home, policies: policies, token: token, listen: "0.0.0.0:0")
        let offLoopback = try await Self.post(remote, "/api/rotations", #"{"match":"/prod/**","dryRun":true}"#, token: token)
        #expect(offLoopback.status == 403 && (offLoopback.body["error"] as? String)?.contains("--allow-batches-off-loopback") == true)
        remote.signal(SIGTERM)
        _ = try await remote.waitForExit()

        let daemon = try DaemonProcess(home: cli.home, policies: policies, token: token)
        #expect(try await CLI.eventually { try await daemon.json("/healthz")["active"] as? Bool == true })
        #expect(try await Self.post(daemon, "/api/rotations", #"{"match":"/prod/**"}"#, token: "wrong").status == 401)
        let tooMany = try await Self.post(daemon, "/api/rotations", #"{"match":"/prod/**","maxConcurrent":99}"#, token: token)
        #expect(tooMany.status == 400 && (tooMany.body["error"] as? String)?.contains("maxConcurrent") == true)
        #expect(try await Self.post(daemon, "/api/rotations", #"{"match":"/prod/**","extra":1}"#, token: token).status == 400)
        #expect(try await Self.post(daemon, "/api/rotations", #"{"service":"nobody"}"#, token: token).status == 404)
        let capped = try await Self.post(daemon, "/api/rotations", #"{"match":"/prod/**","maxSecrets":5}"#, token: token)
        #expect(capped.status == 400 && (capped.body["error"] as? String)?.contains("more than maxSecrets 5") == true)

        let dry = try await Self.post(daemon, "/api/rotations", #"{"match":"/prod/**","dryRun":true}"#, token: token)
        let order = (dry.body["secrets"] as? [[String: Any]])?.map { $0["id"] as! String } ?? []
        #expect(dry.status == 200 && order.first == "/prod/orders/encryption-key/data" && order.count == 13)
        #expect(try await Self.rotationsRecorded(cli) == 0)

        let started = try await Self.post(daemon, "/api/rotations", #"{"match":"/prod/**","requestedBy":"alice","maxConcurrent":2}"#, token: token)
        #expect(started.status == 202 && started.location == "/api/rotations/\(started.body["id"] as? String ?? "")")
        let location = try #require(started.location)
        #expect(try await CLI.eventually { try await daemon.json(location)["state"] as? String == "finished" }, "\(daemon.output)")
        let progress = try await daemon.json(location)
        let results = progress["results"] as? [[String: Any]] ?? []
        #expect(results.count == 13 && results.allSatisfy { $0["outcome"] as? String == "rotated" })
        #expect(results.first?["id"] as? String == "/prod/orders/encryption-key/data" && progress["requestedBy"] as? String == "alice")
        let dates = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        let intervals = results.map { result in
            BatchRotationTests.Line(id: "", rotator: "", outcome: "", error: nil, start: try? dates.parse(result["startedAt"] as? String ?? ""),
                                    end: try? dates.parse(result["endedAt"] as? String ?? ""))
        }
        #expect(intervals.allSatisfy { $0.start != nil && $0.end != nil } && BatchRotationTests.peak(intervals) <= 2)
        let listed = try await daemon.json("/api/rotations")["batches"] as? [[String: Any]] ?? []
        #expect(listed.map { $0["id"] as? String } == [started.body["id"] as? String])
        #expect(try await Self.rotationsRecorded(cli) == 13)

        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        let events = try await cli.auditEvents()
        let batch = events.filter { ($0["operation"] as? String)?.hasPrefix("batch-") == true }
        #expect(batch.map { $0["operation"] as? String } == ["batch-requested", "batch-finished"] && batch.allSatisfy { $0["actor"] as? String == "api-token" })
        #expect((batch.last?["detail"] as? String)?.contains("requested by alice") == true && (batch.last?["detail"] as? String)?.contains("rotated=13") == true)
        #expect(!daemon.output.contains(token))
    }

    static func rotationsRecorded(_ cli: CLI) async throws -> Int {
        let events = try await cli.auditEvents(["--limit", "1000"])
        return events.count { $0["operation"] as? String == "rotation.finish" }
    }
}
