import Foundation
import Synchronization
import Testing
import RotorTestSupport

/// `rotor daemon` as a real process over real HTTP on loopback.
@Suite struct DaemonTests {
    static let policies = """
        policies:
          - name: tokens
            match: [/prod/github-integration/api-token/*]
            rotator: random-password
            options: {length: 40}
            every: 90d
          - name: broken-manual
            match: [/prod/vendor/api-key/*]
            rotator: manual
            every: 1h
          - name: keys
            match: [/prod/*/encryption-key/*]
            rotator: encryption-key
            every: 365d
        """

    @Test func endpointsMetricsAlertsAndGracefulShutdown() async throws {
        let cli = try CLI()
        let token = "/prod/github-integration/api-token/personal-access-token"
        let vendor = "/prod/vendor/api-key/partner"
        let key = "/prod/template-management/encryption-key/template-key"
        #expect(try await cli.run("secret", "create", token, "--rotator", "random-password", "--option", "length=40").status == 0)
        #expect(try await cli.run("secret", "create", vendor, "--rotator", "manual", "--value-stdin", stdin: "CANARY-daemon-initial").status == 0)
        #expect(try await cli.run("secret", "create", key, "--rotator", "encryption-key").status == 0)
        try cli.backdate(token, days: 100)
        try cli.backdate(vendor, days: 1)

        let received = Mutex<[String]>([])
        let webhook = try await LoopbackHTTPServer { request in
            received.withLock { $0.append(String(decoding: request.body, as: UTF8.self)) }
            return .respond(status: 204, headers: [], body: [])
        }
        defer { Task { try? await webhook.close() } }
        let daemon = try DaemonProcess(home: cli.home, policies: try cli.policies(Self.policies), token: "api-token-123",
                                       extraArguments: ["--webhook", webhook.url.absoluteString + "/alerts", "--per-secret-metrics", "--emf"])

        let health = try await daemon.get("/healthz", token: "")
        #expect(health.status == 200 && health.body.contains("\"status\":\"ok\""))
        #expect(try await daemon.get("/api/observability/secrets", token: "wrong").status == 401)
        #expect(try await daemon.get("/metrics", token: "wrong").status == 401)

        // The overdue token is rotated by the daemon; the manual one fails (no operator value) and alerts.
        #expect(try await CLI.eventually {
            let secrets = try await daemon.json("/api/observability/secrets")["secrets"] as? [[String: Any]] ?? []
            return secrets.contains { $0["id"] as? String == token && !($0["lastRotated"] is NSNull) }
        }, "\(daemon.output)")
        let list = try await daemon.json("/api/observability/secrets")["secrets"] as! [[String: Any]]
        #expect(Set(list.compactMap { $0["id"] as? String }) == [token, vendor, key])
        for item in list {
            #expect(Set(item.keys) == ["id", "policy", "rotator", "lastRotated", "nextRotation", "status", "failureCount", "lastError", "lastAccess", "lastAccessBy"])
        }
        // Pages in id order: `next` leads to the following page, absent on the last one.
        let first = try await daemon.json("/api/observability/secrets?limit=2")
        let firstIDs = (first["secrets"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(firstIDs == [token, vendor, key].sorted().prefix(2).map { $0 })
        let next = try #require(first["next"] as? String)
        let second = try await daemon.json("/api/observability/secrets?limit=2&after=" + next)
        #expect((second["secrets"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } == [[token, vendor, key].sorted()[2]])
        #expect(second["next"] is NSNull)
        #expect(try await daemon.get("/api/observability/secrets?limit=0").status == 400)
        #expect(try await daemon.get("/api/observability/secrets?limit=5000").status == 400)
        #expect(try await daemon.get("/api/observability/secrets?after=not-an-id").status == 400)

        let detail = try await daemon.json("/api/observability/secrets" + token)
        let history = try #require(detail["history"] as? [[String: Any]])
        #expect(history.first?["outcome"] as? String == "succeeded" && history.first?["trigger"] as? String == "schedule")
        #expect(detail["currentVersion"] as? String == history.first?["token"] as? String)

        let metrics = try await daemon.get("/metrics")
        #expect(metrics.status == 200)
        let samples = try PrometheusText.parse(metrics.body)
        let succeeded = samples.first { $0.key.hasPrefix("rotor_rotations_total{") && $0.key.contains("outcome=\"succeeded\"") && $0.key.contains("rotator=\"random-password\"") }
        #expect((succeeded?.value ?? 0) >= 1, "\(samples.keys.sorted())")
        #expect(samples.contains { $0.key.hasPrefix("rotor_rotation_failures_total{") && $0.key.contains("rotator=\"manual\"") })
        #expect(samples.keys.contains { $0.hasPrefix("rotor_step_duration_seconds_bucket{") })
        #expect(samples.keys.contains("rotor_next_rotation_timestamp_seconds{secret=\"\(key)\"}"))
        #expect(samples.keys.contains("rotor_last_success_timestamp_seconds{secret=\"\(token)\"}"))
        #expect(samples["rotor_quarantined_secrets"] != nil)
        // Fleet-level series, whatever the fleet's size.
        let managed = ["active", "rotating", "failed", "quarantined"].map { samples["rotor_managed_secrets{status=\"\($0)\"}"] ?? -1 }
        #expect(managed.allSatisfy { $0 >= 0 } && managed.reduce(0, +) == 3, "\(samples.keys.sorted())")
        #expect(samples["rotor_overdue_secrets"] != nil)
        #expect((samples["rotor_next_rotation_earliest_timestamp_seconds"] ?? 0) > 0)
        #expect((samples["rotor_last_success_oldest_timestamp_seconds"] ?? 0) > 0)
        #expect(samples.keys.contains { $0.hasPrefix("rotor_lease_holder{owner=") })

        #expect(try await CLI.eventually { received.withLock { $0 }.contains { $0.contains("rotation.failed") && $0.contains(vendor) } })
        #expect(!received.withLock { $0 }.joined().contains("CANARY"))
        #expect(!daemon.output.contains("CANARY"))

        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0, "\(daemon.output)")
        // --emf: the same rotations as CloudWatch metrics at exit, by rotator and environment.
        let documents = EMFSpec.documents(in: daemon.output.split(separator: "\n"))
        #expect(documents.allSatisfy { EMFSpec.violations($0).isEmpty }, "\(documents.flatMap(EMFSpec.violations))")
        #expect(documents.contains {
            $0["Rotations"] != nil && $0["rotator"] as? String == "random-password" && $0["environment"] as? String == "prod" && $0["outcome"] as? String == "succeeded"
        }, "\(documents)")
    }

    /// Guessing the token is slow: after ten wrong tokens a minute the API answers 429 to wrong
    /// tokens, while the right token goes on working.
    @Test func wrongTokensAreSlowedAndTheRightOneIsNot() async throws {
        let cli = try CLI()
        let daemon = try DaemonProcess(home: cli.home, policies: try cli.policies(Self.policies), token: "api-token-right")
        defer { daemon.signal(SIGTERM) }
        var statuses: [Int] = []
        for n in 0..<11 { statuses.append(try await daemon.get("/api/observability/secrets", token: "wrong-\(n)").status) }
        #expect(statuses.prefix(10).allSatisfy { $0 == 401 } && statuses.last == 429, "\(statuses)")
        #expect(try await daemon.get("/api/observability/secrets").status == 200)
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }

    /// Two daemons on one state database: one is active, the other stands by; after the active one is
    /// killed with SIGKILL, the standby takes over, and no secret is rotated twice.
    @Test func aStandbyTakesOverAndNothingRotatesTwice() async throws {
        let pair = try await DaemonPair(secrets: 12, prefix: "token", arguments: ["--lease-ttl", "2", "--max-concurrent", "1"])
        pair.holder.signal(SIGKILL)
        _ = try await pair.holder.waitForExit()
        #expect(try await CLI.eventually(timeout: 30) { await pair.active(pair.standby) }, "\(pair.standby.output)")
        try await pair.expectEverySecretRotatedOnce()
        pair.standby.signal(SIGTERM)
        #expect(try await pair.standby.waitForExit() == 0)
    }

    /// The active daemon paused (SIGSTOP) past its lease and lock, then resumed (SIGCONT): the standby
    /// takes over, the paused one's in-flight work is fenced off, and no secret rotates twice.
    @Test func aPausedDaemonRotatesNothingTwiceWhenItWakes() async throws {
        let pair = try await DaemonPair(secrets: 10, prefix: "paused", arguments: ["--lease-ttl", "2", "--lock-ttl", "3", "--max-concurrent", "1"])
        pair.holder.signal(SIGSTOP)
        try await Task.sleep(for: .seconds(5)) // past the lease (2 s) and the lock (3 s)
        #expect(try await CLI.eventually(timeout: 30) { await pair.active(pair.standby) }, "\(pair.standby.output)")
        pair.holder.signal(SIGCONT)
        try await pair.expectEverySecretRotatedOnce(settle: .seconds(3))
        for daemon in [pair.holder, pair.standby] { daemon.signal(SIGTERM) }
        for daemon in [pair.holder, pair.standby] { _ = try await daemon.waitForExit() }
    }
}

/// Due secrets and two daemons on one state database, once one of them is active and rotating.
struct DaemonPair {
    let cli: CLI
    let ids: [String]
    let holder: DaemonProcess
    let standby: DaemonProcess

    init(secrets: Int, prefix: String, arguments: [String]) async throws {
        cli = try CLI()
        ids = (0..<secrets).map { "/prod/github-integration/api-token/\(prefix)-\($0)" }
        for id in ids {
            #expect(try await cli.run("secret", "create", id, "--rotator", "random-password").status == 0)
            try cli.backdate(id, days: 100)
        }
        let policies = try cli.policies(DaemonTests.policies)
        let first = try DaemonProcess(home: cli.home, policies: policies, extraArguments: arguments)
        let second = try DaemonProcess(home: cli.home, policies: policies, extraArguments: arguments)
        let active = Self.active
        #expect(try await CLI.eventually { await active(first) != (await active(second)) })
        (holder, standby) = await active(first) ? (first, second) : (second, first)
        let cli = self.cli
        #expect(try await CLI.eventually { try await cli.run("status").stdout.contains("last-rotated=20") })
    }

    static let active: @Sendable (DaemonProcess) async -> Bool = { daemon in (try? await daemon.json("/healthz")["active"] as? Bool) ?? false }
    func active(_ daemon: DaemonProcess) async -> Bool { await Self.active(daemon) }

    /// Waits until every secret was rotated (then `settle` more), and checks each was rotated exactly once.
    func expectEverySecretRotatedOnce(settle: Duration = .zero) async throws {
        let cli = self.cli
        #expect(try await CLI.eventually(timeout: 60) {
            try await cli.run("status").stdout.split(separator: "\n").filter { $0.contains("last-rotated=never") }.isEmpty
        }, "\(standby.output)")
        try await Task.sleep(for: settle)
        for id in ids {
            let history = try await cli.run("history", id, "--json").stdout
            let object = try JSONSerialization.jsonObject(with: Data(history.utf8)) as! [String: Any]
            let rotations = object["rotations"] as! [[String: Any]]
            #expect(rotations.count == 1 && rotations[0]["outcome"] as? String == "succeeded", "\(id): \(rotations)")
        }
    }
}

/// `rotor daemon --environment staging` on a state database that also holds prod secrets: it
/// rotates, lists, reports and measures staging only.
@Suite struct DaemonEnvironmentTests {
    static let policies = """
        policies:
          - name: tokens
            match: [/prod/github-integration/api-token/*, /staging/github-integration/api-token/*]
            rotator: random-password
            every: 90d
        """

    @Test func aStagingDaemonNeverTouchesProd() async throws {
        let cli = try CLI()
        let prod = "/prod/github-integration/api-token/deploy"
        let staging = "/staging/github-integration/api-token/deploy"
        for id in [prod, staging] {
            #expect(try await cli.run("secret", "create", id, "--rotator", "random-password").status == 0)
            try cli.backdate(id, days: 100)
        }
        let daemon = try DaemonProcess(home: cli.home, policies: try cli.policies(Self.policies), extraArguments: ["--environment", "staging"])
        #expect(try await CLI.eventually { try await cli.run("status").stdout.contains("\(staging)  random-password  last-rotated=20") }, "\(daemon.output)")
        let list = try await daemon.json("/api/observability/secrets")["secrets"] as? [[String: Any]] ?? []
        #expect(list.compactMap { $0["id"] as? String } == [staging])
        #expect(try await daemon.get("/api/observability/secrets" + prod).status == 404)
        let metrics = try await daemon.get("/metrics").body
        #expect(!metrics.contains("/prod/"), "\(metrics)")
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        let history = try await cli.run("history", prod, "--json").stdout
        let rotations = (try JSONSerialization.jsonObject(with: Data(history.utf8)) as? [String: Any])?["rotations"] as? [Any]
        #expect(rotations?.isEmpty == true, "prod was rotated by the staging daemon: \(history)")
        #expect(try await cli.run("status").stdout.contains("\(prod)  random-password  last-rotated=never"))
    }

    @Test func aDaemonOffLoopbackWithoutATokenNeedsTheExplicitWaiver() async throws {
        let cli = try CLI()
        let daemon = try DaemonProcess(home: cli.home, policies: try cli.policies(Self.policies), listen: "0.0.0.0:0", extraArguments: ["--insecure-no-token"])
        #expect(try await daemon.get("/healthz").status == 200)
        #expect(daemon.output.contains("has no token (--insecure-no-token)"))
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
    }
}

/// A minimal parser of the Prometheus text format: `name{labels} value` lines, comments skipped.
enum PrometheusText {
    struct Invalid: Error { let line: String }

    static func parse(_ text: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { throw Invalid(line: String(line)) }
            let name = String(line[..<space])
            guard name.range(of: #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?$"#, options: .regularExpression) != nil else { throw Invalid(line: String(line)) }
            samples[name] = value
        }
        return samples
    }
}
