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
        let process = PluginProcess(executable: executable, arguments: ["step"], environment: settings.environment, timeout: settings.timeout)
        let outcome: PluginProcess.Outcome
        do {
            outcome = try await process.run(input: input)
        } catch let error as PluginSpawnError {
            throw RotorError(.stepFailed, "plug-in \(kind) could not be started (\(executable)): \(error.message)", secret: context.secret,
                             step: RotationStep(rawValue: call.step), remedy: "check that the file exists and is executable")
        }
        try Task.checkCancellation()
        // A value the step made (createSecret's, even if it then failed) is redacted from its standard error too.
        let parsed = Result { try PluginFailure.parseAnswer(outcome.output, kind, context, step: call.step) }
        let made = (try? parsed.get())??.value?.value
        let redacting = call.values + [made].compactMap { $0 }
        let result = Result { try answer(outcome, parsed, step: call.step, context, redacting: redacting) }
        logStandardError(outcome.errorOutput, truncated: outcome.errorOverLimit, redacting: redacting, context)
        return try result.get()
    }

    private func answer(
        _ outcome: PluginProcess.Outcome, _ parsedOutput: Result<StepAnswer?, any Error>, step: String, _ context: RotationContext, redacting values: [SecretValue]
    ) throws -> StepAnswer {
        let rotationStep = RotationStep(rawValue: step)
        if outcome.timedOut {
            throw RotorError(.transient, "plug-in \(kind) did not finish \(step) within \(Int(settings.timeout.seconds))s; its process group was killed",
                             secret: context.secret, step: rotationStep, remedy: "raise the policy's 'timeout' option, or find why the plug-in hangs", isTransient: true)
        }
        if outcome.outputOverLimit { throw protocolError("\(step) printed more than 1 MiB on standard output", context, step: rotationStep) }
        let parsed = try parsedOutput.get()
        guard outcome.status == 0, parsed?.error == nil else {
            throw PluginFailure.stepFailed(kind, step, how: outcome.status.map { "exit status \($0)" } ?? "killed by a signal", parsed?.error, values, context)
        }
        guard let parsed else { throw protocolError("\(step) succeeded but printed no JSON object", context, step: rotationStep) }
        return try PluginFailure.checkShape(parsed, kind, context, step: step)
    }

    private func protocolError(_ what: String, _ context: RotationContext, step: RotationStep?) -> RotorError {
        PluginFailure.protocolError(kind, what, context, step: step)
    }

    private func logStandardError(_ kept: [UInt8], truncated: Bool, redacting values: [SecretValue], _ context: RotationContext) {
        // Cut off, the kept part may end inside a value: drop as much as the longest form could span.
        let bytes = truncated ? Array(kept.dropLast(Redaction.longestForm(values))) : kept
        guard !bytes.isEmpty else { return }
        let raw = String(decoding: bytes, as: UTF8.self)
        let text = Redaction.redact(raw, values)
        if text != raw {
            context.logger.warning("\(PluginFailure.printedAValue)", metadata: ["plugin": "\(kind)"])
        }
        context.logger.info("plug-in standard error", metadata: ["plugin": "\(kind)", "stderr": "\(Redaction.printable(text, limit: 64 << 10))"])
    }
}

/// Replaces every occurrence of a value by `[REDACTED]`: its text, its JSON-escaped and
/// percent-encoded forms, and for a binary value its base64 (escaped too), so a plug-in that echoes
/// its request or a connection string does not get a value through.
enum Redaction {
    static func redact(_ text: String, _ values: [SecretValue]) -> String {
        var result = text
        let forms = values.flatMap(forms(of:)).filter { $0.count >= 1 }.sorted { $0.count > $1.count }
        for form in forms { result = result.replacingOccurrences(of: form, with: "[REDACTED]") }
        return result
    }

    /// The longest form a value can take in text: a kept prefix of output shorter than this at its
    /// end may hold the start of one.
    static func longestForm(_ values: [SecretValue]) -> Int { values.flatMap(forms(of:)).map(\.utf8.count).max() ?? 0 }

    private static func forms(of value: SecretValue) -> [String] {
        let texts: [String]
        switch value.kind {
        case .string: texts = [value.exposedString ?? ""]
        case .binary: texts = [Data(value.exposedBytes).base64EncodedString(), String(decoding: value.exposedBytes, as: UTF8.self)]
        }
        return Array(Set(texts.flatMap { [$0, jsonEscaped($0), $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0] }))
    }

    private static func jsonEscaped(_ text: String) -> String {
        guard let data = try? JSONEncoder().encode(text), let quoted = String(data: data, encoding: .utf8), quoted.count >= 2 else { return text }
        return String(quoted.dropFirst().dropLast())
    }

    /// `text` cut to `limit` characters, control characters (newlines, escapes) shown as spaces.
    static func printable(_ text: String, limit: Int) -> String {
        let cleaned = String(text.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : Character($0) })
        return cleaned.count > limit ? String(cleaned.prefix(limit)) + "…" : cleaned
    }
}
