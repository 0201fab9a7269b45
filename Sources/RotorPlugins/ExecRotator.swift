import Foundation
import Logging
import RotorCore

/// A rotator implemented by an executable speaking the exec protocol v1: one process per step,
/// the request on standard input, the answer on standard output (`docs/rotator-protocol.md`).
/// Values travel only through those two pipes; the plug-in sees a minimal environment, runs in a
/// process group of its own that is killed at its timeout, and its standard error reaches rotor's
/// log with every value of the rotation replaced by `[REDACTED]`.
public struct ExecRotator: Rotator {
    public let kind: RotatorKind
    public let hasTarget: Bool
    public let afterSetFailure: FailureDirection
    let executable: String
    let settings: PluginSettings

    init(kind: RotatorKind, executable: String, description: PluginDescription, settings: PluginSettings) {
        self.kind = kind
        self.executable = executable
        hasTarget = description.hasTarget
        afterSetFailure = description.direction ?? .rollBack
        self.settings = settings
    }

    public var createReadsCurrent: Bool { true }

    public func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        let current = try request.current
        let answer = try await run("createSecret", context, current: current, supplied: request.suppliedValue)
        guard let wire = answer.value else {
            throw protocolError("createSecret answered without a value", context, step: .createSecret)
        }
        guard let value = wire.value else {
            throw protocolError("createSecret answered with a value that is neither {\"string\"} nor valid {\"binary\"} base64", context, step: .createSecret)
        }
        return CreateSecretResponse(newValue: value)
    }

    public func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse {
        _ = try await run("setSecret", context, current: request.current, pending: request.pending, previous: request.previous)
        return SetSecretResponse()
    }

    public func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        _ = try await run("testSecret", context, pending: request.pending)
        return TestSecretResponse()
    }

    public func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse {
        _ = try await run("finishSecret", context, current: request.current, pending: request.pending)
        return FinishSecretResponse()
    }

    public func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        _ = try await run("rollback", context, current: request.restore, pending: request.discard)
    }

    /// Runs one step's process and reads its answer; failures are typed (transient or not).
    private func run(
        _ step: String, _ context: RotationContext, current: SecretValue? = nil, pending: SecretValue? = nil,
        previous: SecretValue? = nil, supplied: SecretValue? = nil
    ) async throws -> StepAnswer {
        let message = StepMessage(
            step: step, secretId: context.secret.rawValue, token: context.token.rawValue, options: settings.pluginOptions,
            current: current.map(WireValue.init), pending: pending.map(WireValue.init), previous: previous.map(WireValue.init),
            supplied: supplied.map(WireValue.init))
        let input = try Array(JSONEncoder().encode(message))
        let process = PluginProcess(executable: executable, argument: "step", environment: settings.environment, timeout: settings.timeout)
        let outcome: PluginProcess.Outcome
        do {
            outcome = try await process.run(input: input)
        } catch let error as PluginSpawnError {
            throw RotorError(.stepFailed, "plug-in \(kind) could not be started (\(executable)): \(error.message)", secret: context.secret,
                             step: RotationStep(rawValue: step), remedy: "check that the file exists and is executable")
        }
        try Task.checkCancellation()
        let values = [current, pending, previous, supplied].compactMap { $0 }
        let result = Result { try answer(outcome, step: step, context, redacting: values) }
        // A value the step made (createSecret's) is redacted from its standard error too.
        let made = (try? result.get())?.value?.value
        logStandardError(outcome.errorOutput, redacting: values + [made].compactMap { $0 }, context)
        return try result.get()
    }

    private func answer(_ outcome: PluginProcess.Outcome, step: String, _ context: RotationContext, redacting values: [SecretValue]) throws -> StepAnswer {
        let rotationStep = RotationStep(rawValue: step)
        if outcome.timedOut {
            throw RotorError(.transient, "plug-in \(kind) did not finish \(step) within \(Int(settings.timeout.seconds))s; its process group was killed",
                             secret: context.secret, step: rotationStep, remedy: "raise the policy's 'timeout' option, or find why the plug-in hangs", isTransient: true)
        }
        if outcome.outputOverLimit { throw protocolError("\(step) printed more than 1 MiB on standard output", context, step: rotationStep) }
        let text = outcome.output.filter { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09) }
        let parsed: StepAnswer? = text.isEmpty ? nil : try? JSONDecoder().decode(StepAnswer.self, from: Data(outcome.output))
        if !text.isEmpty, parsed == nil {
            throw protocolError("\(step) printed something that is not one JSON object on standard output", context, step: rotationStep)
        }
        guard outcome.status == 0 else {
            let failure = parsed?.error
            let permanent = failure?.kind == "permanent"
            let reason = failure?.message.map { Redaction.redact($0, values) } ?? "no reason given"
            let how = outcome.status.map { "exit status \($0)" } ?? "killed by a signal"
            throw RotorError(permanent ? .stepFailed : .transient, "plug-in \(kind) failed \(step) (\(how)): \(reason)",
                             secret: context.secret, step: rotationStep, isTransient: !permanent)
        }
        guard let parsed else { throw protocolError("\(step) succeeded but printed no JSON object", context, step: rotationStep) }
        return parsed
    }

    private func protocolError(_ what: String, _ context: RotationContext, step: RotationStep?) -> RotorError {
        RotorError(.stepFailed, "plug-in \(kind) broke the rotor.rotator/v1 protocol: \(what)", secret: context.secret, step: step,
                   remedy: "fix the plug-in (docs/rotator-protocol.md); 'rotor plugin check \(kind)' shows what it does")
    }

    private func logStandardError(_ bytes: [UInt8], redacting values: [SecretValue], _ context: RotationContext) {
        guard !bytes.isEmpty else { return }
        let raw = String(decoding: bytes, as: UTF8.self)
        let text = Redaction.redact(raw, values)
        if text != raw {
            context.logger.warning("\(Self.printedAValue)", metadata: ["plugin": "\(kind)"])
        }
        context.logger.info("plug-in standard error", metadata: ["plugin": "\(kind)", "stderr": "\(text)"])
    }

    /// Logged (as a warning) when a plug-in's standard error held a value of the rotation.
    public static let printedAValue = "plug-in printed a value of the rotation on standard error; rotor redacted it"
}

/// Replaces every occurrence of a value (its text, and the base64 form of a binary one) by `[REDACTED]`.
enum Redaction {
    static func redact(_ text: String, _ values: [SecretValue]) -> String {
        var result = text
        for value in values {
            for form in forms(of: value) where !form.isEmpty { result = result.replacingOccurrences(of: form, with: "[REDACTED]") }
        }
        return result
    }

    private static func forms(of value: SecretValue) -> [String] {
        switch value.kind {
        case .string: [value.exposedString ?? ""]
        case .binary: [Data(value.exposedBytes).base64EncodedString(), String(decoding: value.exposedBytes, as: UTF8.self)]
        }
    }
}
