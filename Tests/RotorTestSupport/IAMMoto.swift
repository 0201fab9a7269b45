import Foundation

/// A moto_server of a test's own that enforces IAM identity policies and records every request:
/// one IAM user per policy `rotor iam policy --format json` generated (its actions on every resource,
/// as moto cannot scope by ARN), then `scripts/iam-check.py evaluate` judges the recorded calls
/// against the real documents. Stopped by ``stop()``.
public final class IAMMoto: @unchecked Sendable {
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public let endpoint: URL
    public let directory: URL
    let process = ChildProcess()
    var policiesFile: URL { directory.appendingPathComponent("policies.json") }
    var keysFile: URL { directory.appendingPathComponent("keys.json") }
    var recording: URL { directory.appendingPathComponent("recording.jsonl") }

    /// Starts moto, creates the users for `policies` (the generator's JSON), and turns authentication on.
    public init(policies: Data) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("iam-moto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try policies.write(to: directory.appendingPathComponent("policies.json"))
        let port = try LoopbackPort.free()
        endpoint = URL(string: "http://127.0.0.1:\(port)")!
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", "\(port)"]
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["MOTO_ENABLE_RECORDING"] = "True"
        environment["MOTO_RECORDER_FILEPATH"] = directory.appendingPathComponent("recording.jsonl").path
        process.environment = environment
        let log = directory.appendingPathComponent("moto.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try await LoopbackPort.waitUntilListening(port)
        let users = try await Self.python(["users", endpoint.absoluteString, policiesFile.path, keysFile.path])
        guard users.status == 0 else { throw ChildProcessError("iam-check.py users failed: \(users.output)") }
    }

    /// The access key of the user holding the generated policy `name` (or `admin`, who may do anything).
    public func credentials(_ name: String) throws -> MotoSettings.Settings {
        let keys = try JSONSerialization.jsonObject(with: Data(contentsOf: keysFile)) as? [String: [String: String]] ?? [:]
        guard let key = keys[name], let id = key["id"], let secret = key["secret"] else {
            throw ChildProcessError("no IAM user for policy \(name)")
        }
        return MotoSettings.Settings(endpoint: endpoint, accessKey: id, secretKey: secret)
    }

    /// Evaluates every recorded call and each probe against the generated documents; the script's
    /// exit status and output (calls and verdicts, never values), which the test log shows.
    public func evaluate(probes: [[String: String]]) async throws -> (status: Int32, output: String) {
        let probesFile = directory.appendingPathComponent("probes.json")
        try JSONSerialization.data(withJSONObject: probes).write(to: probesFile)
        let result = try await Self.python(["evaluate", endpoint.absoluteString, policiesFile.path, keysFile.path, recording.path, probesFile.path])
        print(result.output)
        return result
    }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitPolling()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs a script of `scripts/` (default iam-check.py) with `credentials` as its AWS key, if given.
    public static func python(
        _ arguments: [String], script: String = "iam-check.py", credentials: MotoSettings.Settings? = nil
    ) async throws -> (status: Int32, output: String) {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repository.appendingPathComponent("scripts/\(script)").path] + arguments
        if let credentials {
            var environment = ProcessInfo.processInfo.environment
            environment["AWS_ACCESS_KEY_ID"] = credentials.accessKey
            environment["AWS_SECRET_ACCESS_KEY"] = credentials.secretKey
            process.environment = environment
        }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("iam-check-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        await process.exited()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }
}

/// Free loopback ports for servers the tests start.
public enum LoopbackPort {
    public static func free() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0 else { throw ChildProcessError("no free loopback port (errno \(errno))") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits up to 90 s for something to accept connections on `port`.
    public static func waitUntilListening(_ port: Int) async throws {
        for _ in 0..<900 {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(descriptor)
            if connected == 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ChildProcessError("nothing listens on 127.0.0.1:\(port) after 90 s")
    }
}
