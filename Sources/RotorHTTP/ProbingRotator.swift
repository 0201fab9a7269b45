import struct Foundation.Date
import Logging
import RotorCore

/// Any rotator with a ``ValueProbe`` after its own testSecret: the new value must also be accepted
/// by the probe's HTTPS endpoint. With `probe-previous-must-fail`, finishSecret then checks that the
/// replaced value is refused, and warns (the reminder to disable the old key) while it still works.
struct ProbingRotator: Rotator {
    let inner: any Rotator
    let probe: ValueProbe

    var kind: RotatorKind { inner.kind }
    var afterSetFailure: FailureDirection { inner.afterSetFailure }
    /// The previous value's check runs in finishSecret's hook, which the engine calls for rotators with a target.
    var hasTarget: Bool { inner.hasTarget || probe.previousMustFail }
    var createReadsCurrent: Bool { inner.createReadsCurrent }
    var valueComesFromOperator: Bool { inner.valueComesFromOperator }
    var tellsTheCredentialsSystem: Bool { inner.tellsTheCredentialsSystem }
    var credentialsExpire: Bool { inner.credentialsExpire }
    func credentialExpiry(of value: SecretValue) -> Date? { inner.credentialExpiry(of: value) }
    func secretsUsed(of secret: SecretID, current: @Sendable () async throws -> SecretValue) async throws -> [SecretUse] { try await inner.secretsUsed(of: secret, current: current) }

    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        try await inner.createSecret(request, context: context)
    }

    func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse {
        try await inner.setSecret(request, context: context)
    }

    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        let response = try await inner.testSecret(request, context: context)
        switch try await probe.check(request.pending, secret: context.secret) {
        case .accepted:
            context.logger.info("the probe accepted the new value", metadata: ["probe": "\(probe.target)"])
            return response
        case .refused(let status):
            throw RotorError(.stepFailed, "the probe \(probe.target) refused the new value with HTTP \(status)", secret: context.secret, step: .testSecret,
                             remedy: "the new credential does not work at its service: check that it is active and has the needed permissions")
        case .unexpected(let status):
            throw RotorError(.stepFailed, "the probe \(probe.target) answered HTTP \(status), not \(probe.expectedStatus)", secret: context.secret, step: .testSecret,
                             remedy: "check the probe-url and probe-expect options")
        case .transient(let why):
            throw RotorError(.transient, "the probe \(probe.target) could not decide: \(why)", secret: context.secret, step: .testSecret,
                             remedy: "rotor retries; check that the service is reachable", isTransient: true)
        }
    }

    func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse {
        var response = inner.hasTarget ? try await inner.finishSecret(request, context: context) : FinishSecretResponse()
        guard probe.previousMustFail, let replaced = request.replaced else { return response }
        switch try await probe.check(replaced, secret: context.secret) {
        case .refused(let status):
            context.logger.notice("the previous value is refused by its service: it was disabled", metadata: ["probe": "\(probe.target)", "status": "\(status)"])
            response.audit.append(RotatorAuditNote(operation: "probe.previous", outcome: "refused", detail: "\(probe.target) refuses the previous value (HTTP \(status))"))
        case .accepted:
            context.logger.warning(
                "the previous value still works at its service: disable it there (rotor cannot)",
                metadata: ["probe": "\(probe.target)", "secret": "\(context.secret)"])
            response.audit.append(RotatorAuditNote(operation: "probe.previous", outcome: "still-active", detail: "\(probe.target) still accepts the previous value"))
        case .unexpected(let status):
            context.logger.warning("the probe of the previous value answered an unexpected status", metadata: ["probe": "\(probe.target)", "status": "\(status)"])
        case .transient(let why):
            context.logger.warning("could not check that the previous value is disabled", metadata: ["probe": "\(probe.target)", "reason": "\(why)"])
        }
        return response
    }

    func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        if inner.hasTarget { try await inner.rollback(request, context: context) }
    }
}

extension RotatorDescriptor {
    /// This kind, also taking the probe's options (see ``ValueProbe/optionHelp``).
    public func probing() -> RotatorDescriptor {
        let base = self
        return RotatorDescriptor(
            kind: kind, summary: summary, options: options.merging(ValueProbe.optionHelp) { own, _ in own },
            build: { options throws(RotorError) in
                let rotator = try base.make(ValueProbe.withoutProbeOptions(options))
                guard let probe = try ValueProbe.make(options, kind: base.kind) else { return rotator }
                return ProbingRotator(inner: rotator, probe: probe)
            },
            initialValue: { options, store in try await base.initialValue(ValueProbe.withoutProbeOptions(options), store: store) },
            weaknesses: { options in base.securityWeaknesses(ValueProbe.withoutProbeOptions(options)) },
            recordedKeys: recordedKeys,
            recordOptions: { options, value, secret throws(RotorError) in
                let recorded = try base.recordingOptions(ValueProbe.withoutProbeOptions(options), from: value, secret: secret)
                return RotatorOptions(recorded.values.merging(options.values.filter { ValueProbe.isProbeOption($0.key) }) { own, _ in own })
            },
            unusable: unusable)
    }
}

extension RotatorRegistry {
    /// Every kind of this registry, also taking the probe's options.
    public func withProbes() -> RotatorRegistry {
        RotatorRegistry(kinds.compactMap { try? descriptor($0).probing() })
    }
}
