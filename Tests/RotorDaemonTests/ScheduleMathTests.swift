import Foundation
import Testing
import RotorCore
import RotorPolicies

/// Schedule math, table-tested: cron across month and year ends, leap days and DST; windows; planning.
@Suite struct ScheduleMathTests {
    static func date(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }
    static let utc = TimeZone(identifier: "UTC")!
    static let berlin = TimeZone(identifier: "Europe/Berlin")!
    static let newYork = TimeZone(identifier: "America/New_York")!

    @Test(arguments: [
        ("0 3 * * MON", "2026-12-31T12:00:00Z", "UTC", "2027-01-04T03:00:00Z"),          // across a year end
        ("0 0 1 * *", "2027-01-31T10:00:00Z", "UTC", "2027-02-01T00:00:00Z"),            // across a month end
        ("30 2 29 2 *", "2027-03-01T00:00:00Z", "UTC", "2028-02-29T02:30:00Z"),          // the next leap day
        ("0 12 31 * *", "2027-04-01T00:00:00Z", "UTC", "2027-05-31T12:00:00Z"),          // skips 30-day months
        ("*/15 * * * *", "2027-01-01T00:07:00Z", "UTC", "2027-01-01T00:15:00Z"),
        ("0 9-17/4 * * 1-5", "2027-01-01T18:00:00Z", "UTC", "2027-01-04T09:00:00Z"),   // Friday 18:00 → Monday 09:00
        ("0 0 1 1 *", "2027-01-01T00:00:00Z", "UTC", "2028-01-01T00:00:00Z"),            // strictly after
        ("0 3 * * 0", "2027-01-02T00:00:00Z", "UTC", "2027-01-03T03:00:00Z"),            // 0 is Sunday
        ("0 3 * * 7", "2027-01-02T00:00:00Z", "UTC", "2027-01-03T03:00:00Z"),            // so is 7
        ("0 0 13 * FRI", "2027-01-01T00:00:00Z", "Europe/Berlin", "2027-01-07T23:00:00Z"), // either day field: Friday the 8th (Berlin)
        ("0 0 13 * FRI", "2027-01-09T00:00:00Z", "Europe/Berlin", "2027-01-12T23:00:00Z"), // ... or the 13th
        // DST in Berlin (UTC+1 → UTC+2 on 2027-03-28 at 02:00; back on 2027-10-31 at 03:00).
        ("30 2 * * *", "2027-03-27T12:00:00Z", "Europe/Berlin", "2027-03-29T00:30:00Z"), // 02:30 does not exist on the 28th
        ("30 2 * * *", "2027-10-30T12:00:00Z", "Europe/Berlin", "2027-10-31T00:30:00Z"), // repeated 02:30 fires once, the first
        ("30 2 * * *", "2027-10-31T00:31:00Z", "Europe/Berlin", "2027-11-01T01:30:00Z"),
        ("0 3 * * *", "2027-03-14T05:00:00Z", "America/New_York", "2027-03-14T07:00:00Z"),
    ])
    func cronNextFireTime(expression: String, after: String, zone: String, expected: String) throws {
        let cron = try CronExpression(expression)
        let zone = TimeZone(identifier: zone)!
        let expectedDate = Self.date(expected)
        let result = cron.next(after: Self.date(after), in: zone)
        #expect(result == expectedDate)
    }

    @Test(arguments: ["0 3 * *", "60 3 * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * * FUNDAY", "*/0 * * * *", "5-1 * * * *"])
    func invalidCronSaysWhichField(expression: String) {
        #expect { try CronExpression(expression) } throws: { error in
            let text = "\(error)"
            return text.contains("field") || text.contains("expected 5")
        }
    }

    @Test func cronThatNeverFiresIsDetected() throws {
        #expect(try CronExpression("0 0 31 2 *").next(after: Self.date("2027-01-01T00:00:00Z"), in: Self.utc) == nil)
    }

    @Test(arguments: [
        ("02:00", "4h", "UTC", "2027-01-10T03:59:00Z", true),
        ("02:00", "4h", "UTC", "2027-01-10T06:00:00Z", false),
        ("22:00", "4h", "UTC", "2027-01-10T01:00:00Z", true),                // crosses midnight
        ("01:00", "4h", "Europe/Berlin", "2027-01-10T00:30:00Z", true),      // 01:30 Berlin (UTC+1)
        ("01:00", "4h", "Europe/Berlin", "2027-07-10T00:30:00Z", true),      // 02:30 Berlin (UTC+2)
        ("01:00", "4h", "Europe/Berlin", "2027-07-10T03:30:00Z", false),     // 05:30 Berlin
        ("02:30", "1h", "Europe/Berlin", "2027-03-28T01:30:00Z", true),      // DST gap: opens at 03:00 local (01:00Z)
    ])
    func windowContains(start: String, duration: String, zone: String, instant: String, inside: Bool) throws {
        let window = try RotationWindow(start: start, duration: PolicyDuration(duration)!, timeZone: TimeZone(identifier: zone)!)
        #expect(window.contains(Self.date(instant)) == inside)
    }

    @Test(arguments: [
        ("02:00", "4h", "UTC", "2027-01-10T07:00:00Z", "2027-01-11T02:00:00Z"),
        ("02:00", "4h", "UTC", "2027-01-10T03:00:00Z", "2027-01-10T03:00:00Z"),
        ("02:00", "1h", "UTC", "2027-12-31T23:00:00Z", "2028-01-01T02:00:00Z"),
        ("01:00", "4h", "Europe/Berlin", "2027-03-27T06:00:00Z", "2027-03-28T00:00:00Z"),  // 01:00 CET on the DST day
        ("01:00", "4h", "Europe/Berlin", "2027-03-28T06:00:00Z", "2027-03-28T23:00:00Z"),  // 01:00 CEST next day
    ])
    func windowNextOpening(start: String, duration: String, zone: String, after: String, expected: String) throws {
        let window = try RotationWindow(start: start, duration: PolicyDuration(duration)!, timeZone: TimeZone(identifier: zone)!)
        #expect(window.nextOpening(atOrAfter: Self.date(after)) == Self.date(expected))
    }

    @Test func windowsThatCanNeverOpenAreRejected() {
        #expect(throws: RotorError.self) { try RotationWindow(start: "02:00", duration: PolicyDuration(seconds: 0), timeZone: Self.utc) }
        #expect(throws: RotorError.self) { try RotationWindow(start: "02:00", duration: PolicyDuration("25h")!, timeZone: Self.utc) }
        #expect(throws: RotorError.self) { try RotationWindow(start: "25:00", duration: PolicyDuration("1h")!, timeZone: Self.utc) }
    }

    @Test(arguments: [("90d", 7_776_000), ("6h", 21_600), ("30m", 1800), ("2w", 1_209_600)])
    func durations(text: String, seconds: Int) { #expect(PolicyDuration(text)?.seconds == seconds) }

    @Test(arguments: ["90", "d", "-1d", "1.5d", "10y", "", "99999999999d"])
    func badDurations(text: String) { #expect(PolicyDuration(text) == nil) }

    @Test(arguments: [
        ("/prod/github-integration/api-token/*", "/prod/github-integration/api-token/personal-access-token", true),
        ("/prod/github-integration/api-token/*", "/staging/github-integration/api-token/x", false),
        ("/prod/*/encryption-key/*", "/prod/template-management/encryption-key/template-key", true),
        ("/*/*/db-credentials/*", "/staging/orders/db-credentials/app", true),
        ("/prod/**", "/prod/a/b/c", true),
        ("/prod/*", "/prod/a/b/c", false),
        ("/prod/a/b/c", "/prod/a/b/c", true),
        ("/prod/a/b/c*", "/prod/a/b/cd", true),
        ("arn:aws:secretsmanager:us-east-1:111122223333:secret:/prod/a/b/c-AbCdEf", "/prod/a/b/c", true),
        // A star followed by a literal tries only the positions holding that literal.
        ("/prod/*-key/x/y", "/prod/a-key-key/x/y", true),
        ("/prod/*-key/x/y", "/prod/a-ke/x/y", false),
        ("/prod/**/key", "/prod/key/b/key", true),
        ("/prod/**/key", "/prod/key/b/keys", false),
        ("/prod/a/b/*y", "/prod/a/b/yyy", true),
        ("/prod/a/*/*z", "/prod/a/b/c", false),
        ("/**", "/prod/a/b/c", true),
    ])
    func globs(pattern: String, id: String, matches: Bool) throws {
        #expect(try SecretMatcher(pattern).matches(SecretID(id)) == matches)
        #expect(try SecretMatcher(pattern).matches(rawID: id) == matches, "the raw-id path agrees")
    }

    @Test func theOnePolicyOfAnIdIsFoundWithoutCopyingPolicies() throws {
        func policy(_ name: String, _ patterns: String...) throws -> RotationPolicy {
            RotationPolicy(name: name, matchers: try patterns.map { try SecretMatcher($0) }, rotator: "random-password", schedule: nil)
        }
        let set = PolicySet(policies: [
            try policy("a", "/prod/a/*/*", "/staging/a/*/*"), try policy("b", "/prod/b/**"), try policy("c", "/prod/b/shared/*"),
        ], files: [])
        #expect(set.policyIndex(ofRawID: "/staging/a/x/y") == 0, "a policy's second matcher")
        #expect(set.policyIndex(ofRawID: "/prod/b/x/y") == 1)
        #expect(set.policyIndex(ofRawID: "/prod/b/shared/y") == -1, "two policies")
        #expect(set.policyIndex(ofRawID: "/prod/z/x/y") == nil)
    }
}
