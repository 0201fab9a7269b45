import CoreMetrics
import Foundation
import RotorAWS
import RotorCore
import Synchronization

/// The function's CloudWatch metrics, as Embedded Metric Format on standard output after each
/// invocation (Lambda turns them into metrics; no API call, no cost per call):
/// - `Rotations` by rotator, environment and outcome: `started` (createSecret done), `succeeded`
///   (finishSecret done) or `failed` (a step failed; Secrets Manager reports the rotation failed);
/// - `StepDuration` (milliseconds) by rotator, environment, step and outcome;
/// - `AwsCalls` by service, API and outcome (`ok` or the error type), `AwsAccessDenied` by API.
/// Dimensions are kinds, environments, steps, APIs and error types, so the metric count does not
/// grow with the fleet; the secret id is a property of the step's document, not a dimension.
/// `ROTOR_EMF=off` turns them off; `ROTOR_EMF_NAMESPACE` names the namespace (default `rotor`).
public struct StepMetrics: Sendable {
    public let emf: EMFMetrics

    public init(emf: EMFMetrics) { self.emf = emf }

    static func configure(environment: [String: String]) throws -> StepMetrics? {
        switch environment["ROTOR_EMF"] ?? "on" {
        case "off": return nil
        case "on": break
        default: throw RotorError(.invalidParameter, "ROTOR_EMF must be on or off")
        }
        let namespace = environment["ROTOR_EMF_NAMESPACE"] ?? "rotor"
        guard namespace.wholeMatch(of: /[a-zA-Z0-9._#:\/-]{1,255}/) != nil, !namespace.hasPrefix("AWS/") else {
            throw RotorError(.invalidParameter, "ROTOR_EMF_NAMESPACE must be 1-255 of letters, digits and . _ # : / - and must not start with AWS/")
        }
        return StepMetrics(emf: EMFMetrics(EMFMetrics.Configuration(namespace: namespace, fixed: ["component": "lambda"])))
    }

    /// Records one invocation and writes everything recorded during it.
    func record(_ event: RotationEvent?, rotator: RotatorKind?, failed: Bool, duration: Duration) {
        defer { emf.flush() }
        guard let event else { return }
        let labels = [("rotator", rotator?.rawValue ?? "unknown"), ("environment", event.secret.environment.name), ("secret", event.secret.rawValue)]
        Timer(label: "rotor_step_duration_seconds", dimensions: labels + [("step", event.step.rawValue), ("outcome", failed ? "failed" : "ok")], factory: emf)
            .recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        let outcome: String? = failed ? "failed" : event.step == .createSecret ? "started" : event.step == .finishSecret ? "succeeded" : nil
        if let outcome { Counter(label: "rotor_rotations_total", dimensions: labels + [("outcome", outcome)], factory: emf).increment() }
    }
}

/// The rotator a step chose, once known.
final class RotatorChoice: Sendable {
    private let chosen = Mutex<RotatorKind?>(nil)
    var kind: RotatorKind? { chosen.withLock { $0 } }
    func set(_ kind: RotatorKind) { chosen.withLock { $0 = kind } }
}
