import Foundation
import Logging
import RotorCore

/// Runs one rotation step the way Secrets Manager expects its rotation function to (AWS's templates):
/// the prologue (rotation enabled, token known, already AWSCURRENT means done, must be AWSPENDING),
/// then the step, idempotent under repeated invocation with the same token. Errors are thrown.
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
        let description = try await store.describeSecret(event.secret)
        guard description.rotationEnabled != false else {
            throw RotorError(.invalidRequest, "secret is not enabled for rotation", secret: event.secret, step: event.step)
        }
        guard let stages = description.versionIDsToStages[event.token] else {
            throw RotorError(.invalidRequest, "secret version \(event.token) has no stage for rotation", secret: event.secret, step: event.step)
        }
        if stages.contains(.current) { return .alreadyDone("version \(event.token) is already AWSCURRENT") }
        guard stages.contains(.pending) else {
            throw RotorError(.invalidRequest, "secret version \(event.token) is not set as AWSPENDING for rotation", secret: event.secret, step: event.step)
        }
        let rotator = try rotator(for: description)
        var stepLogger = logger
        stepLogger[metadataKey: "secret"] = "\(event.secret)"
        stepLogger[metadataKey: "step"] = "\(event.step)"
        let context = RotationContext(secret: event.secret, token: event.token, store: store, logger: stepLogger, now: clock.now())
        switch event.step {
        case .createSecret: return try await createSecret(event, rotator: rotator, context: context)
        case .setSecret:
            guard rotator.hasTarget else { return .alreadyDone("rotator \(rotator.kind) has no target to set") }
            let request = SetSecretRequest(current: try await value(event.secret, .current), pending: try await value(event.secret, .pending(event.token)),
                                           previous: try? await value(event.secret, .previous))
            _ = try await rotator.setSecret(request, context: context)
        case .testSecret:
            _ = try await rotator.testSecret(TestSecretRequest(pending: try await value(event.secret, .pending(event.token))), context: context)
        case .finishSecret: return try await finishSecret(event, description: description, rotator: rotator, context: context)
        }
        return .performed
    }

    /// The rotator: the function's, else the secret's `rotor:rotator` and `rotor:option:<key>` tags.
    func rotator(for description: SecretDescription) throws(RotorError) -> any Rotator {
        try settings.rotator(for: description, rotators: rotators)
    }

    func createSecret(_ event: RotationEvent, rotator: any Rotator, context: RotationContext) async throws -> Outcome {
        let current = try await value(event.secret, .current)
        do {
            _ = try await store.getSecretValue(event.secret, .pending(event.token))
            return .alreadyDone("the pending value already exists")
        } catch let error as RotorError where error.code == .versionNotFound {
            // Secrets Manager's empty placeholder: fill it.
        }
        let created = try await rotator.createSecret(CreateSecretRequest(current: current), context: context)
        try await store.putSecretValue(PutSecretValueInput(id: event.secret, token: event.token, value: created.newValue, stages: [.pending],
                                                           rotationToken: event.rotationToken))
        return .performed
    }

    func finishSecret(_ event: RotationEvent, description: SecretDescription, rotator: any Rotator, context: RotationContext) async throws -> Outcome {
        guard let currentVersion = description.holder(of: .current) else {
            throw RotorError(.invalidRequest, "no version carries AWSCURRENT", secret: event.secret, step: .finishSecret)
        }
        if rotator.hasTarget {
            let request = FinishSecretRequest(current: try await value(event.secret, .current), pending: try await value(event.secret, .pending(event.token)))
            _ = try await rotator.finishSecret(request, context: context)
        }
        try await store.updateSecretVersionStage(UpdateVersionStageInput(id: event.secret, stage: .current, moveTo: event.token, removeFrom: currentVersion))
        return .performed
    }

    func value(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretValue {
        try await store.getSecretValue(id, selector).value
    }
}
