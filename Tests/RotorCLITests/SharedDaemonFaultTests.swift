import Foundation
import Testing
import RotorAWS
import RotorCore
@testable import RotorStatePostgres
import RotorTestSupport

/// The faults a fleet of daemons must ride out, with daemon processes: a daemon paused past its claim
/// (SIGSTOP), the state's server restarted; and the wake-up that hands a queued rotation to a daemon.
extension SharedDaemonsTests {
    /// A daemon stops itself (SIGSTOP) right after a rotation's PutSecretValue. While it is paused,
    /// `rotor status` shows its claim; once the claim lapses another daemon finishes that rotation with
    /// the same token. Resumed (SIGCONT), the paused daemon's next journal write is refused and it
    /// never touches the secret again.
    @Test func aDaemonPausedPastItsClaimIsFencedOutWhenItResumes() async throws {
        try await Self.withOwnMoto { moto in try await pausedPastItsClaim(moto) }
    }

    func pausedPastItsClaim(_ moto: MotoSettings.Settings) async throws {
        let fleet = try await Fleet(secrets: 12, moto: moto)
        defer { Task { await fleet.state.close() } }
        let paused = try fleet.daemon(["ROTOR_LOCK_TTL": "10", "ROTOR_FAULT_STOP_AT": "put"])
        defer { paused.signal(SIGKILL) }
        try await Self.waitUntilStopped(paused)
        let open = try await fleet.state.read("test") { session in
            try await session.rows("SELECT token, secret_id FROM rotation WHERE outcome = 'in-progress'").map {
                (token: try $0.value("token", as: String.self), secret: try SecretID(try $0.value("secret_id", as: String.self)))
            }
        }
        // The rotation that reached PutSecretValue, and whichever others it was running at once.
        #expect(!open.isEmpty, "the paused daemon left its rotations open")
        let status = try await fleet.cli().run(["status", "--json"])
        #expect(status.stdout.contains("\"claimedBy\""), "rotor status shows the paused daemon's claim: \(status.output.prefix(2000))")

        let steady = try fleet.daemon(["ROTOR_LOCK_TTL": "10"])
        let tally = try await fleet.waitUntilEveryoneRotated(12, timeout: 180)
        #expect(tally == Fleet.Tally(rotations: 12, succeeded: 12, secrets: 12, open: 0), "\(tally)\n\(steady.output.suffix(2000))")
        for (token, _) in open {
            let finished = try await fleet.state.read("test") { session in
                try await session.row("SELECT outcome FROM rotation WHERE token = \(token)")!.value("outcome", as: String.self)
            }
            #expect(finished == "succeeded", "the other daemon finished the paused one's rotation with its token")
        }
        var versions: [SecretID: [VersionEntry]] = [:]
        for (_, secret) in open { versions[secret] = try await fleet.store.describeSecret(secret).versions }
        let pausedSteps = try await steps(by: paused, fleet)

        paused.signal(SIGCONT)
        // Long enough for the resumed daemon to try its next step and loop once more (it claims every 5 s at most).
        try await Task.sleep(for: .seconds(8))
        for (_, secret) in open {
            #expect(try await fleet.store.describeSecret(secret).versions == versions[secret], "the resumed daemon did not touch \(secret)")
        }
        #expect(try await steps(by: paused, fleet) == pausedSteps, "no journal write of the resumed daemon was accepted")
        #expect(try await fleet.tally() == tally)
        #expect(paused.output.contains("lost the secret's lock"), "it says why it stopped: \(paused.output.suffix(3000))")
        await Self.stop([steady, paused])
    }

    /// Journal steps recorded under the daemon's lock owner (its pid is part of the owner).
    func steps(by daemon: DaemonProcess, _ fleet: Fleet) async throws -> Int64 {
        try await fleet.state.read("test") { session in
            try await session.row("""
                SELECT count(*) AS n FROM rotation_step WHERE split_part(split_part(owner, '@', 2), ':', 2) = \("\(daemon.process.processIdentifier)")
                """)!.value("n", as: Int64.self)
        }
    }

    static func waitUntilStopped(_ daemon: DaemonProcess, timeout: TimeInterval = 120) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let stat = (try? String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/stat", encoding: .utf8)) ?? ""
            // The state letter follows the command name in parentheses.
            if let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "T" { return }
            guard daemon.process.isRunning else { throw DaemonProcess.DaemonError.exited(daemon.output) }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DaemonProcess.DaemonError.timeout(daemon.output)
    }

    /// Two daemons rotate 200 due secrets; the state's PostgreSQL is stopped as by a crash and
    /// started again while they do. They reconnect and carry on: every secret rotated exactly once,
    /// none left open, none with a version too many.
    @Test func daemonsCarryOnAcrossAPostgreSQLRestart() async throws {
        try await Self.withOwnMoto { moto in
            let postgres = try await OwnPostgres()
            do {
                try await acrossARestart(moto, postgres)
                await postgres.stop()
            } catch {
                await postgres.stop()
                throw error
            }
        }
    }

    func acrossARestart(_ moto: MotoSettings.Settings, _ postgres: OwnPostgres) async throws {
        let fleet = try await Fleet(secrets: 200, moto: moto, postgres: postgres.settings)
        defer { Task { await fleet.state.close() } }
        let daemons = try (0..<2).map { _ in try fleet.daemon(["ROTOR_LOCK_TTL": "8"]) }
        let before = try await fleet.waitUntilEveryoneRotated(30, timeout: 300)
        try await postgres.restart()
        let tally = try await fleet.waitUntilEveryoneRotated(200, timeout: 400)
        let diagnosis = tally.open == 0 ? "" : ((try? await diagnosis(fleet)) ?? "")
        await Self.stop(daemons)
        print("PostgreSQL restarted after \(before.succeeded) of 200 rotations; all 200 done after it")
        #expect(tally == Fleet.Tally(rotations: 200, succeeded: 200, secrets: 200, open: 0),
                "\(tally)\n\(diagnosis)\n\(daemons.map { String($0.output.suffix(2000)) }.joined(separator: "\n---\n"))")
        // In Secrets Manager: each secret has its first version and exactly one rotated version.
        for id in fleet.ids {
            let versions = try await fleet.store.describeSecret(id).versions
            #expect(versions.count == 2, "\(id): \(versions)")
        }
    }

    /// What an open rotation is waiting for: its steps, its secret's lock, the sessions of the server.
    func diagnosis(_ fleet: Fleet) async throws -> String {
        try await fleet.state.read("test") { session in
            var lines: [String] = ["now \(Date().timeIntervalSince1970)"]
            for row in try await session.rows("""
                SELECT r.secret_id, r.token, s.step, s.attempt, s.started_at, s.ended_at, s.outcome, s.owner, l.owner AS lock_owner, l.expires_at, l.fence
                FROM rotation r LEFT JOIN rotation_step s ON s.token = r.token LEFT JOIN secret_lock l ON l.secret_id = r.secret_id
                WHERE r.outcome IN ('in-progress', 'rolling-back') ORDER BY s.id
                """) {
                lines.append(["secret_id", "step", "attempt", "started_at", "ended_at", "outcome", "owner", "lock_owner", "expires_at", "fence"].map { column in
                    "\(column)=\(String(describing: try? row.value(column, as: String?.self)) + String(describing: try? row.value(column, as: Double?.self)) + String(describing: try? row.value(column, as: Int64?.self)))"
                }.joined(separator: " "))
            }
            for row in try await session.rows("SELECT state, wait_event_type, wait_event, left(query, 120) AS q, extract(epoch FROM xact_start)::double precision AS xact FROM pg_stat_activity WHERE datname = 'postgres'") {
                lines.append("session \(try row.value("state", as: String?.self) ?? "-") \(try row.value("wait_event_type", as: String?.self) ?? "-") \(try row.value("wait_event", as: String?.self) ?? "-") xact=\(try row.value("xact", as: Double?.self) ?? 0) \(try row.value("q", as: String?.self) ?? "")")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// Two idle daemons that would not look for work for minutes (long lease, long poll): a
    /// `rotor rotate --queue` on another host is started at once by one of them, woken by NOTIFY, and
    /// runs whatever the policy's schedule says. On a state of one host, --queue is refused.
    @Test func aQueuedRotationIsStartedByAnIdleDaemonWithoutWaitingForAPoll() async throws {
        try await Self.withOwnMoto { moto in try await queued(moto) }
    }

    func queued(_ moto: MotoSettings.Settings) async throws {
        let fleet = try await Fleet(secrets: 3, moto: moto, age: 1)
        defer { Task { await fleet.state.close() } }
        let daemons = try (0..<2).map { _ in try fleet.daemon(arguments: ["--lease-ttl", "600", "--claim-poll", "600"]) }
        let cli = try fleet.cli()
        // Both heard from (their listeners start before their first heartbeat), the schedule planned.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let listed = try await cli.run(["daemons", "--json"]).stdout.split(separator: "\n").count
            let planned = try await fleet.state.scheduleEntries(in: .all).count
            if listed == 2, planned == 3 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .seconds(2))
        #expect(try await fleet.tally().rotations == 0, "nothing is due: rotated a day ago, every 30 days")
        let target = fleet.ids[1]
        let queued = try await cli.run(["rotate", target.rawValue, "--queue", "--json"])
        let answer = try JSONSerialization.jsonObject(with: Data(queued.stdout.utf8)) as? [String: Any]
        #expect(queued.status == 0 && answer?["queued"] as? Bool == true, "\(queued.output.prefix(2000))")
        // Without the wake-up neither daemon would look again for minutes.
        let tally = try await fleet.waitUntilEveryoneRotated(1, timeout: 45)
        #expect(tally == Fleet.Tally(rotations: 1, succeeded: 1, secrets: 1, open: 0), "\(tally)\n\(daemons.map { String($0.output.suffix(1500)) }.joined(separator: "\n---\n"))")
        let answered = try await fleet.state.read("test") { session in
            try await session.row("SELECT r.trigger, r.secret_id, s.requested_at FROM rotation r JOIN schedule s ON s.secret_id = r.secret_id")
        }
        #expect(try answered?.value("trigger", as: String.self) == "request")
        #expect(try answered?.value("secret_id", as: String.self) == target.rawValue)
        #expect(try answered?.value("requested_at", as: Double?.self) == nil, "the request is answered and forgotten")
        let audit = try await cli.run(["audit", target.rawValue, "--json"])
        #expect(audit.stdout.contains("rotation.request"))
        await Self.stop(daemons)

        var local = try CLI()
        local.environment = ["ROTOR_STORE": "embedded"]
        let refused = try await local.run(["rotate", "/dev/app/api-key/x", "--queue"])
        #expect(refused.status != 0 && refused.output.contains("--state postgres://"), "\(refused.output)")
    }
}
