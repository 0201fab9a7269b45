import Foundation
import Testing
import RotorCore

/// Credentials that expire at their system (GitHub tokens): the planner rotates, reminds and alerts
/// by the recorded expiry when it comes before the policy's maximum age. Pure functions of `now`.
@Suite struct ExpiryPlannerTests {
    static func date(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }
    static let secret = try! SecretID("/prod/github-integration/api-token/personal-access-token")

    static func manual(maxAge: String = "90d", remind: String = "14d") -> RotationPolicy {
        RotationPolicy(name: "github-tokens", matchers: [try! SecretMatcher("/prod/github-integration/api-token/*")], rotator: "github-pat",
                       schedule: nil, mode: .manual(maxAge: PolicyDuration(maxAge)!, remindBefore: PolicyDuration(remind)!))
    }

    @Test(arguments: [
        // token expires 30 days after the last rotation: deadline and reminders follow it
        ("2027-01-31T00:00:00Z", "2027-01-31T00:00:00Z", "2027-01-17T00:00:00Z"),
        // token outlives the maximum age (90d): the maximum age decides
        ("2027-12-31T00:00:00Z", "2027-04-01T00:00:00Z", "2027-03-18T00:00:00Z"),
        // no expiry recorded (a token without one, or an unknown value)
        (nil, "2027-04-01T00:00:00Z", "2027-03-18T00:00:00Z"),
    ] as [(String?, String, String)])
    func aManualTokenIsRemindedByItsExpiry(expires: String?, deadline: String, reminder: String) {
        let facts = ScheduleFacts(secret: Self.secret, managedSince: Self.date("2026-06-01T00:00:00Z"), lastRotatedAt: Self.date("2027-01-01T00:00:00Z"),
                                  credentialExpiresAt: expires.map(Self.date))
        let plan = SchedulePlanner.plan(Self.manual(), facts, now: Self.date("2027-01-02T00:00:00Z"))
        #expect(plan.nextRotation == nil)
        #expect(plan.nextReminder == Self.date(reminder))
        #expect(plan.reasons.contains { $0.contains("rotate by hand before \(deadline)") }, "\(plan.reasons)")
        #expect(plan.reasons.contains { $0.contains("expires at its system") } == (expires != nil && deadline == expires))
        let late = SchedulePlanner.plan(Self.manual(), facts, now: Self.date(deadline).addingTimeInterval(1))
        #expect(late.alerts == [.manualRotationDue(deadline: Self.date(deadline), overdue: true)])
    }

    /// GitHub App installation tokens live one hour: every 50 minutes, maximum age one hour, no window.
    static func appTokens(jitter: String) -> RotationPolicy {
        RotationPolicy(name: "github-app-tokens", matchers: [try! SecretMatcher("/prod/github-integration/app-token/*")], rotator: "github-app-token",
                       schedule: .every(PolicyDuration("50m")!), jitter: PolicyDuration(jitter)!, maxAge: PolicyDuration("1h")!,
                       failureBackoff: (PolicyDuration("1m")!, PolicyDuration("5m")!))
    }

    @Test(arguments: ["0m", "5m"])
    func appTokensRotateBeforeTheyExpireWithinTheirJitter(jitter: String) {
        let last = Self.date("2027-01-01T10:00:00Z")
        let facts = ScheduleFacts(secret: Self.secret, managedSince: last, lastRotatedAt: last, credentialExpiresAt: last.addingTimeInterval(3600))
        let plan = SchedulePlanner.plan(Self.appTokens(jitter: jitter), facts, now: last.addingTimeInterval(60))
        let next = try! #require(plan.nextRotation)
        #expect(next >= last.addingTimeInterval(50 * 60) && next <= last.addingTimeInterval(55 * 60) && plan.alerts.isEmpty)
    }

    @Test func anAppTokenThatFailsIsRetriedInMinutesAndAlertsAtItsExpiry() {
        let last = Self.date("2027-01-01T10:00:00Z")
        let facts = ScheduleFacts(secret: Self.secret, managedSince: last, lastRotatedAt: last, failedRuns: 1,
                                  lastFailureAt: last.addingTimeInterval(50 * 60), status: .failed, credentialExpiresAt: last.addingTimeInterval(3600))
        let retry = SchedulePlanner.plan(Self.appTokens(jitter: "0m"), facts, now: last.addingTimeInterval(50 * 60 + 1))
        #expect(retry.nextRotation == last.addingTimeInterval(51 * 60) && retry.alerts.isEmpty)
        var failing = facts
        (failing.failedRuns, failing.lastFailureAt) = (5, last.addingTimeInterval(58 * 60))
        let late = SchedulePlanner.plan(Self.appTokens(jitter: "0m"), failing, now: last.addingTimeInterval(58 * 60 + 1))
        #expect(late.alerts == [.maxAgeAtRisk(deadline: last.addingTimeInterval(3600))])
    }

    @Test func anAutomaticSecretWhoseCredentialExpiresEarlyRotatesBeforeTheExpiry() {
        let last = Self.date("2027-01-01T00:00:00Z")
        let policy = RotationPolicy(name: "p", matchers: [try! SecretMatcher("/prod/*/api-token/*")], rotator: "github-app-token",
                                    schedule: .every(PolicyDuration("90d")!), jitter: PolicyDuration("3h")!)
        let facts = ScheduleFacts(secret: Self.secret, managedSince: last, lastRotatedAt: last, credentialExpiresAt: Self.date("2027-01-31T00:00:00Z"))
        let plan = SchedulePlanner.plan(policy, facts, now: last.addingTimeInterval(60))
        let next = try! #require(plan.nextRotation)
        #expect(next <= Self.date("2027-01-31T00:00:00Z") && next >= Self.date("2027-01-30T21:00:00Z"))
        #expect(plan.reasons.contains { $0.contains("expires at its system") })
    }
}

extension ExpiryPlannerTests {
    /// An app token that expires before the period ends (40 minutes of 50) rotates before it expires;
    /// an expiry recorded in the past never makes the daemon rotate again and again: not sooner than
    /// the shortest gap (5 minutes) after the last rotation.
    @Test(arguments: [40.0 * 60, 0, -3600])
    func anEarlyOrPastExpiryIsFollowedButNeverInATightLoop(expiresAfter: TimeInterval) {
        let last = Self.date("2027-01-01T10:00:00Z")
        let expiry = last.addingTimeInterval(expiresAfter)
        let facts = ScheduleFacts(secret: Self.secret, managedSince: last, lastRotatedAt: last, credentialExpiresAt: expiry)
        let plan = SchedulePlanner.plan(Self.appTokens(jitter: "2m"), facts, now: last.addingTimeInterval(1))
        let next = try! #require(plan.nextRotation)
        #expect(next >= last.addingTimeInterval(SchedulePlanner.minimumGap))
        if expiresAfter > SchedulePlanner.minimumGap + 120 {
            #expect(next <= expiry && plan.alerts.isEmpty)
        } else {
            #expect(plan.alerts == [.maxAgeAtRisk(deadline: expiry)], "rotating after the expiry is alerted")
        }
    }
}
