import Foundation
import RotorCore

/// JSON renderings of rotor's records, shared by the CLI and the HTTP API. Never a secret value.
public enum RecordJSON {
    public static func date(_ date: Date?) -> Any { date.map { $0.formatted(.iso8601) } ?? NSNull() }

    public static func managed(_ managed: ManagedSecret) -> [String: Any] {
        [
            "id": managed.id.rawValue,
            "rotator": managed.rotator.rawValue,
            "options": managed.options.values,
            "status": managed.status.rawValue,
            "failedRuns": managed.failedRuns,
            "lastRotatedAt": date(managed.lastRotatedAt),
            "lastError": managed.lastError ?? NSNull(),
        ]
    }

    public static func rotation(_ rotation: RotationRecord) -> [String: Any] {
        [
            "token": rotation.token.rawValue,
            "secret": rotation.secret.rawValue,
            "trigger": rotation.trigger,
            "startedAt": date(rotation.startedAt),
            "endedAt": date(rotation.endedAt),
            "outcome": rotation.outcome.rawValue,
            "lastCompletedStep": rotation.lastCompletedStep?.rawValue ?? NSNull(),
            "error": rotation.error ?? NSNull(),
            "steps": rotation.steps.map { step in
                [
                    "step": step.step.rawValue, "attempt": step.attempt, "outcome": step.outcome.rawValue,
                    "startedAt": date(step.startedAt), "endedAt": date(step.endedAt),
                    "durationMs": step.endedAt.map { Int(($0.timeIntervalSince(step.startedAt) * 1000).rounded()) } ?? NSNull(),
                    "error": step.error ?? NSNull(),
                ] as [String: Any]
            },
        ]
    }

    public static func encode(_ object: Any, pretty: Bool = false) -> Data {
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        return (try? JSONSerialization.data(withJSONObject: object, options: options)) ?? Data("{}".utf8)
    }
}
