import Foundation
import Testing
import RotorCore

/// 60 rotations of a PostgreSQL password by the real `rotor` binary, each killed with SIGKILL at a
/// point (every journal boundary, inside setSecret after ALTER ROLE, after the label moves, and at
/// random moments), then run again to recover: the AWSCURRENT credentials log in after every
/// recovery and no rotation stays open.
@Suite(.enabled(if: PG.enabled, "PostgreSQL runs under 'make test'"))
struct CrashSafetyTests {
    static var binary: URL { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rotor") }

    static let points = [
        "intent:createSecret", "put", "completion:createSecret", "intent:setSecret", "completion:setSecret",
        "intent:testSecret", "completion:testSecret", "intent:finishSecret", "label:AWSCURRENT", "label:AWSPENDING", "completion:finishSecret",
        "random", "random",
    ]

    struct Run {
        let status: Int32
        let killed: Bool
        let output: String
    }

    func rotor(_ arguments: [String], home: URL, stdin: String? = nil, environment: [String: String] = [:], killAfter: Duration? = nil) async throws -> Run {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments + ["--home", home.path]
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "ROTOR_MASTER_KEY")
        env["ROTOR_LOG_LEVEL"] = "warning"
        process.environment = env.merging(environment) { $1 }
        let out = home.appendingPathComponent("out-\(UUID().uuidString.prefix(6))")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let handle = try FileHandle(forWritingTo: out)
        process.standardOutput = handle
        process.standardError = handle
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        if let killAfter {
            try await Task.sleep(for: killAfter)
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        let output = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: out)
        return Run(status: process.terminationStatus, killed: process.terminationReason == .uncaughtSignal, output: output)
    }

    @Test func sixtyRotationsKilledAtEveryPointRecover() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let user = PG.unique("crash")
        try await PG.admin("CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0'")
        let id = "/prod/orders/db-credentials/crash"
        let created = try await rotor(["secret", "create", id, "--rotator", "postgres-single-user", "--option", "ca-file=\(PG.caFile ?? "")", "--value-stdin"], home: home,
                                      stdin: try PG.json(user: user, password: "initial-password-0"))
        try #require(created.status == 0, "\(created.output)")
        var generator = SystemRandomNumberGenerator()
        var killedRuns = 0
        for iteration in 0..<60 {
            let point = Self.points[iteration % Self.points.count]
            let crashed: Run
            if point == "random" {
                crashed = try await rotor(["rotate", id], home: home, killAfter: .milliseconds(Int64.random(in: 5...120, using: &generator)))
            } else {
                crashed = try await rotor(["rotate", id], home: home, environment: ["ROTOR_FAULT_KILL_AT": point])
            }
            if crashed.killed { killedRuns += 1 }
            // No wait: the killed process's lock is broken at once, since its process no longer exists.
            let recovered = try await rotor(["rotate", id], home: home)
            #expect(recovered.status == 0, "iteration \(iteration) (\(point)): \(recovered.output)")
            let current = try await rotor(["secret", "get", id], home: home)
            #expect(try await PG.canLogIn(SecretValue(string: current.output.trimmingCharacters(in: .newlines))),
                    "iteration \(iteration) (\(point)): AWSCURRENT does not log in")
            let history = try await rotor(["history", id, "--json", "--limit", "3"], home: home)
            #expect(!history.output.contains("\"outcome\" : \"in-progress\"") && !history.output.contains("\"outcome\" : \"rolling-back\""),
                    "iteration \(iteration) (\(point)): a rotation stayed open")
        }
        #expect(killedRuns >= 50, "only \(killedRuns) runs were killed")
    }
}
