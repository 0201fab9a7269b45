import AsyncHTTPClient
import Foundation
import Logging
import RotorAWS
import RotorCore

/// rotor as a Secrets Manager rotation function on the `provided.al2023` runtime: one invocation at
/// a time, each a rotation step; a failed invocation is reported and the loop goes on.
public struct LambdaFunction: Sendable {
    let runtime: any LambdaRuntime
    let handler: StepHandler
    let logger: Logger
    /// CloudWatch metrics for each invocation, written to standard output (``StepMetrics``).
    let metrics: StepMetrics?

    public init(runtime: any LambdaRuntime, handler: StepHandler, logger: Logger, metrics: StepMetrics? = nil) {
        self.runtime = runtime
        self.handler = handler
        self.logger = logger
        self.metrics = metrics
    }

    /// Reads the configuration (runtime API, Secrets Manager, rotator) from the environment. A bad
    /// configuration is reported as an init error by ``run(environment:rotators:)``.
    public static func configure(environment: [String: String], rotators: RotatorRegistry, logger: Logger) throws -> LambdaFunction {
        guard let runtimeAPI = environment["AWS_LAMBDA_RUNTIME_API"], !runtimeAPI.isEmpty else {
            throw RotorError(.invalidParameter, "AWS_LAMBDA_RUNTIME_API is not set: this binary runs inside AWS Lambda (or an emulator)")
        }
        let settings = try AWSSettings.resolve(
            region: nil, profile: nil, endpointURL: environment["SECRETS_MANAGER_ENDPOINT"], environment: environment)
        var awsLogger = logger
        awsLogger[metadataKey: "component"] = "aws"
        let metrics = try StepMetrics.configure(environment: environment)
        let client = SecretsManagerClient(endpoint: settings.endpoint, region: settings.region, credentials: settings.credentials, logger: awsLogger,
                                          metrics: metrics?.emf)
        return LambdaFunction(
            runtime: RuntimeAPIClient(runtimeAPI: runtimeAPI),
            handler: StepHandler(store: AWSSecretStore(client: client, actor: "lambda", checksTokenReuse: false), rotators: rotators,
                                 settings: try FunctionRotatorSettings(environment: environment, rotators: rotators)),
            logger: logger, metrics: metrics)
    }

    /// Configures, then serves invocations until the process is stopped. `rotators` builds the
    /// registry (built-ins and plug-ins); its failure is reported as an init error.
    public static func run(environment: [String: String], rotators makeRotators: @Sendable () async throws -> RotatorRegistry) async -> Never {
        let logger = Logger(label: "rotor.lambda") { label in JSONLogHandler(label: label, level: Logger.Level(rawValue: environment["ROTOR_LOG_LEVEL"] ?? "info") ?? .info) }
        let function: LambdaFunction
        let rotators: RotatorRegistry
        do {
            rotators = try await makeRotators()
            function = try configure(environment: environment, rotators: rotators, logger: logger)
        } catch {
            let message = (error as? RotorError)?.description ?? "\(type(of: error))"
            logger.critical("initialisation failed", metadata: ["error": "\(message)"])
            if let api = environment["AWS_LAMBDA_RUNTIME_API"] {
                // Twice at most: the report is what the operator sees of a function that cannot start.
                let client = RuntimeAPIClient(runtimeAPI: api)
                for _ in 0..<2 {
                    if (try? await client.initFailed(type: "Rotor.InitError", message: message)) != nil { break }
                }
            }
            exit(1)
        }
        // While the first event is fetched, the runtime's one-time work for the step's types runs on another thread.
        Task.detached(priority: .utility) { await LambdaWarmUp.run(rotators) }
        await function.serve()
    }

    /// The invocation loop.
    public func serve() async -> Never {
        while true { await serveOne() }
    }

    /// Fetches one invocation and answers it; a failed fetch is logged and retried after a pause.
    public func serveOne() async {
        let invocation: Invocation
        do {
            invocation = try await runtime.next()
        } catch {
            logger.error("could not fetch the next invocation; retrying", metadata: ["error": "\(type(of: error))"])
            try? await Task.sleep(for: .milliseconds(200))
            return
        }
        await invoke(invocation)
    }

    func invoke(_ invocation: Invocation) async {
        var logger = self.logger
        logger[metadataKey: "requestId"] = "\(invocation.requestID)"
        let started = ContinuousClock.now
        let choice = RotatorChoice()
        var event: RotationEvent?
        var failed = false
        do {
            let parsed = try RotationEvent(json: invocation.payload)
            event = parsed
            logger[metadataKey: "secret"] = "\(parsed.secret)"
            logger[metadataKey: "step"] = "\(parsed.step)"
            logger[metadataKey: "token"] = "\(parsed.token)"
            let stepLogger = logger
            let outcome = try await withDeadline(invocation.deadline) { try await handler.handle(parsed, logger: stepLogger, chosen: choice.set) }
            switch outcome {
            case .performed: logger.info("step done")
            case .alreadyDone(let why): logger.info("step had nothing to do", metadata: ["reason": "\(why)"])
            }
            try await runtime.respond(invocation.requestID, json: "null")
        } catch {
            failed = true
            let failure = RotorError.wrapping(error)
            logger.error("step failed", metadata: ["error": "\(failure)"])
            try? await runtime.fail(invocation.requestID, type: "Rotor.\(failure.code.name)", message: failure.description)
        }
        metrics?.record(event, rotator: choice.kind, failed: failed, duration: ContinuousClock.now - started)
    }

    /// Runs `body`, cancelling it a moment before the invocation's deadline.
    func withDeadline<T: Sendable>(_ deadline: Date?, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let deadline else { return try await body() }
        let remaining = deadline.timeIntervalSinceNow - 0.5
        guard remaining > 0 else { throw RotorError(.transient, "the invocation's deadline has passed", isTransient: true) }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(remaining * 1000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw RotorError(.transient, "the step did not finish before the invocation's deadline",
                                 remedy: "raise the function's timeout; Secrets Manager will retry the step with the same token", isTransient: true)
            }
            return value
        }
    }
}
