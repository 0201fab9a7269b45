import ArgumentParser
import Foundation
import RotorAWS
import RotorCore
import RotorHTTP
import RotorDaemon
import RotorPolicies
import RotorRotators
import RotorPostgres

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check policy files: every error with file:line:column and what was expected.",
        discussion: "With an existing --home, also checks that no secret it knows is matched by two policies. Exit 0 when valid, 64 otherwise.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "A policy directory or file.") var path: String = "schedules"

    func run() async throws {
        let set: PolicySet
        let rotators = try await global.rotators()
        do {
            set = try PolicyLoader(rotators: rotators).load(path: path)
        } catch {
            error.errors.forEach { Output.error("\($0)") }
            Output.error("\(error.errors.count) error(s) in \(path)")
            throw ExitCode(ExitStatus.usage)
        }
        var overlaps: [PolicyError] = []
        if FileManager.default.fileExists(atPath: global.homeURL.appendingPathComponent("state.sqlite").path) {
            try await runReportingErrors {
                let runtime = try await Runtime.open(global)
                let ids = try await runtime.state.managedSecrets(in: .all).map(\.id)
                overlaps = set.overlaps(among: ids)
                if overlaps.isEmpty { overlaps = try await Self.valuesWithoutTheirSystem(ids, set, runtime.engine) }
                overlaps += await DependencyChecks.cycles(set, managed: try await runtime.state.managedSecrets(in: .all), engine: runtime.engine)
            }
        } else {
            overlaps = await DependencyChecks.cycles(set, managed: [], engine: nil)
        }
        guard overlaps.isEmpty else {
            overlaps.forEach { Output.error("\($0)") }
            throw ExitCode(ExitStatus.usage)
        }
        for policy in set.policies {
            for weakness in rotators.securityWeaknesses(policy.rotator, options: policy.options) {
                Output.error("warning: \(policy.location): policy '\(policy.name)' weakens security: \(weakness)")
            }
        }
        Output.line("ok: \(set.policies.count) policies in \(set.files.count) file(s)")
    }
}

extension Validate {
    /// A policy whose rotator makes values without a target, over a secret whose value belongs to an
    /// outside system (a database, GitHub, Cognito, Anthropic): an error at the policy's line.
    static func valuesWithoutTheirSystem(_ ids: [SecretID], _ set: PolicySet, _ engine: RotationEngine) async throws -> [PolicyError] {
        var errors: [PolicyError] = []
        for id in ids {
            guard let policy = set.policy(for: id) else { continue }
            do {
                try await engine.requireTarget(id, rotator: policy.rotator, options: policy.options) { try await engine.store.getSecretValue(id, .current).value }
            } catch let error as RotorError where error.code == .invalidOption {
                errors.append(PolicyError(policy.location, "policy '\(policy.name)' on secret \(id): \(error.summary). What to do: \(error.remedy ?? "")"))
            } catch {
                Output.error("warning: \(policy.location): could not check secret \(id) against policy '\(policy.name)': \(RotorError.wrapping(error, secret: id).summary)")
            }
        }
        return errors
    }
}

struct Plan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show when each secret rotates next, and why. Changes nothing.",
        discussion: "Covers managed secrets and store secrets that a policy matches. --horizon lists every rotation up to then, assuming each succeeds.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Policy directory or file.") var policies: String = "schedules"
    @Option(help: "Plan as of this time (ISO 8601, default now).") var at: String?
    @Option(help: "List every rotation up to this far ahead (e.g. 365d).") var horizon: String?
    @Option(help: "Explain one secret's plan step by step.") var explain: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await runReportingErrors {
            let set = try Self.validatePolicies(policies, rotators: try await global.rotators())
            let now = try instant()
            let runtime = try await Runtime.open(global)
            let rows = try await PlanRows.build(runtime: runtime, policies: set, now: now, horizon: try horizonDuration())
            if let explain {
                let id = try await runtime.secretID(explain)
                guard let row = rows.first(where: { $0.id == id }) else {
                    throw RotorError(.notManaged, "no policy covers this secret", secret: id, remedy: "check the match patterns in \(policies)")
                }
                row.explanation.forEach(Output.line)
                try await DependencyChecks.explain(id, set, runtime: runtime).forEach(Output.line)
                return
            }
            if json { Output.json(["at": now.formatted(.iso8601), "secrets": rows.map(\.json)]); return }
            rows.forEach { Output.line($0.text) }
        }
    }

    func instant() throws -> Date {
        guard let at else { return Date() }
        guard let date = try? Date(at, strategy: .iso8601) else {
            throw RotorError(.invalidParameter, "--at '\(at.prefix(40))' is not an ISO 8601 time such as 2027-01-31T03:00:00Z")
        }
        return date
    }

    func horizonDuration() throws -> PolicyDuration? {
        guard let horizon else { return nil }
        guard let duration = PolicyDuration(horizon) else {
            throw RotorError(.invalidParameter, "--horizon '\(horizon.prefix(20))' is not \(PolicyDuration.unitsHelp)")
        }
        return duration
    }
}

struct Daemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the scheduler and the HTTP API until SIGTERM/SIGINT.",
        discussion: """
            One daemon acts per state database (a lease); others stand by and take over when it lapses. \
            API: /healthz, /metrics, /api/observability/secrets[/ID], /api/rotations[/ID] (batches: POST needs ROTOR_API_TOKEN). \
            Set ROTOR_API_TOKEN to require a bearer token.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Policy directory or file.") var policies: String = "schedules"
    @Option(help: "API address host:port (default 127.0.0.1:8080; port 0 picks a free one).") var listen: String = "127.0.0.1:8080"
    @Option(help: "Webhook URL for alerts (repeatable; env ROTOR_WEBHOOKS, comma-separated).") var webhook: [String] = []
    @Option(help: "Rotations at once (on a --state postgres://… state: across every daemon, counting every held lock).") var maxConcurrent = 8
    @Option(help: "Rotations at once per rotator kind (on a shared state: across every daemon).") var maxConcurrentPerRotator = 4
    @Option(help: "On a shared state: seconds between looks for due work when no wake-up (NOTIFY) comes.") var claimPoll = 5.0
    @Option(help: "Lease time in seconds: a standby takes over this long after the active daemon dies.") var leaseTtl = 15.0
    @Flag(help: "Create secrets named exactly in the policies that the store lacks (first run of the examples).") var createMissing = false
    @Option(help: "Write the API port to this file once listening.") var portFile: String?
    @Flag(help: "Also emit per-secret series on /metrics (next rotation, last success); their number grows with the fleet.")
    var perSecretMetrics = false
    @Flag(help: "Serve the API on a non-loopback address without ROTOR_API_TOKEN (anyone who can reach it reads secret metadata).")
    var insecureNoToken = false
    @Flag(help: "Accept POST /api/rotations on a non-loopback address, where the token crosses the network in clear text (prefer a TLS proxy on this host).")
    var allowBatchesOffLoopback = false
    @Flag(help: "Also write CloudWatch metrics as Embedded Metric Format lines on standard output, every minute (for the awslogs driver or the CloudWatch agent).")
    var emf = false
    @Option(help: "Ship the audit log to cloudwatch:LOG-GROUP, one stream per UTC day (repeatable).") var auditSink: [String] = []
    @Option(help: "Also send alerts to eventbridge:BUS or sns:TOPIC-ARN (repeatable).") var alertSink: [String] = []
    @Option(help: "Suspicious-access rules in force, comma-separated: cross-service, cross-environment, denied-reads (or none).")
    var accessRules = "cross-service,cross-environment,denied-reads"
    @Option(help: "Alert when a secret's access-denied reads in the window exceed this.") var accessDeniedThreshold = 5
    @Option(help: "The window of the denied-reads rule and of alert repetition (e.g. 10m).") var accessWindow = "10m"
    @Option(help: "Report tokens for agents: lines 'SERVICE@ENVIRONMENT SHA256-OF-TOKEN' (env ROTOR_REPORT_TOKENS_FILE).") var reportTokens: String?
    @Flag(help: "Accept access reports on a non-loopback address, where report tokens cross the network in clear text (prefer a TLS proxy).")
    var allowReportsOffLoopback = false

    func validate() throws {
        guard leaseTtl.isFinite, (1...3600).contains(leaseTtl) else {
            throw ValidationError("--lease-ttl must be seconds from 1 to 3600, not \(leaseTtl)")
        }
        guard (1...1000).contains(maxConcurrent) else { throw ValidationError("--max-concurrent must be from 1 to 1000, not \(maxConcurrent)") }
        guard (1...1000).contains(maxConcurrentPerRotator) else {
            throw ValidationError("--max-concurrent-per-rotator must be from 1 to 1000, not \(maxConcurrentPerRotator)")
        }
        guard claimPoll.isFinite, (0.1...600).contains(claimPoll) else { throw ValidationError("--claim-poll must be seconds from 0.1 to 600, not \(claimPoll)") }
    }

    /// The bearer token, or nil on loopback; off loopback a token is required unless waived explicitly.
    func apiToken(host: String) throws -> String? {
        let token = global.env["ROTOR_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        guard token == nil, !OutboundURL.isLoopback(host) else { return token }
        guard insecureNoToken else {
            throw RotorError(
                .invalidParameter, "refusing to serve the API on \(host) without a token",
                remedy: "set ROTOR_API_TOKEN (clients send 'Authorization: Bearer TOKEN'), listen on 127.0.0.1, or pass --insecure-no-token to accept the risk")
        }
        Output.error("warning: the API on \(host) has no token (--insecure-no-token): anyone who can reach it reads secret metadata")
        return nil
    }

    func run() async throws {
        try await runReportingErrors {
            let (host, port) = try parseListen()
            let token = try apiToken(host: host)
            let emf = self.emf ? EMFMetrics(EMFMetrics.Configuration(fixed: ["component": "daemon"])) : nil
            let metrics = RotorMetrics(perSecretSeries: perSecretMetrics, also: emf)
            let runtime = try await Runtime.open(global, actor: "daemon", lockTTL: max(2 * leaseTtl, 60), metrics: metrics.factory)
            let schedule = runtime.shared
            _ = try Plan.validatePolicies(policies, rotators: runtime.engine.rotators)
            let webhooks = try (webhook + (global.env["ROTOR_WEBHOOKS"]?.split(separator: ",").map(String.init) ?? [])).map { raw in
                guard let url = URL(string: raw), url.scheme == "http" || url.scheme == "https" else {
                    throw RotorError(.invalidParameter, "webhook '\(raw.prefix(100))' is not an http(s) URL")
                }
                return url
            }
            var options = RotorDaemon.Daemon.Options(
                policiesPath: policies, host: host, port: port, token: token,
                webhooks: webhooks,
                scheduler: SchedulerConfiguration(
                    maxConcurrent: maxConcurrent, maxConcurrentPerRotator: maxConcurrentPerRotator, leaseTTL: leaseTtl, scope: runtime.scope,
                    claimPoll: .milliseconds(Int64(claimPoll * 1000))),
                createMissing: createMissing, portFile: portFile, perSecretMetrics: perSecretMetrics, batchAPIRefusal: batchAPIRefusal(host: host))
            options.scheduler.version = RotorCommand.configuration.version
            options.extraServices = emf.map { [EMFFlushService($0)] } ?? []
            options.auditSinks = try SinkOptions.auditSinks(auditSink, global, logger: runtime.logger)
            options.alertSinks = try SinkOptions.alertSinks(alertSink, global)
            options.accessRules = try accessRuleSettings()
            options.reportTokens = try reportTokenSettings(host: host)
            try await RotorDaemon.Daemon(engine: runtime.engine, schedule: schedule, options: options, logger: runtime.logger, metrics: metrics).run()
        }
    }

    func reportTokenSettings(host: String) throws -> ReportTokens {
        var refusal: String?
        if !OutboundURL.isLoopback(host) {
            if allowReportsOffLoopback {
                Output.error("warning: POST /api/access is accepted on \(host) (--allow-reports-off-loopback): report tokens cross the network in clear text")
            } else {
                refusal = "POST /api/access is refused on \(host): report tokens would cross the network in clear text; listen on 127.0.0.1 behind a TLS proxy, or start the daemon with --allow-reports-off-loopback"
            }
        }
        guard let path = reportTokens ?? global.env["ROTOR_REPORT_TOKENS_FILE"] else { return ReportTokens(refusal: refusal) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RotorError(.invalidInput, "cannot read the report tokens file \(path.printable(limit: 200))")
        }
        return try ReportTokens.parse(text, refusal: refusal)
    }

    func accessRuleSettings() throws -> AccessRules {
        var enabled: Set<AccessRules.Rule> = []
        for name in accessRules.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where name != "none" {
            guard let rule = AccessRules.Rule(rawValue: name) else {
                throw RotorError(.invalidParameter, "--access-rules: '\(name.printable(limit: 40))' is not cross-service, cross-environment, denied-reads or none")
            }
            enabled.insert(rule)
        }
        guard let window = PolicyDuration(accessWindow), window.seconds > 0 else { throw RotorError(.invalidParameter, "--access-window '\(accessWindow.printable(limit: 20))' is not a duration such as 10m") }
        guard accessDeniedThreshold >= 0 else { throw RotorError(.invalidParameter, "--access-denied-threshold must not be negative") }
        return AccessRules(enabled: enabled, deniedThreshold: accessDeniedThreshold, window: TimeInterval(window.seconds))
    }

    /// Off loopback, batches through the API only when waived (the token would travel in clear text).
    func batchAPIRefusal(host: String) -> String? {
        guard !OutboundURL.isLoopback(host) else { return nil }
        guard allowBatchesOffLoopback else {
            return "POST /api/rotations is refused on \(host): the API is plain HTTP and the token would cross the network; listen on 127.0.0.1 behind a TLS proxy, or start the daemon with --allow-batches-off-loopback"
        }
        Output.error("warning: POST /api/rotations is accepted on \(host) (--allow-batches-off-loopback): the token that starts rotations crosses the network in clear text")
        return nil
    }

    func parseListen() throws -> (String, Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw RotorError(.invalidParameter, "--listen '\(listen.prefix(60))' is not host:port")
        }
        return (String(listen[..<colon]), port)
    }
}

extension Plan {
    /// Loads policies for commands that need them valid.
    static func validatePolicies(_ path: String, rotators: RotatorRegistry) throws -> PolicySet {
        do { return try PolicyLoader(rotators: rotators).load(path: path) } catch {
            throw RotorError(.invalidInput, "policies in \(path) are invalid:\n\(error)", remedy: "run 'rotor validate \(path)'")
        }
    }
}
