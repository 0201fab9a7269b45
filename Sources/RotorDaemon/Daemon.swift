import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import RotorCore
import RotorPolicies
import ServiceLifecycle
import UnixSignals

/// Everything `rotor daemon` runs, wired together: the scheduler, the alert dispatcher and the HTTP
/// API in one service group that shuts down gracefully on SIGTERM/SIGINT.
public struct Daemon: Sendable {
    public struct Options: Sendable {
        public var policiesPath: String
        public var host: String
        public var port: Int
        public var token: String?
        public var webhooks: [URL]
        public var scheduler: SchedulerConfiguration
        public var createMissing: Bool
        /// Where to write the bound port (useful with port 0).
        public var portFile: String?
        /// `/metrics` also emits one series per secret (grows with the fleet).
        public var perSecretMetrics: Bool
        /// Why `POST /api/rotations` is refused (the API is off loopback, where the token would travel
        /// in clear text), or nil when batches may be started through the API.
        public var batchAPIRefusal: String?
        /// Services to run beside the daemon's own (e.g. a metrics back end's flush).
        public var extraServices: [any Service] = []
        /// Where the audit log is shipped (CloudWatch Logs) and alerts go besides webhooks (EventBridge, SNS).
        public var auditSinks: [any AuditLogSink] = []
        public var alertSinks: [any AlertSink] = []
        /// What makes a consumer's read suspicious (`POST /api/access`), and who may report reads.
        public var accessRules = AccessRules()
        public var reportTokens = ReportTokens()

        public init(
            policiesPath: String, host: String = "127.0.0.1", port: Int = 8080, token: String? = nil, webhooks: [URL] = [],
            scheduler: SchedulerConfiguration = SchedulerConfiguration(), createMissing: Bool = false, portFile: String? = nil,
            perSecretMetrics: Bool = false, batchAPIRefusal: String? = nil
        ) {
            self.batchAPIRefusal = batchAPIRefusal
            self.perSecretMetrics = perSecretMetrics
            self.policiesPath = policiesPath
            self.host = host
            self.port = port
            self.token = token
            self.webhooks = webhooks
            self.scheduler = scheduler
            self.createMissing = createMissing
            self.portFile = portFile
        }
    }

    let engine: RotationEngine
    let schedule: any SchedulingStore
    let options: Options
    let clock: any RotorClock
    let logger: Logger
    public let metrics: RotorMetrics

    /// - Parameter metrics: where metrics go (default a Prometheus registry of its own, for `/metrics`).
    public init(
        engine: RotationEngine, schedule: any SchedulingStore, options: Options, clock: any RotorClock = SystemClock(), logger: Logger,
        metrics: RotorMetrics? = nil
    ) {
        self.metrics = metrics ?? RotorMetrics(perSecretSeries: options.perSecretMetrics)
        self.engine = engine
        self.schedule = schedule
        self.options = options
        self.clock = clock
        self.logger = logger
    }

    /// Runs until SIGTERM/SIGINT; rotations in flight finish before it returns.
    public func run() async throws {
        let alerts = AlertCenter(outbox: schedule, clock: clock, logger: logger, channels: options.alertSinks.map(\.channel))
        let loader = PolicyLoader(rotators: engine.rotators)
        let path = options.policiesPath
        let scheduler = RotationScheduler(
            engine: engine, schedule: schedule, policies: { () throws -> PolicySet in try loader.load(path: path) }, clock: clock,
            alerts: alerts, metrics: metrics, configuration: options.scheduler, logger: logger, createMissing: options.createMissing)
        let dispatcher = AlertDispatcher(outbox: schedule, webhooks: options.webhooks, clock: clock, logger: logger)
        let reloads = ReloadHookDispatcher(
            outbox: schedule, state: engine.state, store: engine.store, policies: { try loader.load(path: path).policies }, clock: clock, logger: logger)
        let batches = BatchCenter(scheduler: scheduler, logger: logger)
        let access = (schedule as? any AccessLogStore).map { store in
            // The policies the scheduler keeps loaded; the files only before its first pass.
            AccessMonitor(store: store, rules: options.accessRules, alerts: alerts, clock: clock) {
                scheduler.state.policies?.policies ?? (try? loader.load(path: path))?.policies ?? []
            }
        }
        let api = ObservabilityAPI(engine: engine, schedule: schedule, metrics: metrics, scheduler: scheduler, token: options.token, batches: batches,
                                   batchAPIRefusal: options.batchAPIRefusal, access: access, reportTokens: options.reportTokens)
        var sinkServices: [any Service] = []
        if let access { sinkServices.append(DeniedCallFeed(store: schedule, monitor: access, clock: clock, logger: logger)) }
        if !options.auditSinks.isEmpty { sinkServices.append(AuditShipper(store: schedule, sinks: options.auditSinks, clock: clock, logger: logger)) }
        if !options.alertSinks.isEmpty { sinkServices.append(AlertSinkDispatcher(outbox: schedule, sinks: options.alertSinks, clock: clock, logger: logger)) }
        let (logger, portFile, host) = (self.logger, options.portFile, options.host)
        let app = Application(
            router: api.router(),
            configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "rotor"),
            services: [scheduler, dispatcher, reloads, batches] + sinkServices + options.extraServices,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.notice("rotor daemon API listening", metadata: ["url": "http://\(host):\(port)"])
                print("rotor daemon: API on http://\(host):\(port) (/healthz, /metrics, /api/observability/secrets, /api/rotations)")
                if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            },
            logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}
