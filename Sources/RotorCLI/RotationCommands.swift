import ArgumentParser
import Foundation
import RotorCore
import RotorDaemon
import RotorPolicies

struct Rotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rotate a secret now (or resume its interrupted rotation), or many at once by selection, and print the outcome.",
        discussion: """
            Many: --match, --policy, --service and --environment select managed secrets (all given must hold); dependencies rotate \
            first (depends_on, a master secret, a signing key). Try --dry-run first. Ctrl-C stops starting rotations; running ones finish.
            Exit 0 when rotated, 2 when some need a person, 4 when a rotation failed (rolled back, or kept pending to finish later) \
            or was skipped or not started, 5 when quarantined, 130 when interrupted.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret id (omit it to select many).") var id: String?
    @Flag(help: "Read the new value from standard input (manual rotator).") var valueStdin = false
    @Option(help: ArgumentHelp("When AWSPENDING is stuck on another version: refuse or resume.", valueName: "policy"))
    var stuckPending: String = StuckPendingPolicy.refuse.rawValue
    @Flag(help: "Print JSON (many: one line per secret as it finishes, then a summary line).") var json = false
    @Option(help: "Policy directory or file (the policies' depends_on, --policy, and re-planning after each rotation).") var policies: String = "schedules"
    @OptionGroup var batch: BatchOptions
    @Flag(help: "Hand the rotation to the daemons sharing the state (--state postgres://…): the first one free starts it, woken at once, whatever the policy's schedule says.")
    var queue = false

    func validate() throws {
        guard StuckPendingPolicy(rawValue: stuckPending) != nil else { throw ValidationError("--stuck-pending must be refuse or resume") }
        if queue, id == nil || valueStdin { throw ValidationError("--queue takes one secret id and no --value-stdin (the daemons generate the value)") }
        try batch.check(single: id, valueStdin: valueStdin, environment: global.environment)
    }

    func run() async throws {
        try await runReportingErrors {
            let runtime = try await Runtime.open(global, stuckPending: StuckPendingPolicy(rawValue: stuckPending) ?? .refuse)
            guard let id else { return try await rotateMany(runtime) }
            let secret = try await runtime.secretID(id)
            if queue { return try await queueForDaemons(secret, runtime) }
            let supplied = valueStdin ? try StdinValue.read(secret: secret) : nil
            let report = try await runtime.engine.rotate(secret, suppliedValue: supplied, trigger: "cli")
            let set = try? loadPolicies(runtime)
            if report.succeeded { try await replan(secret, runtime: runtime, policies: set) }
            if json { Output.json(Render.reportJSON(report)) } else { Render.reportText(report).forEach(Output.line) }
            if report.succeeded { await runReloadHooks(runtime, policies: set, for: [secret]) }
            if let error = report.error {
                Output.error("error: \(error)")
                throw ExitCode(ExitStatus.rotationFailed)
            }
        }
    }
}

extension Rotate {
    /// `--queue`: records the request in the shared schedule and wakes the daemons; audited.
    func queueForDaemons(_ id: SecretID, _ runtime: Runtime) async throws {
        guard let claims = runtime.shared as? any ClaimingStore else {
            throw RotorError(.invalidRequest, "--queue hands rotations to daemons sharing a state, and this state is this host's own", secret: id,
                             remedy: "use --state postgres://… (ROTOR_STATE_URL) as the daemons do, or rotate it here without --queue")
        }
        let managed = try await runtime.engine.requireManaged(id)
        guard managed.status != .quarantined else {
            throw RotorError(.invalidRequest, "\(id) is quarantined: no daemon would rotate it", secret: id,
                             remedy: "find out why ('rotor history \(id)'), then 'rotor unquarantine \(id)' and queue it again")
        }
        let now = Date()
        let audit = AuditEvent(at: now, actor: runtime.engine.configuration.actor, secret: id, operation: "rotation.request", outcome: "queued")
        try await claims.requestRotation(id, at: now, audit: audit)
        if json {
            Output.json(["secret": id.rawValue, "queued": true, "requestedAt": now.formatted(.iso8601)])
        } else {
            Output.line("queued a rotation of \(id) for the daemons; 'rotor history \(id)' shows it once one has run it")
        }
    }

    /// Moves the secret's scheduled deadline on from this rotation (see ``PolicyReconciler/replanAfterRotation(_:policies:)``).
    func replan(_ id: SecretID, runtime: Runtime, policies set: PolicySet?) async throws {
        guard let schedule = runtime.state as? any SchedulingStore else { return }
        try await PolicyReconciler(engine: runtime.engine, schedule: schedule, clock: SystemClock(), logger: runtime.logger)
            .replanAfterRotation(id, policies: set)
    }

    func loadPolicies(_ runtime: Runtime) throws -> PolicySet { try PolicyLoader(rotators: runtime.engine.rotators).load(path: policies) }

    /// The reload hooks of the secrets just rotated, at once (the daemon, or `rotor reload-hooks run`,
    /// retries failures and covers everything else).
    func runReloadHooks(_ runtime: Runtime, policies set: PolicySet?, for secrets: Set<SecretID>) async {
        guard let set, !secrets.isEmpty, let dispatcher = ReloadHooksCommand.dispatcher(runtime, policies: set) else { return }
        do { try await dispatcher.pass(only: secrets) } catch { Output.error("warning: reload hooks: \(error)") }
    }
}

struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move AWSCURRENT back to the AWSPREVIOUS version (re-applying it to the rotator's target, if any).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret id.") var id: String

    func run() async throws {
        try await runReportingErrors {
            let runtime = try await Runtime.open(global)
            let id = try await runtime.secretID(id)
            let (restored, replaced) = try await runtime.engine.rollbackToPrevious(id)
            Output.line("rolled back \(id): AWSCURRENT is version \(restored) again; version \(replaced) is now AWSPREVIOUS")
        }
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a secret's rotations with their steps, attempts, durations and errors.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret id.") var id: String
    @Option(help: "At most this many rotations, newest first.") var limit = 20
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await runReportingErrors {
            let runtime = try await Runtime.open(global)
            let id = try await runtime.secretID(id)
            _ = try await runtime.engine.requireManaged(id)
            let rotations = try await runtime.state.rotations(of: id, limit: max(1, limit))
            if json {
                Output.json(["secret": id.rawValue, "rotations": rotations.map(Render.rotationJSON)])
            } else if rotations.isEmpty {
                Output.line("\(id) has not been rotated yet")
            } else {
                rotations.flatMap(Render.rotationText).forEach(Output.line)
            }
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One line per managed secret: rotator, last rotated, status, failures.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await runReportingErrors {
            let runtime = try await Runtime.open(global)
            let secrets = try await runtime.state.managedSecrets(in: runtime.scope)
            let rotators = runtime.engine.rotators
            // On a shared state: who holds each secret right now (a daemon's claim, a batch, a `rotor rotate`).
            let claims = try await (runtime.shared as? any ClaimingStore)?.claims(in: runtime.scope, now: Date()) ?? []
            let claimOf = Dictionary(claims.map { ($0.secret, $0) }, uniquingKeysWith: { first, _ in first })
            if json {
                Output.json(["secrets": secrets.map { secret in
                    var item = Render.managedJSON(secret).merging(["securityWeaknesses": rotators.securityWeaknesses(secret.rotator, options: secret.options)]) { $1 }
                    if let claim = claimOf[secret.id] { item["claimedBy"] = claim.owner; item["claimExpiresAt"] = claim.expiresAt.formatted(.iso8601) }
                    return item
                }])
                return
            }
            for secret in secrets {
                let weaknesses = rotators.securityWeaknesses(secret.rotator, options: secret.options).map { "  WEAKENED: \($0)" }.joined()
                let claim = claimOf[secret.id].map { "  claimed-by=\($0.owner) until \(Output.timestamp($0.expiresAt))" } ?? ""
                Output.line("\(secret.id)  \(secret.rotator)  last-rotated=\(Output.timestamp(secret.lastRotatedAt))  status=\(secret.status.rawValue)  failures=\(secret.failedRuns)\(claim)\(weaknesses)")
            }
        }
    }
}

struct Unquarantine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Clear a secret's quarantine so it may rotate again.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret id.") var id: String

    func run() async throws {
        try await runReportingErrors {
            let runtime = try await Runtime.open(global)
            let id = try await runtime.secretID(id)
            try await runtime.engine.unquarantine(id)
            Output.line("\(id) is active again; rotate it with 'rotor rotate \(id)'")
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show audit events (never values), oldest first.",
        discussion: "--json prints JSON lines, one event each, the records the audit sinks ship. --ship cloudwatch:LOG-GROUP ships every event not yet shipped there and prints how many.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret id (all secrets when omitted).") var id: String?
    @Option(help: "At most this many events (the newest).") var limit = 100
    @Flag(help: "Print JSON lines.") var json = false
    @Option(help: "Ship the audit log to this sink (cloudwatch:LOG-GROUP) and exit.") var ship: String?

    func run() async throws {
        try await runReportingErrors {
            let runtime = try await Runtime.open(global)
            if let ship {
                guard let store = runtime.state as? any SchedulingStore else { throw RotorError(.storeUnavailable, "the state store cannot ship its audit log") }
                let shipper = AuditShipper(store: store, sinks: try SinkOptions.auditSinks([ship], global, logger: runtime.logger), clock: SystemClock(), logger: runtime.logger)
                Output.line("shipped \(try await shipper.shipAll()) audit events to \(ship)")
                return
            }
            var secret: SecretID?
            if let id { secret = try await runtime.secretID(id) }
            let events = try await runtime.state.auditEvents(of: secret, limit: max(1, limit))
                .filter { event in event.secret.map(runtime.scope.contains) ?? true }
            if json { events.forEach { Output.line(AuditRecord.line($0)) }; return }
            for event in events {
                Output.line("\(Output.timestamp(event.at))  \(event.actor)  \(event.secret?.rawValue ?? "-")  \(event.operation)  \(event.outcome)\(event.detail.map { "  \($0)" } ?? "")")
            }
        }
    }
}
