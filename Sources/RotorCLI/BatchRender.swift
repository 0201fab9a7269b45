import Foundation
import RotorCore
import RotorDaemon

/// How `rotor rotate` shows a batch: the dry run, each secret's end, the summary.
enum BatchRender {
    static func dryRun(_ plan: BatchPlan, limits: BatchLimits, json: Bool) {
        if json {
            Output.json(RecordJSON.batchPlan(plan, limits: limits))
            return
        }
        Output.line("would rotate \(plan.items.count) secret(s) selected by \(plan.selection), in this order (at most \(limits.maxConcurrent) at once, \(limits.maxConcurrentPerRotator) per rotator); nothing was changed:")
        for (index, item) in plan.items.enumerated() {
            let after = item.dependsOn.isEmpty ? "" : "  after \(item.dependsOn.map(\.dependency.rawValue).joined(separator: ", "))"
            let person = item.needsPerson.map { "  NOT ROTATED: \($0)" } ?? ""
            Output.line("\(String(format: "%4d", index + 1)). \(item.id)  \(item.rotator)\(after)\(person)")
        }
    }

    /// One JSON line per secret as it finishes.
    static func resultLine(_ result: BatchResult) -> String { jsonLine(RecordJSON.batchResult(result)) }

    /// An object as one line of JSON, keys sorted.
    static func jsonLine(_ object: [String: Any]) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data(), as: UTF8.self)
    }

    static func resultText(_ result: BatchResult) -> String {
        "\(result.outcome.rawValue): \(result.id)\(result.error.map { ": \($0)" } ?? "")"
    }

    /// The table by rotator and outcome (on stderr when the lines on stdout are JSON, plus a JSON summary line).
    static func summary(_ job: BatchJob, _ snapshot: BatchProgress.Snapshot, json: Bool) {
        let outcomes = BatchOutcome.allCases.filter { snapshot.count($0) > 0 }
        let rotators = Set(snapshot.results.map(\.rotator)).sorted()
        let width = max(10, rotators.map(\.rawValue.count).max() ?? 0)
        var table = ["\("rotator".padding(toLength: width, withPad: " ", startingAt: 0))  " + outcomes.map { $0.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined()]
        for rotator in rotators + ["total"] {
            let rows = rotator == "total" ? snapshot.results : snapshot.results.filter { $0.rotator == rotator }
            table.append(rotator.rawValue.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                         + outcomes.map { outcome in "\(rows.count { $0.outcome == outcome })".padding(toLength: 12, withPad: " ", startingAt: 0) }.joined())
        }
        let elapsed = (snapshot.finishedAt ?? Date()).timeIntervalSince(snapshot.startedAt)
        let heading = "batch \(job.id): \(snapshot.total) secret(s) in \(seconds(elapsed))\(snapshot.stopReason.map { "; \($0)" } ?? "")"
        if json {
            ([heading] + table).forEach(Output.error)
            Output.line(jsonLine([
                "summary": ["batch": job.id, "total": snapshot.total, "elapsedSeconds": elapsed, "outcomes": snapshot.outcomeCounts,
                            "stopped": snapshot.stopReason ?? NSNull(), "worst": snapshot.worst.rawValue] as [String: Any],
            ]))
        } else {
            ([heading] + table).forEach(Output.line)
        }
    }

    /// The worst outcome's exit status; 130 when interrupted.
    static func exitStatus(_ snapshot: BatchProgress.Snapshot, interrupted: Bool) -> Int32 {
        if interrupted { return ExitStatus.interrupted }
        switch snapshot.worst {
        case .rotated: return ExitStatus.success
        case .needsPerson: return ExitStatus.needsPerson
        case .notStarted, .skipped, .failed: return ExitStatus.rotationFailed
        case .quarantined: return ExitStatus.quarantined
        }
    }

    static func seconds(_ value: Double) -> String {
        value < 60 ? String(format: "%.1fs", value) : "\(Int(value) / 60)m\(String(format: "%02d", Int(value) % 60))s"
    }
}
