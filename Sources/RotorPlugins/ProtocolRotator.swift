import Foundation
import RotorCore

/// One step as the plug-in protocol carries it (exec or webhook): its name and the values it gets.
struct StepCall: Sendable {
    var step: String
    var current: SecretValue?
    var pending: SecretValue?
    var previous: SecretValue?
    var supplied: SecretValue?

    var values: [SecretValue] { [current, pending, previous, supplied].compactMap { $0 } }

    /// The request message, with the secret's plug-in options.
    func message(_ context: RotationContext, options: [String: String]) -> StepMessage {
        StepMessage(
            step: step, secretId: context.secret.rawValue, token: context.token.rawValue, options: options,
            current: current.map(WireValue.init), pending: pending.map(WireValue.init), previous: previous.map(WireValue.init),
            supplied: supplied.map(WireValue.init))
    }
}

/// How a step reaches a plug-in and its answer comes back (a process, an HTTPS request).
protocol StepTransport: Sendable {
    func exchange(_ call: StepCall, _ context: RotationContext) async throws -> StepAnswer
    /// Secrets the transport reads to reach the plug-in (a signing key).
    var secretsUsed: [SecretUse] { get }
}

extension StepTransport {
    var secretsUsed: [SecretUse] { [] }
}

/// A rotator whose steps are carried out by a plug-in speaking rotor.rotator/v1: the mapping of the
/// engine's five calls to protocol steps, and createSecret's answer rule, for every transport.
public struct ProtocolRotator: Rotator {
    public let kind: RotatorKind
    public let hasTarget: Bool
    public let afterSetFailure: FailureDirection
    let transport: any StepTransport

    init(kind: RotatorKind, hasTarget: Bool, afterSetFailure: FailureDirection, transport: any StepTransport) {
        self.kind = kind
        self.hasTarget = hasTarget
        self.afterSetFailure = afterSetFailure
        self.transport = transport
    }

    public var createReadsCurrent: Bool { true }

    public func secretsUsed(of secret: SecretID, current: @Sendable () async throws -> SecretValue) async throws -> [SecretUse] { transport.secretsUsed }

    public func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        let answer = try await transport.exchange(StepCall(step: "createSecret", current: try request.current, supplied: request.suppliedValue), context)
        guard let wire = answer.value else {
            throw PluginFailure.protocolError(kind, "createSecret answered without a value", context, step: .createSecret)
        }
        guard let value = wire.value else {
            throw PluginFailure.protocolError(kind, "createSecret answered with a value that is neither {\"string\"} nor valid {\"binary\"} base64", context, step: .createSecret)
        }
        return CreateSecretResponse(newValue: value)
    }

    public func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse {
        _ = try await transport.exchange(StepCall(step: "setSecret", current: request.current, pending: request.pending, previous: request.previous), context)
        return SetSecretResponse()
    }

    public func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        _ = try await transport.exchange(StepCall(step: "testSecret", pending: request.pending), context)
        return TestSecretResponse()
    }

    public func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse {
        _ = try await transport.exchange(StepCall(step: "finishSecret", current: request.promoted, pending: request.promoted, previous: request.replaced), context)
        return FinishSecretResponse()
    }

    public func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        _ = try await transport.exchange(StepCall(step: "rollback", current: request.restore, pending: request.discard), context)
    }
}

/// The errors and log messages plug-in transports share.
public enum PluginFailure {
    /// Logged (as a warning) when a plug-in's standard error held a value of the rotation.
    public static let printedAValue = "plug-in printed a value of the rotation on standard error; rotor redacted it"

    static func protocolError(_ kind: RotatorKind, _ what: String, _ context: RotationContext, step: RotationStep?) -> RotorError {
        RotorError(.stepFailed, "plug-in \(kind) broke the rotor.rotator/v1 protocol: \(what)", secret: context.secret, step: step,
                   remedy: "fix the plug-in (docs/rotator-protocol.md); 'rotor plugin check \(kind)' shows what it does")
    }

    /// A success may carry a value only for createSecret.
    static func checkShape(_ answer: StepAnswer, _ kind: RotatorKind, _ context: RotationContext, step: String) throws -> StepAnswer {
        guard answer.value == nil || step == "createSecret" else {
            throw protocolError(kind, "\(step) answered with a value; only createSecret makes one", context, step: RotationStep(rawValue: step))
        }
        return answer
    }

    /// A failed step: permanent only when the plug-in says so; its message with any value redacted,
    /// cut to 1 KiB and without control characters (it reaches logs, errors and the audit record).
    static func stepFailed(
        _ kind: RotatorKind, _ step: String, how: String, _ failure: StepAnswer.Failure?, _ values: [SecretValue], _ context: RotationContext
    ) -> RotorError {
        let permanent = failure?.kind == "permanent"
        let reason = failure?.message.map { Redaction.printable(Redaction.redact($0, values), limit: 1024) } ?? "no reason given"
        return RotorError(permanent ? .stepFailed : .transient, "plug-in \(kind) failed \(step) (\(how)): \(reason)",
                          secret: context.secret, step: RotationStep(rawValue: step), isTransient: !permanent)
    }

    /// An answer's JSON object; `nil` for an empty body; throws for anything that is not one object.
    static func parseAnswer(_ bytes: [UInt8], _ kind: RotatorKind, _ context: RotationContext, step: String) throws -> StepAnswer? {
        let text = bytes.filter { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09) }
        guard !text.isEmpty else { return nil }
        guard let parsed = try? JSONDecoder().decode(StepAnswer.self, from: Data(bytes)) else {
            throw protocolError(kind, "\(step) answered with something that is not one JSON object", context, step: RotationStep(rawValue: step))
        }
        return parsed
    }
}
