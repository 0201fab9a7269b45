import ArgumentParser
import Foundation
import RotorCore
import RotorStatePostgres
import RotorStorage

/// `rotor state`: moving rotor's own state between back ends.
struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state", abstract: "Move rotor's state (journal, schedule, audit) between SQLite and PostgreSQL.", subcommands: [Migrate.self])

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract: "Copy a SQLite state database into a PostgreSQL schema, history included, in one transaction.",
            discussion: """
                Stop rotor everywhere first. Managed secrets, rotations and their steps, the audit log, the schedule, the outbox and \
                access reports are copied with their ids, times and integrity codes; locks and the lease are not (an open rotation \
                resumes from the copied journal). A target that already holds rotor state is refused unless --into-non-empty, which \
                adds only the rows it lacks (a rerun adds nothing). The target's password comes from ROTOR_STATE_PASSWORD or \
                ROTOR_STATE_PASSWORD_FILE, never the URL.
                """)

        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("from"), help: ArgumentHelp("The source: sqlite:PATH (e.g. sqlite:.rotor/state.sqlite).", valueName: "sqlite:path"))
        var source: String
        @Option(name: .customLong("to"), help: ArgumentHelp("The target: postgres://USER@HOST[:PORT]/DB?schema=….", valueName: "url")) var target: String
        @Flag(help: "Copy into a schema that already holds rotor state, adding only what it lacks.") var intoNonEmpty = false
        @Flag(help: "Print JSON lines.") var json = false

        func run() async throws {
            try await runReportingErrors {
                guard source.hasPrefix("sqlite:"), case let path = String(source.dropFirst("sqlite:".count)), !path.isEmpty else {
                    throw RotorError(.invalidParameter, "--from must be sqlite:PATH, the state database to copy")
                }
                guard FileManager.default.fileExists(atPath: path) else {
                    throw RotorError(.invalidParameter, "--from: no state database at \(path)", remedy: "give the path of rotor's state.sqlite (in --home)")
                }
                let settings = try PostgresStateSettings(url: target, environment: global.env)
                let from = try SQLiteStateStore(url: URL(fileURLWithPath: path))
                let to = try await Runtime.openShared(settings, authenticator: nil, logger: try Runtime.logger(global))
                if !json { Output.line("copying \(path) into schema \(settings.schema) of \(settings.host):\(settings.port)/\(settings.database)") }
                let results: [SQLiteStateCopy.TableResult]
                do {
                    results = try await SQLiteStateCopy(from: from, to: to).run(intoNonEmpty: intoNonEmpty)
                    await to.close()
                } catch {
                    await to.close()
                    throw error
                }
                for result in results {
                    if json {
                        Output.line(BatchRender.jsonLine(["table": result.table, "read": result.read, "added": result.added]))
                    } else {
                        Output.line("\(result.table): \(result.read) read, \(result.added) added")
                    }
                }
            }
        }
    }
}

/// `rotor daemons`: the daemons sharing this state (PostgreSQL) and their last heartbeat.
struct DaemonsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemons", abstract: "List the daemons sharing the state (--state postgres://…) and when each was last heard from.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Also list daemons not heard from for up to this many seconds (default 60).") var within: Double = 60
    @Flag(help: "Print JSON lines.") var json = false

    func run() async throws {
        try await runReportingErrors {
            let (_, state, _) = try await Runtime.openStores(global)
            guard let registry = state as? any DaemonRegistry else {
                throw RotorError(.invalidRequest, "daemons record heartbeats only in a shared state",
                                 remedy: "use --state postgres://… (ROTOR_STATE_URL); on one host, ask the daemon's /healthz")
            }
            let now = Date()
            for daemon in try await registry.daemons(heardSince: now.addingTimeInterval(-within)) {
                let age = Int(now.timeIntervalSince(daemon.heartbeatAt).rounded())
                if json {
                    Output.line(BatchRender.jsonLine(["owner": daemon.owner, "host": daemon.host, "pid": Int(daemon.pid), "version": daemon.version,
                                 "startedAt": daemon.startedAt.formatted(.iso8601), "heartbeatAt": daemon.heartbeatAt.formatted(.iso8601), "secondsAgo": age]))
                } else {
                    Output.line("\(daemon.host) pid \(daemon.pid)  v\(daemon.version)  heard \(age)s ago  since \(daemon.startedAt.formatted(.iso8601))  \(daemon.owner)")
                }
            }
        }
    }
}
