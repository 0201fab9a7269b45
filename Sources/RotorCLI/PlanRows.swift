import Foundation
import RotorCore
import RotorDaemon
import RotorPolicies

/// One secret's line of `rotor plan`.
struct PlanRows {
    let id: SecretID
    let policy: RotationPolicy
    let plan: SchedulePlan
    let upcoming: [Date]
    let facts: ScheduleFacts

    var text: String {
        let next = plan.nextRotation.map { $0.formatted(.iso8601) } ?? (plan.nextReminder.map { "manual (reminder \($0.formatted(.iso8601)))" } ?? "not scheduled")
        let more = upcoming.count > 1 ? "  then \(upcoming.dropFirst().prefix(3).map { $0.formatted(.iso8601) }.joined(separator: ", "))\(upcoming.count > 4 ? ", …" : "")" : ""
        return "\(id)  policy=\(policy.name)  next=\(next)  status=\(facts.status.rawValue)\(more)"
    }

    var json: [String: Any] {
        [
            "id": id.rawValue, "policy": policy.name, "status": facts.status.rawValue,
            "nextRotation": RecordJSON.date(plan.nextRotation), "nextReminder": RecordJSON.date(plan.nextReminder),
            "upcoming": upcoming.map { $0.formatted(.iso8601) }, "reasons": plan.reasons, "securityWeaknesses": weaknesses,
        ]
    }

    /// What the rotator options in force weaken (the managed secret's, else the policy's).
    let weaknesses: [String]

    var explanation: [String] {
        ["\(id):"] + plan.reasons.map { "  - \($0)" } + weaknesses.map { "  ! security: \($0)" }
            + ["  = next rotation: \(plan.nextRotation.map { $0.formatted(.iso8601) } ?? "none")"]
    }

    /// Plans every managed or stored secret a policy matches.
    static func build(runtime: Runtime, policies: PolicySet, now: Date, horizon: PolicyDuration?) async throws -> [PlanRows] {
        let managed = Dictionary(uniqueKeysWithValues: try await runtime.state.managedSecrets(in: runtime.scope).map { ($0.id, $0) })
        let stored = try await runtime.store.listSecrets(in: runtime.scope).map(\.id)
        let schedule = runtime.state as? any SchedulingStore
        var rows: [PlanRows] = []
        for id in Set(stored).union(managed.keys).sorted() {
            guard let policy = policies.policy(for: id) else { continue }
            let entry = try await schedule?.scheduleEntry(id)
            let secret = managed[id]
            let facts = ScheduleFacts(
                secret: id, managedSince: secret?.createdAt ?? now, lastRotatedAt: secret?.lastRotatedAt, failedRuns: secret?.failedRuns ?? 0,
                lastFailureAt: entry?.lastFailureAt, status: secret?.status ?? .active, lastReminderAt: entry?.lastReminderAt,
                credentialExpiresAt: secret?.credentialExpiresAt)
            let plan = SchedulePlanner.plan(policy, facts, now: now)
            let weaknesses = runtime.engine.rotators.securityWeaknesses(secret?.rotator ?? policy.rotator, options: secret?.options ?? policy.options)
            rows.append(PlanRows(id: id, policy: policy, plan: plan, upcoming: upcoming(policy, facts, first: plan.nextRotation, now: now, horizon: horizon),
                                 facts: facts, weaknesses: weaknesses))
        }
        return rows
    }

    /// Every rotation within the horizon, each assumed to succeed at its planned time.
    static func upcoming(_ policy: RotationPolicy, _ facts: ScheduleFacts, first: Date?, now: Date, horizon: PolicyDuration?) -> [Date] {
        guard let first else { return [] }
        guard let horizon else { return [first] }
        let end = now.addingTimeInterval(horizon.timeInterval)
        var dates: [Date] = []
        var next: Date? = first
        var simulated = facts
        while let date = next, date <= end, dates.count < 1000 {
            dates.append(date)
            simulated.lastRotatedAt = date
            simulated.failedRuns = 0
            next = SchedulePlanner.plan(policy, simulated, now: date).nextRotation
        }
        return dates
    }
}
