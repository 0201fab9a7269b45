import CoreMetrics
import Foundation
import Logging
import RotorCore
import RotorRotators
import RotorPostgres
import RotorStorage
import RotorStatePostgres
import RotorAWS
import RotorAgent

/// Wires the adapters together for one command: the embedded store, the state database and the engine.
struct Runtime {
    let store: any SecretStore
    let state: any RotationStateStore
    /// The state store itself (``state`` may be a test hook's wrapper around it): the schedule, outbox and access log.
    let shared: any StateStore
    let engine: RotationEngine
    let scope: EnvironmentScope
    let logger: Logger

    /// Logging and the stores only: for commands that read secrets and rotate nothing (`rotor agent`),
    /// with no engine and no plug-in discovery at start.
    /// - Parameter metrics: where the AWS client counts its calls, if anywhere.
    static func openStores(_ options: GlobalOptions, metrics: (any MetricsFactory)? = nil) async throws -> (store: any SecretStore, state: any StateStore, logger: Logger) {
        let logger = try logger(options)
        let home = options.homeURL
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let (store, state) = try await openStores(options, home: home, clock: SystemClock(), synchronous: try options.synchronousMode(), logger: logger, metrics: metrics)
        return (store, state, logger)
    }

    static func open(
        _ options: GlobalOptions, stuckPending: StuckPendingPolicy = .refuse, actor: String? = nil, lockTTL: TimeInterval = 60,
        metrics: (any MetricsFactory)? = nil
    ) async throws -> Runtime {
        let clock = SystemClock()
        let (openedStore, openedState, logger) = try await openStores(options, metrics: metrics)
        var store = openedStore
        var state: any RotationStateStore = openedState
        #if ROTOR_FAULT_INJECTION
        if let point = options.env["ROTOR_FAULT_KILL_AT"] ?? options.env["ROTOR_FAULT_STOP_AT"] {
            // Test hook for the crash-safety tests (debug builds only): SIGKILL (or SIGSTOP, once) this process at one journal or store point.
            let killSwitch = try KillSwitch(point, signal: options.env["ROTOR_FAULT_KILL_AT"] == nil ? SIGSTOP : SIGKILL)
            store = KillSwitchSecretStore(base: store, killSwitch: killSwitch)
            state = KillSwitchStateStore(base: openedState, killSwitch: killSwitch)
        }
        #endif
        let actor = actor ?? Self.actor(options.env)
        var configuration = EngineConfiguration(
            retry: try options.retryPolicy(), stuckPending: stuckPending, actor: actor, lockTTL: try options.lockTimeToLive(default: lockTTL),
            lockOwner: LocalLockOwner.make(actor: actor), holderIsDead: LocalLockOwner.isDead)
        // The agents of this host drop a rotated secret's old value at once (rotation-aware refresh).
        let notifier = AgentNotifier(directory: AgentDirectory.resolve(environment: options.env, home: options.homeURL), logger: logger)
        configuration.rotationFinished = { secret, version in await notifier.notify(secret, version: version) }
        var engineLogger = logger
        engineLogger[metadataKey: "component"] = "engine"
        let engine = RotationEngine(store: store, state: state, rotators: try await options.rotators(), clock: clock, configuration: configuration, logger: engineLogger)
        return Runtime(store: store, state: state, shared: openedState, engine: engine, scope: try options.scope(), logger: logger)
    }

    /// Opens the secret store and the state database (SQLite in `home`, or PostgreSQL with `--state`).
    /// With the embedded store, the master key also authenticates the rotator and options recorded
    /// for each secret in the state database.
    static func openStores(
        _ options: GlobalOptions, home: URL, clock: SystemClock, synchronous: SQLiteSynchronous, logger: Logger, metrics: (any MetricsFactory)? = nil
    ) async throws -> (any SecretStore, any StateStore) {
        let stateURL = home.appendingPathComponent("state.sqlite")
        let shared = try options.stateURL.map { url throws(RotorError) in try PostgresStateSettings(url: url, environment: options.env) }
        switch try options.storeKind() {
        case .embedded:
            let keyFile = options.env["ROTOR_MASTER_KEY_FILE"].map { URL(fileURLWithPath: $0) } ?? home.appendingPathComponent("master.key")
            let store = try EmbeddedSecretStore(
                url: home.appendingPathComponent("store.sqlite"),
                keySource: .environmentOrFile(environment: options.env, keyFile: keyFile), clock: clock, synchronous: synchronous)
            let state: any StateStore = if let shared {
                try await openShared(shared, authenticator: store.rotatorConfigAuthenticator, logger: logger)
            } else {
                try SQLiteStateStore(
                    url: stateURL, synchronous: synchronous, authenticator: store.rotatorConfigAuthenticator, sealingUnsealedRows: store.sealsLegacyRows)
            }
            try store.finishSealingLegacyRows()
            return (store, state)
        case .aws:
            let state: any StateStore = if let shared {
                try await openShared(shared, authenticator: nil, logger: logger)
            } else {
                try SQLiteStateStore(url: stateURL, synchronous: synchronous)
            }
            let settings = try AWSSettings.resolve(
                region: options.region, profile: options.profile, endpointURL: options.endpointUrl, environment: options.env)
            var awsLogger = logger
            awsLogger[metadataKey: "component"] = "aws"
            let writesPerSecond = try options.awsWritesPerSecond()
            if writesPerSecond == nil { logger.warning("Secrets Manager writes are not limited (--aws-write-tps unlimited): AWS throttles past its quota") }
            // On a shared state every process takes its writes from one bucket: the quota is the account's, not the host's.
            let quota = writesPerSecond.flatMap { rate in (state as? PostgresStateStore)?.writeQuota("secretsmanager/\(settings.region)", perSecond: rate) }
            let client = SecretsManagerClient(
                endpoint: settings.endpoint, region: settings.region, credentials: settings.credentials,
                retry: AWSRetryPolicy(maxAttempts: settings.maxAttempts), writesPerSecond: writesPerSecond ?? .infinity, writeQuota: quota,
                logger: awsLogger, metrics: metrics)
            return (AWSSecretStore(client: client, actor: actor(options.env)) { event in try? await state.appendAudit(event) }, state)
        }
    }

    static func actor(_ env: [String: String]) -> String {
        "cli:\(env["USER"] ?? env["LOGNAME"] ?? "unknown")"
    }

    /// Parses an id and checks it against the environment scope.
    func secretID(_ raw: String) async throws -> SecretID {
        let id = try await store.resolve(nameOrARN: raw)
        try scope.check(id)
        return id
    }
}

/// Logging goes to standard error, once per process.
enum LoggingBootstrap {
    private static let done = Mutex(false)

    static func once(level: Logger.Level) {
        done.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

import Synchronization

/// What the CLI and the daemon need of a state back end: the journal, the schedule and outbox, the access log.
typealias StateStore = RotationStateStore & SchedulingStore & AccessLogStore

extension Runtime {
    /// The process's logger at the options' level (logging set up once).
    static func logger(_ options: GlobalOptions) throws -> Logger {
        let level = try options.level()
        LoggingBootstrap.once(level: level)
        var logger = Logger(label: "rotor")
        logger.logLevel = level
        return logger
    }

    /// Opens the PostgreSQL state, saying so (and what a weaker TLS mode gives up) in the log.
    static func openShared(_ settings: PostgresStateSettings, authenticator: RotatorConfigAuthenticator?, logger: Logger) async throws -> PostgresStateStore {
        var stateLogger = logger
        stateLogger[metadataKey: "component"] = "state"
        if let weakness = settings.weakness { logger.warning("state database: security weakened: \(weakness)") }
        return try await PostgresStateStore.open(settings, authenticator: authenticator, logger: stateLogger)
    }
}
