import Foundation
import RotorCore
import RotorDaemon

/// Text and JSON renderings of rotor's records. None of them ever touches a secret value.
enum Render {
    static func describeJSON(_ description: SecretDescription, managed: ManagedSecret?) -> [String: Any] {
        var object: [String: Any] = [
            "Name": description.id.rawValue,
            "CreatedDate": Output.isoOrNull(description.createdAt),
            "LastChangedDate": Output.isoOrNull(description.lastChangedAt),
            "LastRotatedDate": Output.isoOrNull(description.lastRotatedAt),
            "RotationEnabled": managed != nil,
            "Tags": description.tags.sorted { $0.key < $1.key }.map { ["Key": $0.key, "Value": $0.value] },
            "VersionIdsToStages": Dictionary(uniqueKeysWithValues: description.versions.map { ($0.id.rawValue, $0.stages.sorted().map(\.rawValue)) }),
        ]
        if let text = description.description { object["Description"] = text }
        if let managed { object["Rotor"] = managedJSON(managed) }
        return object
    }

    static func managedJSON(_ managed: ManagedSecret) -> [String: Any] { RecordJSON.managed(managed) }

    static func describeText(_ description: SecretDescription, managed: ManagedSecret?) -> [String] {
        var lines = ["Name:          \(description.id)"]
        if let text = description.description { lines.append("Description:   \(text)") }
        lines.append("Created:       \(Output.timestamp(description.createdAt))")
        lines.append("Last changed:  \(Output.timestamp(description.lastChangedAt))")
        lines.append("Last rotated:  \(Output.timestamp(description.lastRotatedAt))")
        if let managed {
            let options = managed.options.keys.map { "\($0)=\(managed.options[$0] ?? "")" }.joined(separator: " ")
            lines.append("Rotator:       \(managed.rotator)\(options.isEmpty ? "" : " (\(options))")")
            lines.append("Status:        \(managed.status.rawValue), \(managed.failedRuns) failed run(s)")
            if let error = managed.lastError { lines.append("Last error:    \(error)") }
        } else {
            lines.append("Rotator:       none (not managed by rotor)")
        }
        lines.append("Versions (oldest first):")
        for version in description.versions {
            let stages = version.stages.isEmpty ? "(deprecated)" : version.stages.sorted().map(\.rawValue).joined(separator: ", ")
            lines.append("  \(version.id)  \(Output.timestamp(version.createdAt))  \(stages)")
        }
        return lines
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.0f ms", duration.seconds * 1000)
    }

    static func reportText(_ report: RotationReport) -> [String] {
        let total = Duration.milliseconds(Int64(report.endedAt.timeIntervalSince(report.startedAt) * 1000))
        var lines = ["rotation of \(report.secret): \(report.outcome.rawValue) (token \(report.token)\(report.resumed ? ", resumed" : ""), \(milliseconds(total)))"]
        for step in report.steps {
            let note = step.note.map { "  \($0)" } ?? ""
            let attempts = "\(step.attempts) attempt\(step.attempts == 1 ? "" : "s")"
            lines.append("  \(step.step.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(step.outcome.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(attempts)  \(milliseconds(step.duration))\(note)")
        }
        return lines
    }

    static func reportJSON(_ report: RotationReport) -> [String: Any] {
        [
            "secret": report.secret.rawValue,
            "token": report.token.rawValue,
            "resumed": report.resumed,
            "outcome": report.outcome.rawValue,
            "error": report.error.map(\.description) ?? NSNull(),
            "startedAt": Output.isoOrNull(report.startedAt),
            "endedAt": Output.isoOrNull(report.endedAt),
            "steps": report.steps.map { step in
                [
                    "step": step.step.rawValue, "attempts": step.attempts, "outcome": step.outcome.rawValue,
                    "durationMs": Int((step.duration.seconds * 1000).rounded()), "note": step.note ?? NSNull(),
                ] as [String: Any]
            },
        ]
    }

    static func rotationJSON(_ rotation: RotationRecord) -> [String: Any] { RecordJSON.rotation(rotation) }

    static func rotationText(_ rotation: RotationRecord) -> [String] {
        var lines = ["\(Output.timestamp(rotation.startedAt))  \(rotation.outcome.rawValue)  token \(rotation.token)  trigger \(rotation.trigger)"]
        if let error = rotation.error { lines.append("  error: \(error)") }
        for step in rotation.steps {
            let duration = step.endedAt.map { String(format: "%.0f ms", $0.timeIntervalSince(step.startedAt) * 1000) } ?? "unfinished"
            let error = step.error.map { "  \($0)" } ?? ""
            lines.append("  \(step.step.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) attempt \(step.attempt)  \(step.outcome.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(duration)\(error)")
        }
        return lines
    }
}
