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
    /// When the current credential expires at its system (``ManagedSecret/credentialExpiresAt``).
    public var credentialExpiresAt: Date?

    public init(
        secret: SecretID, managedSince: Date, lastRotatedAt: Date? = nil, failedRuns: Int = 0, lastFailureAt: Date? = nil,
        status: SecretStatus = .active, lastReminderAt: Date? = nil, credentialExpiresAt: Date? = nil
    ) {
        self.credentialExpiresAt = credentialExpiresAt
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

    /// One step of the explanation, rendered only when asked for (planning a million secrets
    /// must not format a million dates).
    public enum Reason: Sendable, Hashable {
        case policy(String, SourceLocation)
        case disabled
        case lastRotated(Date)
        case neverRotated(managedSince: Date)
        case quarantined(failedRuns: Int, SecretID)
        case noFutureMatch
        case base(RotationSchedule, Date)
        case backoff(failedRuns: Int, retryAt: Date)
        case backoffPastMaxAge(PolicyDuration, deadline: Date)
        case jitter(seconds: Int, of: PolicyDuration)
        case window(RotationWindow, opens: Date)
        case manual(deadline: Date, maxAge: PolicyDuration, remindFrom: Date)
        case expires(Date)

        public var text: String {
            switch self {
            case .policy(let name, let location): "policy \(name) (\(location))"
            case .disabled: "the policy is disabled"
            case .lastRotated(let date): "last rotated \(date.formatted(.iso8601))"
            case .neverRotated(let since): "never rotated; managed since \(since.formatted(.iso8601))"
            case .quarantined(let runs, let id): "quarantined after \(runs) failed runs: 'rotor unquarantine \(id)' to resume"
            case .noFutureMatch: "no future time matches the schedule"
            case .base(let schedule, let date): "\(schedule) → \(date.formatted(.iso8601))"
            case .backoff(let runs, let retryAt): "backoff after \(runs) failed run(s): retry at \(retryAt.formatted(.iso8601))"
            case .backoffPastMaxAge(let maxAge, let deadline):
                "the backoff would pass the maximum age \(maxAge) (deadline \(deadline.formatted(.iso8601))): alerting"
            case .jitter(let seconds, let jitter): "jitter +\(seconds)s (of \(jitter))"
            case .window(let window, let opens): "waits for the window \(window): opens \(opens.formatted(.iso8601))"
            case .manual(let deadline, let maxAge, let remindFrom):
                "manual: rotate by hand before \(deadline.formatted(.iso8601)) (max age \(maxAge)); reminders from \(remindFrom.formatted(.iso8601))"
            case .expires(let date): "the credential expires at its system \(date.formatted(.iso8601)), before its maximum age"
            }
        }
    }

    public var nextRotation: Date?
    public var nextReminder: Date?
    public var alerts: [Alert]
    public var explanation: [Reason]

    /// The explanation as text, for `rotor plan --explain`.
    public var reasons: [String] { explanation.map(\.text) }
}

/// Scheduling decisions: pure functions of a policy, a secret's facts and `now`.
public enum SchedulePlanner {
    public static func plan(_ policy: RotationPolicy, _ facts: ScheduleFacts, now: Date) -> SchedulePlan {
        var plan = SchedulePlan(nextRotation: nil, nextReminder: nil, alerts: [], explanation: [.policy(policy.name, policy.location)])
        guard policy.enabled else { plan.explanation.append(.disabled); return plan }
        let anchor = facts.lastRotatedAt ?? facts.managedSince
        plan.explanation.append(facts.lastRotatedAt.map(SchedulePlan.Reason.lastRotated) ?? .neverRotated(managedSince: anchor))
        if case .manual(let maxAge, let remindBefore) = policy.mode {
            return manualPlan(plan, anchor: anchor, maxAge: maxAge, remindBefore: remindBefore, facts: facts, now: now)
        }
        guard facts.status != .quarantined else {
            plan.explanation.append(.quarantined(failedRuns: facts.failedRuns, facts.secret))
            return plan
        }
        guard let schedule = policy.schedule, var due = baseDue(schedule, anchor: anchor) else {
            plan.explanation.append(.noFutureMatch)
            return plan
        }
        plan.explanation.append(.base(schedule, due))
        if let expiry = facts.credentialExpiresAt, expiry.addingTimeInterval(-policy.jitter.timeInterval) < due {
            // Rotate before it stops working (the jitter placed after this must not pass the expiry), but
            // never sooner than the shortest period after the last rotation: an expiry recorded in the
            // past must not make the daemon rotate again and again.
            due = max(anchor.addingTimeInterval(minimumGap), expiry.addingTimeInterval(-policy.jitter.timeInterval))
            plan.explanation.append(.expires(expiry))
        }
        due = applyBackoff(policy, facts, anchor: anchor, due: due, plan: &plan)
        let placed = place(due, policy: policy, secret: facts.secret, now: now, plan: &plan)
        if let deadline = deadline(policy, facts, anchor: anchor), placed > deadline, !plan.alerts.contains(.maxAgeAtRisk(deadline: deadline)) {
            plan.alerts.append(.maxAgeAtRisk(deadline: deadline))
        }
        plan.nextRotation = placed
        return plan
    }

    /// The shortest time between two rotations of a secret (the shortest period a policy may have).
    public static let minimumGap: TimeInterval = 300

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
        plan.explanation.append(.backoff(failedRuns: facts.failedRuns, retryAt: retryAt))
        guard let deadline = deadline(policy, facts, anchor: anchor), let maxAge = policy.effectiveMaxAge ?? facts.credentialExpiresAt.map({
            PolicyDuration(seconds: Int(max(0, $0.timeIntervalSince(anchor))))
        }) else { return max(due, retryAt) }
        guard retryAt > deadline else { return max(due, retryAt) }
        plan.alerts.append(.maxAgeAtRisk(deadline: deadline))
        plan.explanation.append(.backoffPastMaxAge(maxAge, deadline: deadline))
        return max(deadline, failure.addingTimeInterval(policy.failureBackoff.initial.timeInterval))
    }

    /// The latest the secret may rotate: its maximum age from the anchor, or earlier when its
    /// credential expires first; `nil` when neither applies.
    static func deadline(_ policy: RotationPolicy, _ facts: ScheduleFacts, anchor: Date) -> Date? {
        let byAge = policy.effectiveMaxAge.map { anchor.addingTimeInterval($0.timeInterval) }
        switch (byAge, facts.credentialExpiresAt) {
        case let (age?, expiry?): return min(age, expiry)
        case let (age, expiry): return age ?? expiry
        }
    }

    /// How long after a failed run the secret is tried again: the policy's capped exponential, no jitter.
    public static func backoff(_ policy: RotationPolicy, failedRuns: Int) -> TimeInterval {
        Backoff(initial: .seconds(policy.failureBackoff.initial.timeInterval), maximum: .seconds(policy.failureBackoff.maximum.timeInterval), jitter: .none)
            .ceiling(afterAttempt: failedRuns).seconds
    }

    /// Jitter, deterministic per secret, and the window: a due time outside the window (or a missed
    /// window) moves to the next opening, spread inside the window by the same jitter.
    static func place(_ due: Date, policy: RotationPolicy, secret: SecretID, now: Date, plan: inout SchedulePlan) -> Date {
        let unit = StableHash.unit("\(policy.name)|\(secret.rawValue)")
        let jittered = due.addingTimeInterval(unit * policy.jitter.timeInterval)
        if policy.jitter.seconds > 0 { plan.explanation.append(.jitter(seconds: Int(unit * policy.jitter.timeInterval), of: policy.jitter)) }
        guard let window = policy.window else { return jittered }
        let earliest = max(jittered, now)
        if window.contains(earliest) { return jittered < now ? now : jittered }
        let opening = window.nextOpening(atOrAfter: earliest)
        let spread = unit * min(policy.jitter.timeInterval, max(0, window.duration.timeInterval - 60))
        plan.explanation.append(.window(window, opens: opening))
        return opening.addingTimeInterval(spread)
    }

    static func manualPlan(
        _ plan: SchedulePlan, anchor: Date, maxAge: PolicyDuration, remindBefore: PolicyDuration, facts: ScheduleFacts, now: Date
    ) -> SchedulePlan {
        var plan = plan
        let deadline = min(anchor.addingTimeInterval(maxAge.timeInterval), facts.credentialExpiresAt ?? .distantFuture)
        if deadline == facts.credentialExpiresAt { plan.explanation.append(.expires(deadline)) }
        let remindFrom = deadline.addingTimeInterval(-remindBefore.timeInterval)
        plan.explanation.append(.manual(deadline: deadline, maxAge: maxAge, remindFrom: remindFrom))
        if let last = facts.lastReminderAt, last >= remindFrom {
            plan.nextReminder = last.addingTimeInterval(86_400)
        } else {
            plan.nextReminder = remindFrom
        }
        if now >= remindFrom { plan.alerts.append(.manualRotationDue(deadline: deadline, overdue: now >= deadline)) }
        return plan
    }
}
