import Foundation
import RotorTestSupport
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
        let process = ChildProcess()
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
        await process.exited()
        let output = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: out)
        return Run(status: process.terminationStatus, killed: process.terminationReason == .uncaughtSignal, output: output)
    }

    /// Rounds per strategy: `make test` runs a short loop; `make chaos` sets ROTOR_CHAOS_ROUNDS (default 500).
    static var rounds: Int { ProcessInfo.processInfo.environment["ROTOR_CHAOS_ROUNDS"].flatMap(Int.init) ?? 26 }

    @Test(arguments: ["postgres-single-user", "postgres-alternating-users"])
    func rotationsKilledAtEveryPointRecover(strategy: String) async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let (user, admin, readers) = (PG.unique("crash"), PG.unique("crash_admin"), PG.unique("crash_readers"))
        try await PG.admin("CREATE ROLE \(readers) NOLOGIN")
        try await PG.admin("CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0' IN ROLE \(readers)")
        let id = "/prod/orders/db-credentials/crash"
        let ca = "ca-file=\(PG.caFile ?? "")"
        var master: SecretID?
        if strategy == "postgres-alternating-users" {
            try await PG.admin("CREATE ROLE \(admin) WITH LOGIN CREATEROLE PASSWORD 'admin-password-0'")
            let created = try await rotor(["secret", "create", "/prod/orders/db-credentials/master", "--rotator", "postgres-single-user", "--option", ca, "--value-stdin"],
                                          home: home, stdin: try PG.json(user: admin, password: "admin-password-0"))
            try #require(created.status == 0, "\(created.output)")
            master = try SecretID("/prod/orders/db-credentials/master")
        }
        let created = try await rotor(["secret", "create", id, "--rotator", strategy, "--option", ca, "--value-stdin"], home: home,
                                      stdin: try PG.json(user: user, password: "initial-password-0", master: master))
        try #require(created.status == 0, "\(created.output)")
        var generator = SystemRandomNumberGenerator()
        var (killed, lost, stuck) = (0, 0, 0)
        for round in 0..<Self.rounds {
            let point = Self.points[round % Self.points.count]
            let crashed: Run
            if point == "random" {
                crashed = try await rotor(["rotate", id], home: home, killAfter: .milliseconds(Int64.random(in: 5...120, using: &generator)))
            } else {
                crashed = try await rotor(["rotate", id], home: home, environment: ["ROTOR_FAULT_KILL_AT": point])
            }
            if crashed.killed { killed += 1 }
            // No wait: the killed process's lock is broken at once, since its process no longer exists.
            let recovered = try await rotor(["rotate", id], home: home)
            #expect(recovered.status == 0, "round \(round) (\(point)): \(recovered.output)")
            let state = try await checkRecovered(id, strategy: strategy, base: user, readers: readers, home: home)
            if !state.currentLogsIn || !state.previousAsPromised || !state.cloneComplete { lost += 1 }
            if state.open || state.pendingLeft { stuck += 1 }
            #expect(state.currentLogsIn && state.previousAsPromised && state.cloneComplete && !state.open && !state.pendingLeft,
                    "round \(round) (\(point)): \(state)")
        }
        print("chaos \(strategy): rounds=\(Self.rounds), killed=\(killed), lost=\(lost), stuck=\(stuck)")
        print("\(Self.rounds) rounds, \(killed) killed, \(lost) lost, \(stuck) stuck")
        #expect(killed >= Self.rounds * 3 / 4, "only \(killed) runs were killed")
    }

    struct Recovered: CustomStringConvertible {
        var currentLogsIn = false, previousAsPromised = false, cloneComplete = true, open = false, pendingLeft = false
        var description: String { "current logs in: \(currentLogsIn), previous as promised: \(previousAsPromised), clone complete: \(cloneComplete), open: \(open), pending left: \(pendingLeft)" }
    }

    /// After a recovery: AWSCURRENT logs in; AWSPREVIOUS no longer does (single user: its password was
    /// replaced) or still does (alternating users: the other user keeps its password); no rotation is
    /// open and no AWSPENDING is left; the clone holds the base user's memberships.
    func checkRecovered(_ id: String, strategy: String, base: String, readers: String, home: URL) async throws -> Recovered {
        var result = Recovered()
        let current = try await rotor(["secret", "get", id], home: home).output.trimmingCharacters(in: .newlines)
        result.currentLogsIn = try await PG.canLogIn(SecretValue(string: current))
        let previous = try await rotor(["secret", "get", id, "--stage", "AWSPREVIOUS"], home: home)
        if previous.status == 0 {
            let previousLogsIn = try await PG.canLogIn(SecretValue(string: previous.output.trimmingCharacters(in: .newlines)))
            result.previousAsPromised = strategy == "postgres-single-user" ? !previousLogsIn : previousLogsIn
        } else {
            result.previousAsPromised = true // the first rotation has no AWSPREVIOUS yet
        }
        let history = try await rotor(["history", id, "--json", "--limit", "3"], home: home).output
        result.open = history.contains("\"outcome\" : \"in-progress\"") || history.contains("\"outcome\" : \"rolling-back\"")
        result.pendingLeft = try await rotor(["secret", "describe", id, "--json"], home: home).output.contains("AWSPENDING")
        if strategy == "postgres-alternating-users" {
            let memberships = try await PG.memberships(of: "\(base)_clone")
            result.cloneComplete = memberships.isEmpty || Set(memberships) == [base, readers]
        }
        return result
    }
}
