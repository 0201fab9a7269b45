import Foundation
import Testing
import RotorCore

/// SchedulePlanner: pure decisions of `now`, table-tested.
@Suite struct PlannerTests {
    static func date(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }
    static let secret = try! SecretID("/prod/orders/db-credentials/app")

    static func policy(
        _ schedule: RotationSchedule?, window: RotationWindow? = nil, jitter: String = "0m", mode: RotationMode = .automatic, maxAge: String? = nil
    ) -> RotationPolicy {
        RotationPolicy(name: "p", matchers: [try! SecretMatcher("/prod/*/db-credentials/*")], rotator: "random-password", schedule: schedule,
                       window: window, jitter: PolicyDuration(jitter)!, mode: mode, maxAge: maxAge.flatMap(PolicyDuration.init),
                       failureBackoff: (PolicyDuration("1h")!, PolicyDuration("8h")!))
    }

    @Test(arguments: [
        // every 30d from the last rotation
        ("2027-01-01T10:00:00Z", "2027-01-05T00:00:00Z", "2027-01-31T10:00:00Z"),
        // across a leap day
        ("2028-02-10T10:00:00Z", "2028-02-11T00:00:00Z", "2028-03-11T10:00:00Z"),
        // across a year end
        ("2027-12-15T23:30:00Z", "2027-12-16T00:00:00Z", "2028-01-14T23:30:00Z"),
    ])
    func everyCountsFromTheLastRotation(last: String, now: String, expected: String) {
        let facts = ScheduleFacts(secret: Self.secret, managedSince: Self.date("2026-01-01T00:00:00Z"), lastRotatedAt: Self.date(last))
        #expect(SchedulePlanner.plan(Self.policy(.every(PolicyDuration("30d")!)), facts, now: Self.date(now)).nextRotation == Self.date(expected))
    }

    @Test func neverRotatedSecretsCountFromWhenTheyWereManaged() {
        let facts = ScheduleFacts(secret: Self.secret, managedSince: Self.date("2027-01-01T00:00:00Z"))
        #expect(SchedulePlanner.plan(Self.policy(.every(PolicyDuration("90d")!)), facts, now: Self.date("2027-01-02T00:00:00Z")).nextRotation
                == Self.date("2027-04-01T00:00:00Z"))
    }

    @Test func dueTimesOutsideTheWindowMoveToItsNextOpening() throws {
        let window = try RotationWindow(start: "01:00", duration: PolicyDuration("4h")!, timeZone: TimeZone(identifier: "Europe/Berlin")!)
        let facts = ScheduleFacts(secret: Self.secret, managedSince: Self.date("2026-01-01T00:00:00Z"), lastRotatedAt: Self.date("2027-03-01T12:00:00Z"))
        // Due 2027-03-31T12:00Z (14:00 CEST) → next opening 2027-04-01 01:00 CEST = 2027-03-31T23:00Z.
        let plan = SchedulePlanner.plan(Self.policy(.every(PolicyDuration("30d")!), window: window), facts, now: Self.date("2027-03-02T00:00:00Z"))
        #expect(plan.nextRotation == Self.date("2027-03-31T23:00:00Z"))
    }

    @Test func aMissedWindowWaitsForTheNextOpening() throws {
        let window = try RotationWindow(start: "02:00", duration: PolicyDuration("2h")!, timeZone: TimeZone(identifier: "UTC")!)
        let facts = ScheduleFacts(secret: Self.secret, managedSince: Self.date("2026-01-01T00:00:00Z"), lastRotatedAt: Self.date("2027-01-01T02:30:00Z"))
        // Due 2027-01-31T02:30Z, but the daemon was down: at 09:00 the window is closed.
        let plan = SchedulePlanner.plan(Self.policy(.every(PolicyDuration("30d")!), window: window), facts, now: Self.date("2027-01-31T09:00:00Z"))
        #expect(plan.nextRotation == Self.date("2027-02-01T02:00:00Z"))
        // Inside the window, an overdue secret rotates now.
        let inside = SchedulePlanner.plan(Self.policy(.every(PolicyDuration("30d")!), window: window), facts, now: Self.date("2027-02-01T02:10:00Z"))
        #expect(inside.nextRotation == Self.date("2027-02-01T02:10:00Z"))
    }

    @Test func jitterIsDeterministicPerSecretAndSpreadsACohort() throws {
        let policy = Self.policy(.every(PolicyDuration("30d")!), jitter: "4h")
        let managed = Self.date("2027-01-01T00:00:00Z")
        var times: [Date] = []
        for index in 0..<1000 {
            let facts = ScheduleFacts(secret: try SecretID("/prod/orders/db-credentials/user-\(index)"), managedSince: managed)
            let first = SchedulePlanner.plan(policy, facts, now: managed).nextRotation!
            #expect(SchedulePlanner.plan(policy, facts, now: managed).nextRotation == first)
            times.append(first)
        }
        let base = Self.date("2027-01-31T00:00:00Z")
        #expect(times.allSatisfy { $0 >= base && $0 < base.addingTimeInterval(4 * 3600) })
        // 1,000 secrets over 4 hours: no second holds more than a handful.
        let perMinute = Dictionary(grouping: times) { Int($0.timeIntervalSince(base) / 60) }
        #expect(perMinute.count > 200 && perMinute.values.map(\.count).max()! < 20)
    }

    @Test(arguments: [(1, "2027-02-10T01:00:00Z"), (2, "2027-02-10T02:00:00Z"), (3, "2027-02-10T04:00:00Z"), (5, "2027-02-10T08:00:00Z"), (9, "2027-02-10T08:00:00Z")])
    func failuresBackOffExponentiallyWithACap(failedRuns: Int, expected: String) {
        let facts = ScheduleFacts(secret: Self.secret, managedSince: Self.date("2026-01-01T00:00:00Z"), lastRotatedAt: Self.date("2027-01-10T00:00:00Z"),
                                  failedRuns: failedRuns, lastFailureAt: Self.date("2027-02-10T00:00:00Z"), status: .failed)
        let plan = SchedulePlanner.plan(Self.policy(.every(PolicyDuration("30d")!)), facts, now: Self.date("2027-02-10T00:00:01Z"))
        #expect(plan.nextRotation == Self.date(expected))
        #expect(plan.alerts.isEmpty)
    }

    @Test func backoffNeverSilentlyPassesTheMaximumAge() {
        // Last rotated 2027-01-01, every 30d → max age ends 2027-01-31T00:00Z; a failure at 23:00 with an 8h backoff would pass it.
        let facts = ScheduleFacts(secret: Self.secret, managedSince: Self.date("2026-01-01T00:00:00Z"), lastRotatedAt: Self.date("2027-01-01T00:00:00Z"),
                                  failedRuns: 5, lastFailureAt: Self.date("2027-01-30T23:00:00Z"), status: .failed)
        let plan = SchedulePlanner.plan(Self.policy(.every(PolicyDuration("30d")!), maxAge: "30d"), facts, now: Self.date("2027-01-30T23:00:01Z"))
        #expect(plan.alerts == [.maxAgeAtRisk(deadline: Self.date("2027-01-31T00:00:00Z"))])
        #expect(plan.nextRotation == Self.date("2027-01-31T00:00:00Z"))
    }

    @Test func quarantinedAndDisabledSecretsAreNotScheduled() {
        let facts = ScheduleFacts(secret: Self.secret, managedSince: Self.date("2026-01-01T00:00:00Z"), failedRuns: 3, status: .quarantined)
        let plan = SchedulePlanner.plan(Self.policy(.every(PolicyDuration("30d")!)), facts, now: Self.date("2027-01-01T00:00:00Z"))
        #expect(plan.nextRotation == nil && plan.reasons.last!.contains("unquarantine"))
        var disabled = Self.policy(.every(PolicyDuration("30d")!))
        disabled.enabled = false
        #expect(SchedulePlanner.plan(disabled, ScheduleFacts(secret: Self.secret, managedSince: .now), now: .now).nextRotation == nil)
    }

    @Test(arguments: [
        ("2027-05-01T00:00:00Z", nil as String?, "2027-06-16T00:00:00Z", false),   // before the reminder period
        ("2027-06-20T00:00:00Z", nil, "2027-06-16T00:00:00Z", true),               // inside it, never reminded
        ("2027-06-20T00:00:00Z", "2027-06-20T00:00:00Z", "2027-06-21T00:00:00Z", true), // reminded today: again tomorrow
        ("2027-07-05T00:00:00Z", "2027-07-04T00:00:00Z", "2027-07-05T00:00:00Z", true), // overdue
    ])
    func manualSecretsGetRemindersNotRotations(now: String, lastReminder: String?, nextReminder: String, alerting: Bool) {
        // Rotated 2027-01-01, max age 180d → deadline 2027-06-30; reminders from 14 days before.
        let policy = Self.policy(nil, mode: .manual(maxAge: PolicyDuration("180d")!, remindBefore: PolicyDuration("14d")!))
        let facts = ScheduleFacts(secret: Self.secret, managedSince: Self.date("2026-01-01T00:00:00Z"), lastRotatedAt: Self.date("2027-01-01T00:00:00Z"),
                                  lastReminderAt: lastReminder.map(Self.date))
        let plan = SchedulePlanner.plan(policy, facts, now: Self.date(now))
        #expect(plan.nextRotation == nil)
        #expect(plan.nextReminder == Self.date(nextReminder))
        #expect(!plan.alerts.isEmpty == alerting)
    }

    @Test func cronSchedulesFollowTheirTimeZone() throws {
        let cron = RotationSchedule.cron(try CronExpression("0 3 * * MON"), TimeZone(identifier: "America/New_York")!)
        let facts = ScheduleFacts(secret: Self.secret, managedSince: Self.date("2026-01-01T00:00:00Z"), lastRotatedAt: Self.date("2027-03-08T08:00:00Z"))
        // Monday 2027-03-15 03:00 EDT (after the 2027-03-14 DST change) = 07:00Z.
        #expect(SchedulePlanner.plan(Self.policy(cron), facts, now: Self.date("2027-03-09T00:00:00Z")).nextRotation == Self.date("2027-03-15T07:00:00Z"))
    }
}
