import AsyncHTTPClient
import Foundation
import RotorTestSupport
import GRDB
import NIOCore

/// A `rotor daemon` child process on a scratch home, with helpers to reach its HTTP API.
final class DaemonProcess: @unchecked Sendable {
    let process = ChildProcess()
    let home: URL
    let portFile: URL
    let log: URL
    let token: String?

    convenience init(home: URL, policies: URL, token: String? = nil, listen: String = "127.0.0.1:0", extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        try self.init(home: home, command: ["daemon", "--policies", policies.path, "--listen", listen] + extraArguments, token: token, environment: environment)
    }

    /// Any long-running rotor command that writes its port to `--port-file` (the daemon, the agent).
    init(home: URL, command: [String], token: String? = nil, environment: [String: String] = [:], executable: URL = CLI.binary) throws {
        self.home = home
        self.token = token
        portFile = home.appendingPathComponent("port-\(UUID().uuidString.prefix(6))")
        log = home.appendingPathComponent("daemon-\(UUID().uuidString.prefix(6)).log")
        process.executableURL = executable
        process.arguments = command + ["--home", home.path, "--port-file", portFile.path]
        var env = ProcessInfo.processInfo.environment
        env["ROTOR_LOG_LEVEL"] = "info"
        env.removeValue(forKey: "ROTOR_MASTER_KEY")
        env["ROTOR_API_TOKEN"] = token
        env.merge(environment) { $1 }
        process.environment = env
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// The API's port, once the daemon listens.
    func port(timeout: TimeInterval = 90) async throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return port
            }
            guard process.isRunning else { throw DaemonError.exited(output) }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DaemonError.timeout(output)
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// GET `path`; returns status and body.
    func get(_ path: String, token: String? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(try await port())\(path)")
        if let token = token ?? self.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 8 * 1024 * 1024)
        return (Int(response.status.code), String(buffer: body))
    }

    func json(_ path: String) async throws -> [String: Any] {
        let (status, body) = try await get(path)
        guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            throw DaemonError.badResponse(status, body)
        }
        return object
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to end; its exit status.
    func waitForExit(timeout: TimeInterval = 30) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            guard Date() < deadline else { signal(SIGKILL); throw DaemonError.timeout(output) }
            try await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    enum DaemonError: Error, CustomStringConvertible {
        case exited(String), timeout(String), badResponse(Int, String)
        var description: String {
            switch self {
            case .exited(let log): "daemon exited early:\n\(log)"
            case .timeout(let log): "daemon timed out:\n\(log)"
            case .badResponse(let status, let body): "HTTP \(status): \(body.prefix(500))"
            }
        }
    }
}

extension CLI {
    /// Pretends a secret has been managed (and not rotated) for `days`, so a policy makes it due now.
    func backdate(_ id: String, days: Double) throws {
        let queue = try DatabaseQueue(path: home.appendingPathComponent("state.sqlite").path)
        try queue.write { db in
            try db.execute(sql: "UPDATE managed_secret SET created_at = created_at - ? WHERE id = ?", arguments: [days * 86_400, id])
        }
        try queue.close()
    }

    /// Writes a policy file in a fresh directory and returns the directory.
    func policies(_ yaml: String) throws -> URL {
        let directory = home.appendingPathComponent("policies-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try yaml.write(to: directory.appendingPathComponent("policies.yaml"), atomically: true, encoding: .utf8)
        return directory
    }

    /// Polls until `condition` holds or `timeout` passes.
    static func eventually(timeout: TimeInterval = 30, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
