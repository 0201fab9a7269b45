import Foundation
import Logging
import RotorCore

/// The exec protocol's transport: one process per step, the request on standard input, the answer
/// on standard output (`docs/rotator-protocol.md`). Values travel only through those two pipes; the
/// plug-in sees a minimal environment, runs in a process group of its own that is killed at its
/// timeout, and its standard error reaches rotor's log with every value of the rotation replaced by `[REDACTED]`.
struct ExecTransport: StepTransport {
    let kind: RotatorKind
    let executable: String
    let settings: PluginSettings

    /// Runs one step's process and reads its answer; failures are typed (transient or not).
    func exchange(_ call: StepCall, _ context: RotationContext) async throws -> StepAnswer {
        let input = try Array(JSONEncoder().encode(call.message(context, options: settings.pluginOptions)))
        let process = PluginProcess(executable: executable, argument: "step", environment: settings.environment, timeout: settings.timeout)
        let outcome: PluginProcess.Outcome
        do {
            outcome = try await process.run(input: input)
        } catch let error as PluginSpawnError {
            throw RotorError(.stepFailed, "plug-in \(kind) could not be started (\(executable)): \(error.message)", secret: context.secret,
                             step: RotationStep(rawValue: call.step), remedy: "check that the file exists and is executable")
        }
        try Task.checkCancellation()
        let result = Result { try answer(outcome, step: call.step, context, redacting: call.values) }
        // A value the step made (createSecret's) is redacted from its standard error too.
        let made = (try? result.get())?.value?.value
        logStandardError(outcome.errorOutput, redacting: call.values + [made].compactMap { $0 }, context)
        return try result.get()
    }

    private func answer(_ outcome: PluginProcess.Outcome, step: String, _ context: RotationContext, redacting values: [SecretValue]) throws -> StepAnswer {
        let rotationStep = RotationStep(rawValue: step)
        if outcome.timedOut {
            throw RotorError(.transient, "plug-in \(kind) did not finish \(step) within \(Int(settings.timeout.seconds))s; its process group was killed",
                             secret: context.secret, step: rotationStep, remedy: "raise the policy's 'timeout' option, or find why the plug-in hangs", isTransient: true)
        }
        if outcome.outputOverLimit { throw protocolError("\(step) printed more than 1 MiB on standard output", context, step: rotationStep) }
        let parsed = try PluginFailure.parseAnswer(outcome.output, kind, context, step: step)
        guard outcome.status == 0 else {
            throw PluginFailure.stepFailed(kind, step, how: outcome.status.map { "exit status \($0)" } ?? "killed by a signal", parsed?.error, values, context)
        }
        guard let parsed else { throw protocolError("\(step) succeeded but printed no JSON object", context, step: rotationStep) }
        return parsed
    }

    private func protocolError(_ what: String, _ context: RotationContext, step: RotationStep?) -> RotorError {
        PluginFailure.protocolError(kind, what, context, step: step)
    }

    private func logStandardError(_ bytes: [UInt8], redacting values: [SecretValue], _ context: RotationContext) {
        guard !bytes.isEmpty else { return }
        let raw = String(decoding: bytes, as: UTF8.self)
        let text = Redaction.redact(raw, values)
        if text != raw {
            context.logger.warning("\(PluginFailure.printedAValue)", metadata: ["plugin": "\(kind)"])
        }
        context.logger.info("plug-in standard error", metadata: ["plugin": "\(kind)", "stderr": "\(text)"])
    }
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
