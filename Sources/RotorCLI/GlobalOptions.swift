import ArgumentParser
import Foundation
import Logging
import RotorCore
import RotorGitHub
import RotorCognito
import RotorHTTP
import RotorPlugins
import RotorPostgres
import RotorStorage

/// Options every command takes: where state lives, which environment it may touch, logging.
struct GlobalOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Directory of the state database and the embedded store (env ROTOR_HOME).", valueName: "dir"))
    var home: String?

    @Option(name: .customLong("plugins"), help: ArgumentHelp(
        "A directory of rotor-rotator-KIND plug-ins, searched before ROTOR_PLUGIN_PATH and HOME/plugins (repeatable).", valueName: "dir"))
    var plugins: [String] = []

    @Option(help: ArgumentHelp("Only act on secrets of this environment (env ROTOR_ENVIRONMENT).", valueName: "env"))
    var environment: String?

    @Option(help: ArgumentHelp("SQLite durability: full or normal (env ROTOR_SQLITE_SYNCHRONOUS).", valueName: "mode"))
    var synchronous: String?

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical (env ROTOR_LOG_LEVEL).", valueName: "level"))
    var logLevel: String?

    @Option(help: ArgumentHelp("Attempts per step within one run for transient failures (env ROTOR_ATTEMPTS_PER_RUN, default 3).", valueName: "n"))
    var attemptsPerRun: Int?

    @Option(help: ArgumentHelp("Consecutive failed runs that quarantine a secret (env ROTOR_QUARANTINE_AFTER, default 3).", valueName: "n"))
    var quarantineAfter: Int?

    @Option(help: ArgumentHelp("Secret store: embedded (local encrypted file) or aws (Secrets Manager) (env ROTOR_STORE).", valueName: "store"))
    var store: String?

    @Option(help: ArgumentHelp(
        "Where rotor keeps its state: postgres://USER@HOST[:PORT]/DB[?schema=rotor&sslmode=verify-full&sslrootcert=CA] for several hosts (password from ROTOR_STATE_PASSWORD or ROTOR_STATE_PASSWORD_FILE, never the URL), else the SQLite file in --home (env ROTOR_STATE_URL).",
        valueName: "url"))
    var state: String?

    @Option(help: ArgumentHelp("AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile).", valueName: "region"))
    var region: String?

    @Option(help: ArgumentHelp("AWS profile from the shared credentials/config files (else AWS_PROFILE).", valueName: "name"))
    var profile: String?

    @Option(help: ArgumentHelp("Secrets Manager endpoint, e.g. a VPC endpoint or an emulator (else AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL).", valueName: "url"))
    var endpointUrl: String?

    @Option(help: ArgumentHelp("Seconds a per-secret lock outlives a process that died holding it (env ROTOR_LOCK_TTL, default 60).", valueName: "seconds"))
    var lockTtl: Double?

    @Option(help: ArgumentHelp(
        "Secrets Manager writes a second (PutSecretValue, UpdateSecretVersionStage, ...), shared by every process on one --state postgres://… state (env ROTOR_AWS_WRITE_TPS, default 50: AWS's quota per account and region; 'unlimited' only against an emulator).",
        valueName: "n"))
    var awsWriteTps: String?

    var env: [String: String] { ProcessInfo.processInfo.environment }

    /// Secrets Manager writes a second; nil when unlimited (an emulator's benchmark).
    func awsWritesPerSecond() throws(RotorError) -> Double? {
        let raw = awsWriteTps ?? env["ROTOR_AWS_WRITE_TPS"] ?? "50"
        if raw == "unlimited" { return nil }
        guard let rate = Double(raw), rate.isFinite, (0.1...10_000).contains(rate) else {
            throw RotorError(.invalidParameter, "--aws-write-tps must be writes a second from 0.1 to 10000, or 'unlimited', not '\(raw.prefix(20))'")
        }
        return rate
    }

    func lockTimeToLive(default value: TimeInterval) throws(RotorError) -> TimeInterval {
        guard let raw = lockTtl.map({ String($0) }) ?? env["ROTOR_LOCK_TTL"] else { return value }
        guard let seconds = Double(raw), seconds.isFinite, (1...86_400).contains(seconds) else {
            throw RotorError(.invalidParameter, "--lock-ttl must be seconds from 1 to 86400, not '\(raw.prefix(20))'")
        }
        return seconds
    }

    /// The PostgreSQL state's URL, when rotor's state lives there rather than in `--home`.
    var stateURL: String? {
        guard let url = state ?? env["ROTOR_STATE_URL"], !url.isEmpty else { return nil }
        return url
    }

    enum StoreKind: String { case embedded, aws }

    func storeKind() throws(RotorError) -> StoreKind {
        let raw = (store ?? env["ROTOR_STORE"] ?? "embedded").lowercased()
        guard let kind = StoreKind(rawValue: raw) else {
            throw RotorError(.invalidParameter, "--store must be embedded or aws, not '\(raw.prefix(20))'")
        }
        return kind
    }

    func retryPolicy() throws(RotorError) -> RetryPolicy {
        let attempts = try positive(attemptsPerRun, env: "ROTOR_ATTEMPTS_PER_RUN", flag: "--attempts-per-run", default: 3)
        let quarantine = try positive(quarantineAfter, env: "ROTOR_QUARANTINE_AFTER", flag: "--quarantine-after", default: 3)
        return RetryPolicy(attemptsPerRun: attempts, failedRunsBeforeQuarantine: quarantine)
    }

    private func positive(_ flag: Int?, env key: String, flag name: String, default value: Int) throws(RotorError) -> Int {
        guard let raw = flag.map(String.init) ?? env[key] else { return value }
        guard let number = Int(raw), (1...100).contains(number) else {
            throw RotorError(.invalidParameter, "\(name) must be a whole number from 1 to 100, not '\(raw.prefix(20))'")
        }
        return number
    }

    var homeURL: URL {
        let path = home ?? env["ROTOR_HOME"] ?? ".rotor"
        return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
    }

    func scope() throws(RotorError) -> EnvironmentScope {
        guard let name = environment ?? env["ROTOR_ENVIRONMENT"], !name.isEmpty else { return .all }
        return .only(try Environment(name))
    }

    func synchronousMode() throws(RotorError) -> SQLiteSynchronous {
        let raw = (synchronous ?? env["ROTOR_SQLITE_SYNCHRONOUS"] ?? "full").uppercased()
        guard let mode = SQLiteSynchronous(rawValue: raw) else {
            throw RotorError(.invalidParameter, "--synchronous must be full or normal, not '\(raw.prefix(20))'")
        }
        return mode
    }

    func level() throws(RotorError) -> Logger.Level {
        let raw = (logLevel ?? env["ROTOR_LOG_LEVEL"] ?? "notice").lowercased()
        guard let level = Logger.Level(rawValue: raw) else {
            throw RotorError(.invalidParameter, "--log-level '\(raw.prefix(20))' is not one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }
}

extension GlobalOptions {
    /// The built-in rotators and the exec plug-ins on the search path (`--plugins`, ROTOR_PLUGIN_PATH, HOME/plugins).
    func rotators() async throws -> RotatorRegistry {
        var registry = RotatorRegistry.withPostgres
        RotatorRegistry.gitHubDescriptors.forEach { registry.register($0) }
        RotatorRegistry.cognitoDescriptors(environment: env).forEach { registry.register($0) }
        // HOME/plugins only for a home the operator named (--home, ROTOR_HOME): never the working
        // directory's default .rotor, which whoever controls that directory could fill.
        let namedHome = home != nil || env["ROTOR_HOME"] != nil ? homeURL : nil
        let directories = try PluginCatalog.searchPath(explicit: plugins, environment: env, home: namedHome)
        try await PluginCatalog(directories: directories, processEnvironment: env).register(into: &registry)
        return registry.withProbes()
    }
}
