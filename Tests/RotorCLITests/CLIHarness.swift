import Foundation
import RotorTestSupport
import GRDB
import Testing

/// Runs the real `rotor` binary in a temporary home, as an operator would.
struct CLI {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var output: String { stdout + stderr }
    }

    let home: URL
    var environment: [String: String] = [:]
    /// Every stdout and stderr produced, except the stdout of `secret get`.
    private let transcript = Transcript()

    init() throws {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    }

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["ROTOR_BINARY"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rotor")
    }

    /// Runs rotor and waits for it without holding a Swift concurrency thread.
    @discardableResult
    func run(_ arguments: [String], stdin: Data? = nil, extraEnvironment: [String: String] = [:]) async throws -> Result {
        try await runProgram(Self.binary.path, arguments + ["--home", home.path], stdin: stdin, extraEnvironment: extraEnvironment,
                             printsValue: arguments.starts(with: ["secret", "get"]))
    }

    /// Runs any program in the home directory with rotor's test environment (its output joins the transcript).
    @discardableResult
    func runProgram(
        _ path: String, _ arguments: [String], stdin: Data? = nil, extraEnvironment: [String: String] = [:], printsValue: Bool = false
    ) async throws -> Result {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = home
        var env = ProcessInfo.processInfo.environment
        env["ROTOR_LOG_LEVEL"] = "trace"
        env.removeValue(forKey: "ROTOR_MASTER_KEY")
        env.removeValue(forKey: "ROTOR_HOME")
        env.merge(environment) { $1 }
        env.merge(extraEnvironment) { $1 }
        process.environment = env
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-io-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let (outURL, errURL, inURL) = (scratch.appendingPathComponent("out"), scratch.appendingPathComponent("err"), scratch.appendingPathComponent("in"))
        for url in [outURL, errURL] { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        _ = FileManager.default.createFile(atPath: inURL.path, contents: stdin ?? Data())
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        process.standardInput = try FileHandle(forReadingFrom: inURL)
        try process.run()
        await process.exited()
        let result = Result(
            status: process.terminationStatus, stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
        transcript.append((printsValue ? "" : result.stdout) + result.stderr)
        return result
    }

    @discardableResult
    func run(_ arguments: String..., stdin: String? = nil) async throws -> Result {
        try await run(arguments, stdin: stdin.map { Data($0.utf8) })
    }

    var everythingPrinted: String { transcript.text }

    /// `rotor audit --json` (JSON lines), parsed.
    func auditEvents(_ arguments: [String] = []) async throws -> [[String: Any]] {
        let audit = try await run(["audit", "--json"] + arguments)
        return audit.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Every byte of every file in the home directory.
    func allFileBytes() throws -> [(String, Data)] {
        try FileManager.default.contentsOfDirectory(atPath: home.path).map { name in
            (name, try Data(contentsOf: home.appendingPathComponent(name)))
        }
    }

    /// A logical dump of both databases (every row of every table), to prove a command changed nothing.
    func databaseDump() throws -> String {
        var dump = ""
        for name in ["state.sqlite", "store.sqlite"] {
            let url = home.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { dump += "\(name): absent\n"; continue }
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: url.path, configuration: configuration)
            try queue.read { db in
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                for table in tables {
                    for row in try Row.fetchAll(db, sql: "SELECT * FROM \"\(table)\" ORDER BY rowid") { dump += "\(name).\(table): \(row)\n" }
                }
            }
            try queue.close()
        }
        return dump
    }
}

final class Transcript: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ text: String) { lines.withLock { $0.append(text) } }
    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

import Synchronization
