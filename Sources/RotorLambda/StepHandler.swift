import Logging
import RotorCore

/// Handles one Secrets Manager invocation: picks the rotator (the function's, else the secret's tags)
/// and runs the step with the shared ``StepExecutor`` in its Lambda mode (the version exists already,
/// rotation must be enabled, Secrets Manager's backend cleans `AWSPENDING` up). Errors are thrown.
public struct StepHandler: Sendable {
    let store: any SecretStore
    let rotators: RotatorRegistry
    /// The rotator settings of the function's environment (which win over the secret's tags).
    let settings: FunctionRotatorSettings
    let clock: any RotorClock

    public init(store: any SecretStore, rotators: RotatorRegistry, settings: FunctionRotatorSettings, clock: any RotorClock = SystemClock()) {
        self.store = store
        self.rotators = rotators
        self.settings = settings
        self.clock = clock
    }

    /// What the step did (for the log): performed, or why there was nothing to do.
    public enum Outcome: Sendable, Equatable { case performed, alreadyDone(String) }

    public func handle(_ event: RotationEvent, logger: Logger) async throws -> Outcome {
        let executor = StepExecutor(store: store, mode: .lambda(rotationToken: event.rotationToken))
        var snapshot = SecretSnapshot()
        let description = try await executor.describe(event.secret, &snapshot)
        let rotator = try settings.rotator(for: description, rotators: rotators)
        var stepLogger = logger
        stepLogger[metadataKey: "secret"] = "\(event.secret)"
        stepLogger[metadataKey: "step"] = "\(event.step)"
        let request = StepExecutor.Request(step: event.step, secret: event.secret, token: event.token, rotator: rotator, logger: stepLogger, now: clock.now())
        let (note, _) = try await executor.run(request, snapshot: snapshot)
        return note.map(Outcome.alreadyDone) ?? .performed
    }
}
