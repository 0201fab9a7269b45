import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import RotorAWS
import RotorAgent
import RotorCore
import RotorSecrets
import ServiceLifecycle
import Synchronization

struct Agent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve secrets to local applications: AWS's Secrets Manager Agent's API on 127.0.0.1, with a cache.",
        discussion: """
            GET /secretsmanager/get?secretId=ID and GET /v1/ID (versionId, versionStage, refreshNow), GET /ping, GET /metrics. \
            Every request but /ping carries the SSRF token (X-Aws-Parameters-Secrets-Token) from AWS_TOKEN, AWS_SESSION_TOKEN or \
            AWS_CONTAINER_AUTHORIZATION_TOKEN (file://PATH reads a file); without one the agent does not start. \
            --config takes AWS's agent's TOML keys. The secrets come from --store (embedded or aws). The agent registers in \
            $ROTOR_HOME/agents (or ROTOR_AGENTS_DIR) so that rotor's rotations on this host drop the old value at once. \
            With --lambda-extension it is a Lambda extension instead: settings from the Parameters and Secrets extension's \
            variables, AWS_SESSION_TOKEN as the token, registered with the Extensions API until SHUTDOWN.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("A TOML file with AWS's agent's keys (http_port, ttl_seconds, cache_size, …).", valueName: "file")) var config: String?
    @Option(help: "Write the port to this file once listening (with http_port = 0).") var portFile: String?
    @Flag(help: "Do not register for rotation notices (the TTL alone then bounds how long an old value is served).")
    var noRotationNotices = false
    @Flag(help: "Run as a Lambda extension (AWS_LAMBDA_RUNTIME_API; PARAMETERS_SECRETS_EXTENSION_* and SECRETS_MANAGER_TTL).")
    var lambdaExtension = false
    @Option(help: "The extension's name: its file name under /opt/extensions.") var extensionName = "rotor-agent"
    @Flag(help: "Also write CloudWatch metrics (retrievals, with the secret as a property; access denied) as Embedded Metric Format lines on standard output, every minute.")
    var emf = false
    @Option(help: "Report reads to rotor's daemon at this URL (https://, or http:// on loopback), with the report token in ROTOR_REPORT_TOKEN; needs --service.")
    var reportTo: String?
    @Option(help: "The consuming service this agent serves, as SERVICE@ENVIRONMENT (e.g. shop@prod), for access reports.") var service: String?

    func run() async throws {
        try await runReportingErrors {
            let (settings, runtimeAPI, upstreamTimeout) = try loadSettings()
            let token = try SSRFToken.resolve(variables: settings.ssrfEnvironmentVariables, environment: global.env)
            var options = global
            // The file's region and log level apply unless the command line names its own.
            options.region = options.region ?? settings.region
            options.logLevel = options.logLevel ?? Self.logLevel(settings.logLevel)
            let registry = PrometheusCollectorRegistry()
            let emf = self.emf ? EMFMetrics(EMFMetrics.Configuration(fixed: ["component": "agent"])) : nil
            let metrics: any MetricsFactory = emf.map { MultiplexMetricsHandler(factories: [PrometheusMetricsFactory(registry: registry), $0]) }
                ?? PrometheusMetricsFactory(registry: registry)
            let (store, _, logger) = try await Runtime.openStores(options, metrics: metrics)
            let cache = SecretCache(store: store, configuration: SecretCache.Configuration(
                ttl: TimeInterval(settings.ttlSeconds), capacity: settings.cacheSize, ignoreTransientErrors: settings.ignoreTransientErrors,
                maxStaleness: TimeInterval(settings.maxStalenessSeconds), upstreamTimeout: upstreamTimeout), metrics: metrics)
            let reporter = try accessReporter(logger: logger)
            let flush: [any Service] = (emf.map { [EMFFlushService($0)] } ?? []) + (reporter.map { [$0] } ?? [])
            // Inside Lambda no rotor process shares the host: no rotation notices.
            let signer = noRotationNotices || lambdaExtension ? nil : NoticeSigner.random()
            let routes = AgentRoutes(cache: cache, token: token, configuration: settings, scope: try options.scope(), notices: signer, metrics: registry,
                                     reporter: reporter)
            let directory = AgentDirectory.resolve(environment: options.env, home: options.homeURL)
            let (listening, announce) = AsyncStream.makeStream(of: Int.self)
            let registration = Registration()
            let portFile = portFile
            let app = Application(
                router: routes.router(),
                // AWS's agent closes a connection after 61 s: a client that never finishes its request cannot hold a slot.
                server: .http1(configuration: .init(idleTimeout: .seconds(61))),
                configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: settings.httpPort), serverName: "rotor-agent"),
                services: flush,
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? 0
                    logger.notice("rotor agent listening", metadata: ["url": "http://127.0.0.1:\(port)"])
                    if let signer { registration.register(in: directory, port: port, signer: signer, logger: logger) }
                    if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
                    announce.yield(port)
                },
                logger: logger)
            defer { registration.remove() }
            guard let runtimeAPI else { return try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint]) }
            let loop = ExtensionLoop(client: ExtensionsAPIClient(runtimeAPI: runtimeAPI), name: extensionName, listening: listening, logger: logger)
            var configuration = ServiceGroupConfiguration(
                services: [.init(service: app), .init(service: loop, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            // Lambda gives external extensions 2 s after SHUTDOWN before SIGKILL: reads still running after 1.5 s are cut.
            configuration.maximumGracefulShutdownDuration = .milliseconds(1500)
            configuration.maximumCancellationDuration = .milliseconds(300)
            let group = ServiceGroup(configuration: configuration)
            try await group.run()
        }
    }

    /// The access reporter `--report-to` and `--service` ask for (both or neither).
    func accessReporter(logger: Logger) throws -> AccessReporter? {
        switch (reportTo, service) {
        case (nil, nil): return nil
        case (let url?, let reader?):
            guard let daemon = URL(string: url), daemon.host != nil else { throw RotorError(.invalidParameter, "--report-to '\(url.printable(limit: 100))' is not a URL") }
            return try AccessReporter(daemon: daemon, token: global.env["ROTOR_REPORT_TOKEN"] ?? "", reader: reader, logger: logger)
        default: throw RotorError(.invalidParameter, "--report-to and --service go together")
        }
    }

    /// The TOML file's settings, or, as a Lambda extension, the extension's variables (with the Runtime
    /// API's address and the upstream timeout).
    func loadSettings() throws -> (AgentConfiguration, runtimeAPI: String?, upstreamTimeout: Duration?) {
        guard lambdaExtension else {
            guard let config else { return (AgentConfiguration(), nil, nil) }
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw RotorError(.invalidInput, "cannot read the agent configuration \(config.printable(limit: 200))")
            }
            return (try AgentConfiguration.parse(text, file: config), nil, nil)
        }
        guard config == nil else { throw RotorError(.invalidInput, "--config does not apply to --lambda-extension (it reads the extension's variables)") }
        guard let runtimeAPI = global.env["AWS_LAMBDA_RUNTIME_API"], !runtimeAPI.isEmpty else {
            throw RotorError(.invalidInput, "AWS_LAMBDA_RUNTIME_API is not set", remedy: "--lambda-extension runs inside Lambda (or its emulator) only")
        }
        let settings = try LambdaExtensionSettings.fromEnvironment(global.env)
        if settings.ttlClamped { FileHandle.standardError.write(Data("SECRETS_MANAGER_TTL exceeds the maximum of 300 s; using 300 s\n".utf8)) }
        return (settings.agent, runtimeAPI, settings.upstreamTimeout)
    }

    static func logLevel(_ level: AgentConfiguration.LogLevel) -> String {
        switch level {
        case .debug: "debug"
        case .info: "info"
        case .warn: "warning"
        case .error: "error"
        case .none: "critical"
        }
    }

    /// This agent's registration for rotation notices, released at exit.
    final class Registration: Sendable {
        let hold = Mutex<AgentDirectory.Hold?>(nil)

        func register(in directory: AgentDirectory, port: Int, signer: NoticeSigner, logger: Logger) {
            do {
                let registered = try directory.register(port: port, signer: signer)
                hold.withLock { $0 = registered }
            } catch {
                logger.warning("not registered for rotation notices; the TTL bounds how long an old value is served", metadata: ["error": "\(error)"])
            }
        }

        func remove() { hold.withLock { $0?.release(); $0 = nil } }
    }
}
