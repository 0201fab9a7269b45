import Foundation

/// The repository's service scripts (scripts/moto.sh, scripts/postgres.sh), for tests that need a
/// server of their own: run an action, read the `export NAME=value` lines a start wrote.
enum ServiceScript {
    static func run(_ script: String, _ action: String, _ directory: URL) async throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [IAMMoto.repository.appendingPathComponent("scripts/\(script)").path, action, directory.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        await process.exited()
        guard process.terminationStatus == 0 else { throw ChildProcessError("scripts/\(script) \(action) exited \(process.terminationStatus)") }
    }

    static func exports(_ file: URL) throws -> [String: String] {
        let text = try String(contentsOf: file, encoding: .utf8)
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let assignment = line.hasPrefix("export ") ? line.dropFirst("export ".count) : line[...]
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            values[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
        }
        return values
    }
}

/// A PostgreSQL server of a test's own (scripts/postgres.sh: SCRAM, TLS, statements logged), for
/// tests that restart it. Stopped by ``stop()``.
public final class OwnPostgres: Sendable {
    public let settings: PostgresTestServer.Settings
    let directory: URL

    public init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("own-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await ServiceScript.run("postgres.sh", "start", directory)
        let values = try ServiceScript.exports(directory.appendingPathComponent("postgres.env"))
        guard let host = values["ROTOR_TEST_PG_HOST"], let port = values["ROTOR_TEST_PG_PORT"].flatMap(Int.init), let user = values["ROTOR_TEST_PG_USER"],
              let password = values["ROTOR_TEST_PG_PASSWORD"] else { throw ChildProcessError("scripts/postgres.sh wrote no settings") }
        settings = PostgresTestServer.Settings(host: host, port: port, user: user, password: password, log: values["ROTOR_TEST_PG_LOG"] ?? "", caFile: values["ROTOR_TEST_PG_CA"])
    }

    /// Stops the server as a crash would (`pg_ctl -m immediate`) and starts it again on the same port.
    public func restart() async throws { try await ServiceScript.run("postgres.sh", "restart", directory) }

    public func stop() async { try? await ServiceScript.run("postgres.sh", "stop", directory) }
}
