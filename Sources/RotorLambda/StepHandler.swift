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

    /// - Parameter chosen: told the rotator's kind as soon as it is known (for the step's metrics).
    public func handle(_ event: RotationEvent, logger: Logger, chosen: @Sendable (RotatorKind) -> Void = { _ in }) async throws -> Outcome {
        let executor = StepExecutor(store: store, mode: .lambda(rotationToken: event.rotationToken))
        var snapshot = SecretSnapshot()
        let description = try await executor.describe(event.secret, &snapshot)
        let rotator = try settings.rotator(for: description, rotators: rotators)
        chosen(rotator.kind)
        var stepLogger = logger
        stepLogger[metadataKey: "secret"] = "\(event.secret)"
        stepLogger[metadataKey: "step"] = "\(event.step)"
        try await requireTarget(rotator, secret: event.secret)
        let request = StepExecutor.Request(step: event.step, secret: event.secret, token: event.token, rotator: rotator, logger: stepLogger, now: clock.now())
        let (note, _, audit) = try await executor.runReporting(request, snapshot: snapshot)
        for entry in audit {
            stepLogger.notice("\(entry.operation): \(entry.outcome)", metadata: ["detail": "\(entry.detail)"])
        }
        return note.map(Outcome.alreadyDone) ?? .performed
    }

    /// A rotator chosen by the secret's tag (the function names none) that tells no outside system
    /// about its values is refused, at every step, for a secret whose current value belongs to an
    /// outside system, as rotor's CLI and daemon refuse it: whoever may tag the secret must not turn a
    /// database login or a GitHub token into a value its system does not know, not even by changing
    /// the tag between two steps. `manual` is not exempt here (no operator supplies values to a
    /// function); only the function's own environment can say value-only.
    func requireTarget(_ rotator: any Rotator, secret: SecretID) async throws {
        guard settings.kind == nil, !rotator.tellsTheCredentialsSystem, settings.options[RotatorDescriptor.valueOnly] != "true" else { return }
        if let refusal = OutsideCredential.refusal(secret, rotator: rotator.kind, value: try await store.getSecretValue(secret, .current).value) {
            throw refusal
        }
    }
}
