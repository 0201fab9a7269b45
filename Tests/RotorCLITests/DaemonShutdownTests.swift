import Foundation
import GRDB
import RotorTestSupport
import Testing

/// SIGTERM while a rotation is in flight: the daemon lets it finish, then exits 0. The rotation is
/// made slow by a proxy in front of moto that delays PutSecretValue.
@Suite(.enabled(if: MotoSettings.enabled, "moto_server runs under 'make test'"))
struct DaemonShutdownTests {
    static var binary: URL { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rotor") }

    func rotor(_ arguments: [String], home: URL, environment: [String: String]) async throws -> (Int32, String) {
        let process = ChildProcess()
        process.executableURL = Self.binary
        process.arguments = arguments + ["--home", home.path]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = home.appendingPathComponent("out-\(UUID().uuidString.prefix(6))")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        await process.exited()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    @Test func sigtermLetsTheRotationInFlightFinish() async throws {
        let moto = try MotoSettings.require()
        let proxy = try await FaultInjectingProxy(upstream: moto.endpoint)
        defer { Task { try? await proxy.close() } }
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-sigterm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let environment = [
            "ROTOR_STORE": "aws", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_SECRETS_MANAGER": proxy.url.absoluteString,
            "AWS_ACCESS_KEY_ID": moto.accessKey, "AWS_SECRET_ACCESS_KEY": moto.secretKey, "ROTOR_LOG_LEVEL": "info",
        ]
        let env = "t" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let id = "/\(env)/github-integration/api-token/slow"
        let created = try await rotor(["secret", "create", id, "--rotator", "random-password"], home: home, environment: environment)
        #expect(created.0 == 0, "\(created.1)")
        let queue = try DatabaseQueue(path: home.appendingPathComponent("state.sqlite").path)
        try await queue.write { db in try db.execute(sql: "UPDATE managed_secret SET created_at = created_at - 8640000") }
        try queue.close()
        let policies = home.appendingPathComponent("policies")
        try FileManager.default.createDirectory(at: policies, withIntermediateDirectories: true)
        try """
            policies:
              - name: tokens
                match: [/\(env)/github-integration/api-token/*]
                rotator: random-password
                every: 90d
            """.write(to: policies.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        proxy.inject("PutSecretValue", .slow(.seconds(3)))

        let daemon = ChildProcess()
        daemon.executableURL = Self.binary
        daemon.arguments = ["daemon", "--home", home.path, "--policies", policies.path, "--listen", "127.0.0.1:0"]
        daemon.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = home.appendingPathComponent("daemon.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        daemon.standardOutput = try FileHandle(forWritingTo: log)
        daemon.standardError = daemon.standardOutput
        try daemon.run()
        // Wait until the slowed PutSecretValue is in flight, then ask the daemon to stop.
        let deadline = Date().addingTimeInterval(120)
        while proxy.plan.remaining > 0, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(proxy.plan.remaining == 0, "the rotation never reached PutSecretValue")
        kill(daemon.processIdentifier, SIGTERM)
        let stopDeadline = Date().addingTimeInterval(30)
        while daemon.isRunning, Date() < stopDeadline { try await Task.sleep(for: .milliseconds(50)) }
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(!daemon.isRunning && daemon.terminationStatus == 0, "\(output)")
        let history = try await rotor(["history", id, "--json"], home: home, environment: environment).1
        #expect(history.contains("\"outcome\" : \"succeeded\""), "\(history)\n\(output)")
    }
}
