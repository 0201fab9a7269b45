import Foundation

/// What rotor knows of one secret when it plans: never a value.
public struct ScheduleFacts: Sendable, Hashable {
    public var secret: SecretID
    public var managedSince: Date
    public var lastRotatedAt: Date?
    public var failedRuns: Int
    public var lastFailureAt: Date?
    public var status: SecretStatus
    public var lastReminderAt: Date?

    public init(
        secret: SecretID, managedSince: Date, lastRotatedAt: Date? = nil, failedRuns: Int = 0, lastFailureAt: Date? = nil,
        status: SecretStatus = .active, lastReminderAt: Date? = nil
    ) {
        self.secret = secret
        self.managedSince = managedSince
        self.lastRotatedAt = lastRotatedAt
        self.failedRuns = failedRuns
        self.lastFailureAt = lastFailureAt
        self.status = status
        self.lastReminderAt = lastReminderAt
    }
}

/// The plan for one secret: when it rotates next (if the daemon rotates it), when the next reminder
/// fires (manual secrets), alerts to raise, and why.
public struct SchedulePlan: Sendable, Hashable {
    public enum Alert: Sendable, Hashable {
        /// Backoff after failures would push the next attempt past the secret's maximum age.
        case maxAgeAtRisk(deadline: Date)
        /// A manual secret is within its reminder period or past its maximum age.
        case manualRotationDue(deadline: Date, overdue: Bool)
    }

    public var nextRotation: Date?
    public var nextReminder: Date?
    public var alerts: [Alert]
    public var reasons: [String]
}

/// Scheduling decisions: pure functions of a policy, a secret's facts and `now`.
public enum SchedulePlanner {
    public static func plan(_ policy: RotationPolicy, _ facts: ScheduleFacts, now: Date) -> SchedulePlan {
        var plan = SchedulePlan(nextRotation: nil, nextReminder: nil, alerts: [], reasons: ["policy \(policy.name) (\(policy.location))"])
        guard policy.enabled else { plan.reasons.append("the policy is disabled"); return plan }
        let anchor = facts.lastRotatedAt ?? facts.managedSince
        plan.reasons.append(facts.lastRotatedAt.map { "last rotated \($0.formatted(.iso8601))" } ?? "never rotated; managed since \(anchor.formatted(.iso8601))")
        if case .manual(let maxAge, let remindBefore) = policy.mode {
            return manualPlan(plan, anchor: anchor, maxAge: maxAge, remindBefore: remindBefore, facts: facts, now: now)
        }
        guard facts.status != .quarantined else {
            plan.reasons.append("quarantined after \(facts.failedRuns) failed runs: 'rotor unquarantine \(facts.secret)' to resume")
            return plan
        }
        guard let schedule = policy.schedule, var due = baseDue(schedule, anchor: anchor) else {
            plan.reasons.append("no future time matches the schedule")
            return plan
        }
        plan.reasons.append("\(schedule) → \(due.formatted(.iso8601))")
        due = applyBackoff(policy, facts, anchor: anchor, due: due, plan: &plan)
        plan.nextRotation = place(due, policy: policy, secret: facts.secret, now: now, plan: &plan)
        return plan
    }

    static func baseDue(_ schedule: RotationSchedule, anchor: Date) -> Date? {
        switch schedule {
        case .every(let period): anchor.addingTimeInterval(period.timeInterval)
        case .cron(let expression, let zone): expression.next(after: anchor, in: zone)
        }
    }

    /// After failed runs: wait `initial · 2^(n-1)` (capped) from the last failure, but never silently
    /// past the maximum age: then the attempt is held at the deadline and an alert is raised.
    static func applyBackoff(_ policy: RotationPolicy, _ facts: ScheduleFacts, anchor: Date, due: Date, plan: inout SchedulePlan) -> Date {
        guard facts.failedRuns > 0, let failure = facts.lastFailureAt else { return due }
        let retryAt = failure.addingTimeInterval(backoff(policy, failedRuns: facts.failedRuns))
        plan.reasons.append("backoff after \(facts.failedRuns) failed run(s): retry at \(retryAt.formatted(.iso8601))")
        guard let maxAge = policy.effectiveMaxAge else { return max(due, retryAt) }
        let deadline = anchor.addingTimeInterval(maxAge.timeInterval)
        guard retryAt > deadline else { return max(due, retryAt) }
        plan.alerts.append(.maxAgeAtRisk(deadline: deadline))
        plan.reasons.append("the backoff would pass the maximum age \(maxAge) (deadline \(deadline.formatted(.iso8601))): alerting")
        return max(deadline, failure.addingTimeInterval(policy.failureBackoff.initial.timeInterval))
    }

    public static func backoff(_ policy: RotationPolicy, failedRuns: Int) -> TimeInterval {
        let raw = policy.failureBackoff.initial.timeInterval * pow(2, Double(min(max(failedRuns - 1, 0), 30)))
        return min(raw, policy.failureBackoff.maximum.timeInterval)
    }

    /// Jitter, deterministic per secret, and the window: a due time outside the window (or a missed
    /// window) moves to the next opening, spread inside the window by the same jitter.
    static func place(_ due: Date, policy: RotationPolicy, secret: SecretID, now: Date, plan: inout SchedulePlan) -> Date {
        let unit = StableHash.unit("\(policy.name)|\(secret.rawValue)")
        let jittered = due.addingTimeInterval(unit * policy.jitter.timeInterval)
        if policy.jitter.seconds > 0 { plan.reasons.append("jitter +\(Int(unit * policy.jitter.timeInterval))s (of \(policy.jitter))") }
        guard let window = policy.window else { return jittered }
        let earliest = max(jittered, now)
        if window.contains(earliest) { return jittered < now ? now : jittered }
        let opening = window.nextOpening(atOrAfter: earliest)
        let spread = unit * min(policy.jitter.timeInterval, max(0, window.duration.timeInterval - 60))
        plan.reasons.append("waits for the window \(window): opens \(opening.formatted(.iso8601))")
        return opening.addingTimeInterval(spread)
    }

    static func manualPlan(
        _ plan: SchedulePlan, anchor: Date, maxAge: PolicyDuration, remindBefore: PolicyDuration, facts: ScheduleFacts, now: Date
    ) -> SchedulePlan {
        var plan = plan
        let deadline = anchor.addingTimeInterval(maxAge.timeInterval)
        let remindFrom = deadline.addingTimeInterval(-remindBefore.timeInterval)
        plan.reasons.append("manual: rotate by hand before \(deadline.formatted(.iso8601)) (max age \(maxAge)); reminders from \(remindFrom.formatted(.iso8601))")
        if let last = facts.lastReminderAt, last >= remindFrom {
            plan.nextReminder = last.addingTimeInterval(86_400)
        } else {
            plan.nextReminder = remindFrom
        }
        if now >= remindFrom { plan.alerts.append(.manualRotationDue(deadline: deadline, overdue: now >= deadline)) }
        return plan
    }
}
