import ArgumentParser
import Foundation
import Hummingbird
import Prometheus
import RotorAgent
import RotorCore
import RotorSecrets
import Synchronization

struct Agent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve secrets to local applications: AWS's Secrets Manager Agent's API on 127.0.0.1, with a cache.",
        discussion: """
            GET /secretsmanager/get?secretId=ID and GET /v1/ID (versionId, versionStage, refreshNow), GET /ping. Every request but \
            /ping carries the SSRF token (X-Aws-Parameters-Secrets-Token) from AWS_TOKEN, AWS_SESSION_TOKEN or \
            AWS_CONTAINER_AUTHORIZATION_TOKEN (file://PATH reads a file); without one the agent does not start. \
            --config takes AWS's agent's TOML keys. The secrets come from --store (embedded or aws).
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("A TOML file with AWS's agent's keys (http_port, ttl_seconds, cache_size, …).", valueName: "file")) var config: String?
    @Option(help: "Write the port to this file once listening (with http_port = 0).") var portFile: String?
    @Flag(help: "Do not register for rotation notices (the TTL alone then bounds how long an old value is served).")
    var noRotationNotices = false

    func run() async throws {
        try await runReportingErrors {
            var settings = AgentConfiguration()
            if let config {
                guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                    throw RotorError(.invalidInput, "cannot read the agent configuration \(config.printable(limit: 200))")
                }
                settings = try AgentConfiguration.parse(text, file: config)
            }
            let token = try SSRFToken.resolve(variables: settings.ssrfEnvironmentVariables, environment: global.env)
            var options = global
            // The file's region and log level apply unless the command line names its own.
            options.region = options.region ?? settings.region
            options.logLevel = options.logLevel ?? Self.logLevel(settings.logLevel)
            let (store, _, logger) = try Runtime.openStores(options)
            let registry = PrometheusCollectorRegistry()
            let cache = SecretCache(store: store, configuration: SecretCache.Configuration(
                ttl: TimeInterval(settings.ttlSeconds), capacity: settings.cacheSize, ignoreTransientErrors: settings.ignoreTransientErrors,
                maxStaleness: TimeInterval(settings.maxStalenessSeconds)), metrics: PrometheusMetricsFactory(registry: registry))
            let signer = noRotationNotices ? nil : NoticeSigner.random()
            let routes = AgentRoutes(cache: cache, token: token, configuration: settings, scope: try options.scope(), notices: signer, metrics: registry)
            let portFile = portFile
            let directory = AgentDirectory.resolve(environment: options.env, home: options.homeURL)
            let registration = Registration()
            let app = Application(
                router: routes.router(),
                // AWS's agent closes a connection after 61 s: a client that never finishes its request cannot hold a slot.
                server: .http1(configuration: .init(idleTimeout: .seconds(61))),
                configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: settings.httpPort), serverName: "rotor-agent"),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? 0
                    logger.notice("rotor agent listening", metadata: ["url": "http://127.0.0.1:\(port)"])
                    if let signer {
                        do { try registration.set(directory.register(port: port, signer: signer)) } catch {
                            logger.warning("not registered for rotation notices; the TTL bounds how long an old value is served", metadata: ["error": "\(error)"])
                        }
                    }
                    if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
                },
                logger: logger)
            defer { registration.remove() }
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        }
    }

    /// This agent's registration file, removed at exit.
    final class Registration: Sendable {
        let file = Mutex<URL?>(nil)
        func set(_ url: URL) { file.withLock { $0 = url } }
        func remove() { file.withLock { if let url = $0 { try? FileManager.default.removeItem(at: url) } } }
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
}
