import Foundation
import RotorCore

/// JSON renderings of rotor's records, shared by the CLI and the HTTP API. Never a secret value.
public enum RecordJSON {
    public static func date(_ date: Date?) -> Any { date.map { $0.formatted(.iso8601) } ?? NSNull() }
    /// With milliseconds (when rotations of a batch started and ended).
    public static func instant(_ date: Date?) -> Any { date.map { $0.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)) } ?? NSNull() }

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

    /// A batch's plan (a dry run): each secret in order, with its rotator and what it waits for.
    public static func batchPlan(_ plan: BatchPlan, limits: BatchLimits) -> [String: Any] {
        [
            "dryRun": true, "selection": plan.selection.description, "maxConcurrent": limits.maxConcurrent,
            "maxConcurrentPerRotator": limits.maxConcurrentPerRotator, "notes": plan.notes,
            "secrets": plan.items.enumerated().map { index, item in
                [
                    "order": index + 1, "id": item.id.rawValue, "rotator": item.rotator.rawValue, "policy": item.policy ?? NSNull(),
                    "dependsOn": item.dependsOn.map { ["id": $0.dependency.rawValue, "why": $0.why] }, "needsPerson": item.needsPerson ?? NSNull(),
                ] as [String: Any]
            },
        ]
    }

    /// How one secret of a batch ended (never a value).
    public static func batchResult(_ result: BatchResult) -> [String: Any] {
        [
            "id": result.id.rawValue, "rotator": result.rotator.rawValue, "outcome": result.outcome.rawValue,
            "startedAt": instant(result.startedAt), "endedAt": instant(result.endedAt),
            "durationSeconds": result.duration ?? NSNull(), "error": result.error ?? NSNull(),
        ]
    }
}
